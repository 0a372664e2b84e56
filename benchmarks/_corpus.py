"""Synthetic words, sentences, captions and queries for the benchmark (English and Chinese).

Everything is drawn from a seeded generator, so two runs index and query the same content.
Word frequencies follow a Zipf law, as real speech and on-screen text do: a few words are in
many rows (long BM25 posting lists), most words are rare.
"""

from __future__ import annotations

import numpy as np

NOUNS = """boat harbour storm fisherman lamp keeper winter morning city street dog skateboard park panda
river bridge mountain forest train station market kitchen teacher student garden window door car bicycle
airport plane ticket island beach wave sunset village castle tower museum painting guitar piano song
concert festival lantern dragon temple tea rice noodle soup bread coffee cake apple orange banana
doctor nurse hospital school library book letter phone camera video screen computer robot engine
factory worker farmer field horse cow sheep chicken rabbit tiger lion elephant monkey bird eagle
snow rain wind cloud sky star moon sun fire water stone tree flower leaf road map compass ship
captain sailor anchor net fish shark whale dolphin turtle crab shell sand rock cliff cave valley
desert camel tent road truck bus taxi subway tunnel crowd parade flag clock bell chair table bed
lamp candle mirror glass bottle box bag shoe hat coat umbrella key lock wallet coin price shop""".split()

ADJECTIVES = """red blue green yellow white black golden silver old young small large quiet loud bright dark
warm cold wet dry fast slow heavy light empty busy ancient modern wooden broken famous hidden
lonely happy tired hungry brave careful strange friendly narrow wide tall short""".split()

VERBS = """leaves arrives repairs paints carries crosses opens closes follows watches finds loses builds
sells buys cooks plays sings reads writes climbs jumps runs walks flies swims drives rides
cleans checks counts pushes pulls lifts drops catches throws waits stops starts returns""".split()

PLACES = """near the river|across the bridge|inside the old museum|at the busy station|behind the castle
|on the quiet beach|under the bright moon|in the small village|beside the market|along the narrow street
|over the mountain|through the dark forest|at the harbour|in the kitchen|next to the library""".split("|")

TIMES = """at nine in the morning|every winter|before sunset|after the storm|on monday|late at night
|during the festival|in the afternoon|once a year|every day""".split("|")

CHINESE = """熊猫 公园 视频 搜索 引擎 天气 今天 明天 港口 渔船 暴风雨 灯塔 冬天 早上 城市 街道 小狗 滑板 河流 大桥
高山 森林 火车 车站 市场 厨房 老师 学生 花园 窗户 汽车 自行车 机场 飞机 车票 海岛 海滩 海浪 日落 村庄
城堡 博物馆 画家 吉他 钢琴 音乐会 节日 灯笼 龙舟 寺庙 茶叶 米饭 面条 汤 面包 咖啡 蛋糕 苹果 橙子 香蕉
医生 护士 医院 学校 图书馆 书信 手机 相机 屏幕 电脑 机器人 工厂 工人 农民 田野 马 牛 羊 鸡 兔子 老虎 狮子
大象 猴子 小鸟 老鹰 雪 雨 风 云 天空 星星 月亮 太阳 火 水 石头 树 花 叶子 道路 地图 指南针 船长 水手 鱼
鲨鱼 鲸鱼 海豚 乌龟 螃蟹 沙子 悬崖 山洞 山谷 沙漠 骆驼 帐篷 卡车 公交车 出租车 地铁 隧道 人群 游行 国旗
时钟 欢迎 使用 出发 到达 修理 红色 蓝色 绿色 黄色 白色 黑色 古老 现代 安静 热闹 明亮 黑暗 温暖 寒冷""".split()

_SYLLABLES = "ka ri to mo na el ven dor sil ba que lin tar pho zu gri mel fan tos wi ber cal nu sho".split()

CAPTIONS_EN = """Harbour Tour|Departure 9:00 AM|Storm Warning|Museum Open Daily|Night Market|Mountain Trail 12 km
|Welcome to the Festival|Platform 4 Express Train|Fresh Noodles and Tea|Lighthouse Keeper Diary
|Chapter Two: The River|Exit B Subway Station|Weather Report Monday|Concert Tonight 8 PM|Garden Flower Show
|Panda Research Center|Fishing Boats Return|Old Town Walking Tour|Robot Factory Visit|Sunset over the Beach""".split(
    "|"
)

CAPTIONS_ZH = """欢迎使用视频搜索引擎|今天天气晴朗|港口渔船出发|大熊猫保护中心|夜市美食|山路十二公里|龙舟节日快乐
|博物馆每天开放|地铁出口B|明天有暴风雨""".split("|")

PLACES = [p.strip() for p in PLACES]
TIMES = [t.strip() for t in TIMES]
CAPTIONS_EN = [c.strip() for c in CAPTIONS_EN]
CAPTIONS_ZH = [c.strip() for c in CAPTIONS_ZH]
SHAPES = ("circle", "square", "triangle")


def vocabulary(rng: np.random.Generator, pseudo: int = 6000) -> tuple[list[str], np.ndarray]:
    """English + Chinese words plus `pseudo` made-up words, with Zipf weights (most common first)."""
    made = set()
    while len(made) < pseudo:
        made.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))))
    words = list(dict.fromkeys(NOUNS + ADJECTIVES + VERBS + CHINESE)) + sorted(made)
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    weights = 1.0 / ranks**1.05
    return words, weights / weights.sum()


def narration(rng: np.random.Generator) -> str:
    """One varied English narration sentence (10-20 words)."""
    kind = int(rng.integers(4))
    a, b = rng.choice(NOUNS, 2, replace=False)
    adj = rng.choice(ADJECTIVES)
    verb = rng.choice(VERBS)
    place = rng.choice(PLACES).strip()
    when = rng.choice(TIMES).strip()
    if kind == 0:
        return f"The {adj} {a} {verb} the {b} {place} {when}."
    if kind == 1:
        return f"Every visitor remembers how the {a} {verb} {place}, while the {b} stays {adj}."
    if kind == 2:
        return f"{when.capitalize()}, a {adj} {a} {verb} the {b}, and nobody in the {rng.choice(NOUNS)} notices."
    return f"Our guide says the {b} near the {a} is {adj}, so we walk {place} {when}."


def text_row(rng: np.random.Generator, words: list[str], weights: np.ndarray, low: int, high: int) -> str:
    """A bag of Zipf-drawn words; Chinese words are glued together, as ASR and OCR write them."""
    picked = rng.choice(len(words), size=int(rng.integers(low, high + 1)), p=weights)
    out: list[str] = []
    for i in picked:
        w = words[i]
        if out and ord(w[0]) > 0x2E80 and ord(out[-1][-1]) > 0x2E80:
            out[-1] += w
        else:
            out.append(w)
    return " ".join(out)


def queries(rng: np.random.Generator, words: list[str], weights: np.ndarray, n: int) -> list[str]:
    """`n` varied queries: common and rare words, sentences, Chinese, mixed, and misses."""
    common = words[:300]
    real_en = NOUNS + ADJECTIVES
    out: list[str] = []
    kinds = ["en_words", "en_sentence", "zh", "mixed", "rare", "miss", "long"]
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        if kind == "en_words":
            q = " ".join(rng.choice(real_en, int(rng.integers(1, 4)), replace=False))
        elif kind == "en_sentence":
            q = f"a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(PLACES).strip()}"
        elif kind == "zh":
            q = "".join(rng.choice(CHINESE, int(rng.integers(1, 3)), replace=False))
        elif kind == "mixed":
            q = f"{rng.choice(CHINESE)} {rng.choice(NOUNS)} {rng.choice(CHINESE)}"
        elif kind == "rare":
            q = " ".join(rng.choice(words[-2000:], 2, replace=False))
        elif kind == "miss":
            q = f"quantum {rng.choice(['zebra', 'orchestra', 'volcano', 'satellite'])} {len(out)}"
        else:
            q = " ".join(rng.choice(common, int(rng.integers(8, 13)), replace=True))
        out.append(q)
    return out
