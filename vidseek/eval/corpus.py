"""A reproducible evaluation corpus: seeded synthetic videos with known ground truth, and their queries.

Usage: `info = make_corpus(Path("corpus"), size="tiny", seed=0)`, or `vidseek corpus make corpus --size tiny`.
Writes the videos, `images/`, `queries.jsonl` (the `vidseek eval` format) and `corpus.json` (recipe, counts,
every timed event). The same seed gives the same files. Each video is a run of chapters; in a chapter:

* English narration (espeak-ng, four voices) of distinct facts, 0-3 sentences with silence between,
  sometimes over quiet "music" (a tone chord with filtered noise); silent chapters may get music alone.
  Every fact has a near-miss twin in another video ("the blue ferry leaves the north pier" vs "the red
  ferry ..."), so R@1 is not trivial; about a third of the speech queries are paraphrased (tag
  `paraphrase`), and a third of the facts and signs (0.6 in `tiny`) also get a query in the other language
  ("红色渡轮从北码头出发" for English speech, "airport post office" for a Chinese sign; tag `crosslingual`).
* Scene changes: signs in English and Chinese (OCR route), shapes on grey (the tiny test CLIP's colour x
  shape classes, each shown once in the corpus; text and PNG image queries), filler scenes.
Plus: meaningful file names (title route), a faint static watermark in every fourth video, four frame
sizes (one portrait) at 24/25/30 fps, and ~13 % queries that no video answers ("videos": []).

Chinese stays on the OCR route: espeak-ng's Mandarin is unintelligible to Whisper base. Character accuracy
on 3 sentences with `SpeechRecognizer(Settings())`: voice `cmn` 0 % with language detection (heard as tone
digits, "jin 1, jan 1, ..."; detected en/th), 3 % with asr_language="zh"; `cmn-latn-pinyin` 0 % / 29 %.
"""

from __future__ import annotations

import json
import shutil
import string
import subprocess
import time
import wave
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vidseek.media.synth import SAMPLE_RATE, AudioClip, Scene, Shape, make_video, speak
from vidseek.text import has_cjk

GENERATOR_VERSION = "2"  # 2: cross-lingual queries and the paraphrase / crosslingual tags
RGB = tuple[int, int, int]
COLOURS: dict[str, RGB] = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220),
                           "yellow": (235, 215, 30)}  # the tiny test CLIP's classes (tests/tinyclip.py)
SHAPES = ("circle", "square", "triangle")
SPEECH_FACTS = {"espeak_cmn_whisper_base_char_accuracy": {"detected_language": 0.0, "asr_language_zh": 0.03},
                "espeak_cmn_latn_pinyin_char_accuracy": {"detected_language": 0.0, "asr_language_zh": 0.29},
                "chinese_route": "ocr", "english_voices": ["en", "en-us", "en+f3", "en-us+m3"]}
_VOICES = tuple(SPEECH_FACTS["english_voices"])
_RESOLUTIONS = ((640, 360), (480, 480), (320, 240), (240, 426))
_FPS = (24, 25, 30)
_FILLERS: tuple[RGB, ...] = ((20, 120, 120), (110, 70, 40), (90, 40, 110), (40, 50, 60), (230, 220, 200),
                             (230, 150, 170), (10, 10, 10), (200, 230, 220))
_WATERMARK = "STOCKCLIP"
# file name = title query
_TITLES_EN = [t.split("=") for t in (
    "night_market_taipei=night market in taipei|grandma_birthday_party=birthday party for grandma|"
    "snowboard_lesson_day_two=snowboard lesson|lantern_festival_parade=lantern festival parade|"
    "wedding_rehearsal_dinner=wedding rehearsal|marathon_finish_line=marathon finish|"
    "bathroom_renovation_timelapse=bathroom renovation|beach_volleyball_final=volleyball final").split("|")]
_TITLES_ZH = [t.split("=") for t in "西湖游船=西湖游船|故宫雪景=故宫 雪景|春节烟花表演=春节烟花".split("|")]
_UNRELATED = ("a giraffe playing the violin", "quantum computing lecture", "solar eclipse over the desert",
              "penguins sliding on ice", "长城上的日出", "上海外滩夜景", "volcano eruption at night", "熊猫吃竹子",
              "chess tournament on television", "how to knit a scarf")
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"


@dataclass(frozen=True)
class _Template:
    """A family of facts; the slots used in `query` identify one fact (and its near-miss twins).

    `cross` is the query in the other language, its slots filled from `words` (value -> translation)."""

    lang: str
    text: str
    query: str
    paraphrase: str | None
    options: dict[str, str]  # slot -> "value|value|..."
    cross: str | None = None
    words: dict[str, str] = field(default_factory=dict)  # "value=translation|..." per slot, flattened

    def translate(self, values: dict[str, str]) -> str | None:
        if self.cross is None:
            return None
        return self.cross.format(**{k: self.words.get(v, v) for k, v in values.items()})

    @property
    def identity(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.query) if name]

    @property
    def slots(self) -> dict[str, list[str]]:
        return {name: values.split("|") for name, values in self.options.items()}


def _words(pairs: str) -> dict[str, str]:
    return dict(pair.split("=") for pair in pairs.split("|"))


_ZH_WORDS = _words(
    "red=红色|blue=蓝色|green=绿色|yellow=黄色|white=白色|black=黑色|silver=银色|orange=橙色|purple=紫色|brown=棕色|"
    "ferry=渡轮|train=火车|bus=公交车|tram=电车|boat=小船|north=北|south=南|east=东|west=西|pier=码头|station=车站|"
    "gate=大门|bridge=桥|clocks=钟表|glass=玻璃|maps=地图|toys=玩具|kites=风筝|stamps=邮票|coins=硬币|ships=船舶|"
    "shells=贝壳|dolls=娃娃|insects=昆虫|hats=帽子|monday=周一|tuesday=周二|wednesday=周三|thursday=周四|"
    "friday=周五|saturday=周六|sunday=周日|baker=面包师|teacher=老师|farmer=农民|doctor=医生|painter=画家|"
    "sailor=水手|plumber=水管工|fisherman=渔夫|piano=钢琴|clock=钟|bicycle=自行车|lamp=台灯|window=窗户|"
    "radio=收音机|fridge=冰箱|door=门|kitchen=厨房|garden=花园|library=图书馆|garage=车库|classroom=教室|"
    "barn=谷仓|hallway=走廊|apples=苹果|oranges=橙子|tomatoes=西红柿|noodles=面条|peaches=桃子|cherries=樱桃|"
    "onions=洋葱|mushrooms=蘑菇|village=村子|city=城市|castle=城堡|church=教堂|harbour=港口|"
    "Harbour=港口|Riverside=河边|Mountain=山区|Airport=机场|Lakeside=湖边|Forest=森林|Old Town=老城|"
    "Seaside=海边|Valley=山谷|Hilltop=山顶|Downtown=市中心|Castle=城堡|Maple=枫树|Central=中央|Pine Hill=松山|"
    "Sunset Bay=日落湾|Crystal Lake=水晶湖|Golden Gate=金门|Bamboo Grove=竹林|Eastside=东区|"
    "Ferry Terminal=渡轮码头|Flower Market=花卉市场|Railway Museum=铁路博物馆|Bus Station=公交车站|Tea House=茶馆|"
    "Fish Market=鱼市场|Art Gallery=美术馆|Public Library=图书馆|Bicycle Shop=自行车店|Water Park=水上乐园|"
    "Post Office=邮局|Police Station=派出所|Ice Rink=溜冰场|Bakery=面包店|Book Store=书店|Swimming Pool=游泳馆")
_EN_WORDS = _words(
    "港口=harbour|河边=riverside|山区=mountain|机场=airport|湖边=lakeside|森林=forest|老城=old town|海边=seaside|"
    "山谷=valley|市中心=downtown|北区=north district|南区=south district|东区=east district|西区=west district|"
    "竹林=bamboo grove|松山=pine hill|金港=golden harbour|新城=new town|桃园=peach garden|月湖=moon lake|"
    "渡轮码头=ferry terminal|花卉市场=flower market|铁路博物馆=railway museum|公交车站=bus station|茶馆=tea house|"
    "鱼市场=fish market|美术馆=art gallery|图书馆=library|自行车店=bicycle shop|水上乐园=water park|邮局=post office|"
    "派出所=police station|溜冰场=ice rink|面包店=bakery|书店=bookshop|游泳馆=swimming pool")

_FACTS = (
    _Template("en", "The {colour} {vehicle} leaves the {side} {stop} {time}.", "the {colour} {vehicle} leaves the "
              "{side} {stop}", "{colour} {vehicle} departing from the {side} {stop}",
              {"colour": "red|blue|green|yellow|white|black|silver|orange|purple|brown",
               "vehicle": "ferry|train|bus|tram|boat", "side": "north|south|east|west",
               "stop": "pier|station|gate|bridge",
               "time": "at nine in the morning|before sunset|at noon|after midnight|every hour"},
              "{colour}的{vehicle}从{side}{stop}出发", _ZH_WORDS),
    _Template("en", "The museum of {topic} opens on {day} {extra}.", "the museum of {topic} opens on {day}",
              "{topic} museum open on {day}",
              {"topic": "clocks|glass|maps|toys|kites|stamps|coins|ships|shells|dolls|insects|hats", "day": _DAYS,
               "extra": "with free tickets for children|until late in the evening|after the holidays"},
              "{topic}博物馆{day}开门", _ZH_WORDS),
    _Template("en", "The old {job} repairs the {thing} in the {room}.", "the {job} repairs the {thing} in the {room}",
              "{job} fixing a {thing} in the {room}",
              {"job": "baker|teacher|farmer|doctor|painter|sailor|plumber|fisherman",
               "thing": "piano|clock|bicycle|lamp|window|radio|fridge|door",
               "room": "kitchen|garden|library|garage|classroom|barn|hallway"},
              "{job}在{room}修{thing}", _ZH_WORDS),
    _Template("en", "Fresh {food} are sold in the {town} square every {day}.", "fresh {food} are sold in the {town} "
              "square every {day}", "buy {food} in the {town} square on {day}",
              {"food": "apples|oranges|tomatoes|noodles|peaches|cherries|onions|mushrooms",
               "town": "village|city|castle|church|harbour", "day": _DAYS},
              "每{day}在{town}广场卖新鲜的{food}", _ZH_WORDS),
)
_SIGNS = (
    _Template("en", "{place} {facility}", "{place} {facility}", None,
              {"place": "Harbour|Riverside|Mountain|Airport|Lakeside|Forest|Old Town|Seaside|Valley|Hilltop|Downtown|"
                        "Castle|Maple|Central|Pine Hill|Sunset Bay|Crystal Lake|Golden Gate|Bamboo Grove|Eastside",
               "facility": "Ferry Terminal|Flower Market|Railway Museum|Bus Station|Tea House|Fish Market|Art Gallery|"
                           "Public Library|Bicycle Shop|Water Park|Post Office|Police Station|Ice Rink|Bakery|"
                           "Book Store|Swimming Pool"},
              "{place}{facility}", _ZH_WORDS),
    _Template("zh", "{place}{facility}", "{place}{facility}", None,
              {"place": "港口|河边|山区|机场|湖边|森林|老城|海边|山谷|市中心|北区|南区|东区|西区|"
                        "竹林|松山|金港|新城|桃园|月湖",
               "facility": "渡轮码头|花卉市场|铁路博物馆|公交车站|茶馆|鱼市场|美术馆|图书馆|"
                           "自行车店|水上乐园|邮局|派出所|溜冰场|面包店|书店|游泳馆"},
              "the {facility} in {place}", _EN_WORDS),
)


@dataclass(frozen=True)
class _SizeSpec:
    videos: int
    chapters: tuple[int, int]  # per video
    seconds: tuple[float, float]  # shortest chapter
    shapes: int  # colour x shape classes shown, each once in the corpus
    images: int  # of those, how many also get an image query
    titles: int
    query_share: float  # of the fact/sign twin pairs that get queries
    cross_share: float = 0.33  # of the queried facts and signs that also get a query in the other language


SIZES = {"tiny": _SizeSpec(10, (1, 1), (6.0, 9.0), 6, 3, 3, 1.0, cross_share=0.6),  # CI floors need a few
         "small": _SizeSpec(40, (1, 2), (7.0, 12.0), 12, 6, 6, 1.0),
         "bench": _SizeSpec(14, (40, 50), (8.0, 12.0), 12, 12, 4, 0.3)}


@dataclass
class _Item:  # one fact (spoken) or sign (shown); `query` is None when it gets no query
    kind: str
    lang: str
    text: str
    query: str | None = None
    paraphrase: str | None = None
    paraphrased: bool = False  # the query is the paraphrase, not the verbatim words
    cross: str | None = None  # the query in the other language (kept when the item gets a cross query)


@dataclass
class _Chapter:
    min_seconds: float
    speech: list[_Item] = field(default_factory=list)
    signs: list[_Item] = field(default_factory=list)
    shapes: list[tuple[str, str]] = field(default_factory=list)
    music: str | None = None  # "under" the speech, "alone" in a stretch, or None


@dataclass
class _VideoPlan:
    name: str
    size: tuple[int, int]
    fps: int
    watermark: str | None
    chapters: list[_Chapter]
    title_query: str | None = None


@dataclass
class CorpusInfo:
    """What `make_corpus` wrote: counts, total media seconds, and how long it took."""

    folder: Path
    size: str
    seed: int
    videos: int
    queries: int
    seconds: float
    build_seconds: float
    routes: dict[str, int]
    out_of_library: int


def _pick(rng: np.random.Generator, values: Sequence):
    return values[int(rng.integers(len(values)))]


class _Pool:
    """Unique fills of templates, drawn as near-miss pairs (same template, one identity slot changed)."""

    def __init__(self, templates: Sequence[_Template], kind: str, rng: np.random.Generator):
        self.templates, self.kind, self.rng, self.used = templates, kind, rng, set()

    def _key(self, index: int, values: dict[str, str]) -> tuple:
        return (index, *(values[name] for name in self.templates[index].identity))

    def _fill(self) -> tuple[int, dict[str, str]]:
        index = int(self.rng.integers(len(self.templates)))
        return index, {k: _pick(self.rng, v) for k, v in self.templates[index].slots.items()}

    def _item(self, index: int, values: dict[str, str]) -> _Item:
        self.used.add(self._key(index, values))
        t = self.templates[index]
        return _Item(self.kind, t.lang, t.text.format(**values), t.query.format(**values).lower(),
                     t.paraphrase.format(**values) if t.paraphrase else None, cross=t.translate(values))

    def draw(self, twins: bool = True) -> list[_Item]:
        """Two new facts that differ in one identity slot (or one new fact, for an out-of-library query)."""
        for _ in range(10_000):
            index, values = self._fill()
            slot = _pick(self.rng, self.templates[index].identity)
            other = [v for v in self.templates[index].slots[slot] if v != values[slot]]
            fills = [values, dict(values, **{slot: _pick(self.rng, other)})][: 2 if twins else 1]
            if all(self._key(index, f) not in self.used for f in fills):
                return [self._item(index, f) for f in fills]
        raise RuntimeError(f"ran out of distinct {self.kind} facts; use a smaller size")


def _deal(rng: np.random.Generator, pool: _Pool, slots: list[_Chapter], share: float, attr: str,
          cross: float) -> None:
    """Give each slot one item: first halves of twin pairs to the early slots, second halves to the late
    ones, so twins land in different videos. A pair gets queries with probability `share`, and each of
    its items a cross-lingual one with probability `cross`."""
    pairs = [pool.draw() for _ in range((len(slots) + 1) // 2)]
    for pair in pairs:
        keep = rng.random() < share
        for item in pair:
            if not keep:
                item.query, item.cross = None, None
            elif item.paraphrase and rng.random() < 0.33:
                item.query, item.paraphrased = item.paraphrase, True
            if item.cross is not None and rng.random() >= cross:
                item.cross = None
    order = [a for a, _ in pairs] + [b for _, b in pairs]
    for chapter, item in zip(slots, order):
        getattr(chapter, attr).append(item)


def _plan(spec: _SizeSpec, rng: np.random.Generator, max_seconds: float | None
          ) -> tuple[list[_VideoPlan], list[_Pool]]:
    """Decide every video's name, format and chapters, and which facts, signs and shapes go where."""
    videos: list[_VideoPlan] = []
    planned, typical = 0.0, sum(spec.seconds) / 2 * 1.15  # a chapter is often longer than its minimum
    for i in range(spec.videos):
        n = int(rng.integers(*spec.chapters, endpoint=True))
        if max_seconds is not None and (n := min(n, round((max_seconds - planned) / typical))) < 1:
            break
        chapters = [_Chapter(float(rng.uniform(*spec.seconds))) for _ in range(n)]
        planned += n * typical
        videos.append(_VideoPlan(f"v{i + 1:03d}.mp4", _pick(rng, _RESOLUTIONS), _pick(rng, _FPS),
                                 _WATERMARK if i % 4 == 1 else None, chapters))
    chapters = [c for v in videos for c in v.chapters]
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    classes = [classes[i] for i in rng.permutation(len(classes))][: spec.shapes]
    while classes:
        take = min(len(classes), int(rng.integers(2, 4)))
        free = [c for c in chapters if not c.shapes] or chapters
        _pick(rng, free).shapes.extend(classes[:take])
        classes = classes[take:]
    speech = [int(rng.choice(4, p=[0.25, 0.35, 0.25, 0.15])) for _ in chapters]  # sentences per chapter
    signs = [min(int(rng.choice(3, p=[0.45, 0.45, 0.1])), 1 if c.shapes else 2) for c in chapters]
    for chapter, n in zip(chapters, speech):
        chapter.music = "under" if n and rng.random() < 0.3 else "alone" if not n and rng.random() < 0.5 else None
    facts, boards = _Pool(_FACTS, "speech", rng), _Pool(_SIGNS, "sign", rng)
    _deal(rng, facts, [c for c, n in zip(chapters, speech) for _ in range(n)], spec.query_share, "speech",
          spec.cross_share)
    _deal(rng, boards, [c for c, n in zip(chapters, signs) for _ in range(n)], spec.query_share, "signs",
          spec.cross_share)
    n_zh = (spec.titles + 2) // 3
    titles = [*(_pick_n(rng, _TITLES_ZH, n_zh)), *(_pick_n(rng, _TITLES_EN, spec.titles - n_zh))]
    for plan, (stem, query) in zip(_pick_n(rng, videos, len(titles)), titles):
        plan.name, plan.title_query = f"{stem}.mp4", query
    return videos, [facts, boards]


def _pick_n(rng: np.random.Generator, values: Sequence, n: int) -> list:
    return [values[i] for i in rng.permutation(len(values))[: min(n, len(values))]]


def _frames(seconds: float, fps: int) -> float:
    """Snap a scene length to whole frames, so scene boundaries (and the ground truth) are exact."""
    return max(1, round(seconds * fps)) / fps


def _filler(rng: np.random.Generator, seconds: float) -> Scene:
    shape = None
    if rng.random() < 0.5:
        shape = Shape(_pick(rng, SHAPES), _pick(rng, ((245, 245, 245), (15, 15, 15))), float(rng.uniform(0.25, 0.5)),
                      (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.4, 0.6))))
    return Scene(seconds, _pick(rng, _FILLERS), shape=shape, noise=0.02 if rng.random() < 0.25 else 0.0)


def _visuals(chapter: _Chapter, fps: int, rng: np.random.Generator) -> tuple[list[Scene], list[dict]]:
    """Sign and shape scenes in random order, with filler scenes between; events relative to the chapter."""
    pieces = [("sign", s) for s in chapter.signs] + [("shape", s) for s in chapter.shapes]
    scenes, events, t = [], [], 0.0
    for i in rng.permutation(len(pieces)):
        kind, what = pieces[i]
        if rng.random() < 0.5:
            scenes.append(_filler(rng, _frames(float(rng.uniform(1.5, 2.5)), fps)))
            t += scenes[-1].duration
        if kind == "sign":
            scene = Scene(_frames(float(rng.uniform(3.0, 4.5)), fps), _pick(rng, _FILLERS), text=what.text)
            events.append(_event(what, t, t + scene.duration))
        else:
            grey = int(rng.integers(90, 170))
            shape = Shape(what[1], COLOURS[what[0]], float(rng.uniform(0.5, 0.65)),
                          (float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.45, 0.55))))
            scene = Scene(_frames(float(rng.uniform(2.5, 3.5)), fps), (grey, grey, grey), shape=shape)
            events.append({"kind": "shape", "class": list(what), "text": f"a {what[0]} {what[1]}", "start": t,
                           "end": t + scene.duration})
        scenes.append(scene)
        t += scene.duration
    return scenes, events


def _event(item: _Item, start: float, end: float) -> dict:
    return {"kind": item.kind, "start": start, "end": end, "text": item.text, "lang": item.lang, "query": item.query,
            "paraphrased": item.paraphrased, "cross": item.cross}


def _sounds(chapter: _Chapter, voices: Path, rng: np.random.Generator) -> tuple[list[AudioClip], list[dict], float]:
    """Speak the chapter's sentences with silences between; returns clips, events and where audio ends."""
    clips, events, t = [], [], float(rng.uniform(0.5, 1.0))
    for k, item in enumerate(chapter.speech):
        voice = _pick(rng, _VOICES)
        wav = speak(item.text, voices / f"s{k}.wav", voice=voice, speed=int(rng.integers(150, 176)))
        with wave.open(str(wav)) as w:
            seconds = w.getnframes() / w.getframerate()
        clips.append(AudioClip(t, wav))
        events.append(dict(_event(item, t, t + seconds), voice=voice))
        t += seconds + float(rng.uniform(1.0, 2.0))
    end = events[-1]["end"] + float(rng.uniform(0.4, 0.8)) if events else 0.0
    return clips, events, end


def _music(path: Path, seconds: float, rng: np.random.Generator) -> Path:
    """A "music-like" bed: a chord progression of decaying tones plus low-passed noise (16 kHz WAV)."""
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    root = 110.0 * 2 ** (int(rng.integers(12)) / 12)
    chords = np.array([(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 3, 7)])[(t // 2.0).astype(int) % 4]
    beat = np.exp(-3.0 * (t % 0.5))
    tone = sum(np.sin(2 * np.pi * root * 2 ** (chords[:, k] / 12) * t) for k in range(3)) * beat
    noise = np.convolve(rng.standard_normal(len(t)).astype(np.float32), np.ones(24) / 24, mode="same")
    signal = tone + 2.0 * noise
    signal = signal / max(1e-6, float(np.abs(signal).max()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setparams((1, 2, SAMPLE_RATE, 0, "NONE", "not compressed"))
        w.writeframes((signal * 32000).astype(np.int16).tobytes())
    return path


def _chapter(chapter: _Chapter, fps: int, voices: Path, rng: np.random.Generator
             ) -> tuple[list[Scene], list[AudioClip], list[dict], float]:
    """Lay out one chapter: visual and audio timelines run side by side; fillers pad the shorter one."""
    scenes, events = _visuals(chapter, fps, rng)
    clips, said, audio_end = _sounds(chapter, voices, rng)
    shown = sum(s.duration for s in scenes)
    need = max(audio_end, chapter.min_seconds) - shown
    if need > 0:  # rounded up to whole frames, so the audio fits
        scenes.append(_filler(rng, _frames(max(need, 1.0) + 0.5 / fps, fps)))
    seconds = sum(s.duration for s in scenes)
    if chapter.music:  # quietly under all the speech, or louder alone in a stretch of a silent chapter
        under = chapter.music == "under"
        start = 0.0 if under else float(rng.uniform(0.0, seconds / 3))
        end = audio_end if under else seconds - float(rng.uniform(0.0, seconds / 4))
        clips.append(AudioClip(start, _music(voices / "music.wav", end - start, rng), 0.1 if under else 0.3))
        events.append({"kind": "music", "start": start, "end": end, "gain": clips[-1].gain})
    return scenes, clips, events + said, seconds


def _render(plan: _VideoPlan, out: Path, seed: int, index: int) -> dict:
    """Write one video (frames stream to disk); returns its record with absolute event times."""
    rng = np.random.default_rng([seed, index])
    voices = out / ".speech" / f"{index:03d}"
    scenes, clips, events, t = [], [], [], 0.0
    for k, chapter in enumerate(plan.chapters):
        c_scenes, c_clips, c_events, seconds = _chapter(chapter, plan.fps, voices / f"c{k:03d}", rng)
        scenes += c_scenes
        clips += [AudioClip(c.start + t, c.wav, c.gain) for c in c_clips]
        events += [dict(e, start=round(e["start"] + t, 3), end=round(e["end"] + t, 3)) for e in c_events]
        t += seconds
    make_video(out / plan.name, scenes, size=plan.size, fps=plan.fps, audio=clips, seed=seed * 1000 + index,
               watermark=plan.watermark, watermark_opacity=0.1)
    shutil.rmtree(voices, ignore_errors=True)
    return {"name": plan.name, "width": plan.size[0], "height": plan.size[1], "fps": plan.fps,
            "seconds": round(t, 3), "watermark": plan.watermark, "title_query": plan.title_query,
            "events": sorted(events, key=lambda e: (e["start"], e["kind"]))}


def shape_image(colour: str, shape: str, rng: np.random.Generator, size: int = 128) -> Image.Image:
    """A query picture like the corpus's shape scenes: `shape_image("red", "circle", np.random.default_rng(0))`."""
    grey = int(rng.integers(70, 190))
    image = Image.new("RGB", (size, size), (grey, grey, grey))
    fill = tuple(min(255, max(0, c + int(j))) for c, j in zip(COLOURS[colour], rng.integers(-20, 21, size=3)))
    side = int(rng.integers(size * 45 // 100, size * 70 // 100))
    x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((box[0] + box[2]) / 2, box[1]), (box[0], box[3]), (box[2], box[3])], fill=fill)
    return image


def _query(text: str | None, videos: list[str], start: float | None, end: float | None, routes: list[str],
           kind: str, image: str | None = None, tags: list[str] | None = None) -> dict:
    lang = None if text is None else "zh" if has_cjk(text) else "en"
    out = {"query": text, "image": image, "videos": videos, "start": start, "end": end, "lang": lang,
           "routes": routes, "kind": kind}
    return {**out, "tags": tags} if tags else out


def _queries(records: list[dict], spec: _SizeSpec, pools: list[_Pool], out: Path, rng: np.random.Generator
             ) -> list[dict]:
    """Queries from the timed events, titles and images, plus ~13 % that no video answers."""
    found, images = [], 0
    for rec in records:
        for e in (e for e in rec["events"] if e["kind"] in ("speech", "sign") and e["query"]):
            kind = e["kind"] + ("-paraphrase" if e["paraphrased"] else "")
            route = "speech" if e["kind"] == "speech" else "ocr"
            tags = ["paraphrase"] if e["paraphrased"] else None
            found.append(_query(e["query"], [rec["name"]], e["start"], e["end"], [route], kind, tags=tags))
            if e.get("cross"):
                found.append(_query(e["cross"], [rec["name"]], e["start"], e["end"], [route],
                                    e["kind"] + "-crosslingual", tags=["crosslingual"]))
        for e in (e for e in rec["events"] if e["kind"] == "shape"):
            colour, shape = e["class"]
            found.append(_query(f"a {colour} {shape}", [rec["name"]], e["start"], e["end"], ["visual"], "shape"))
            if images < spec.images:
                images += 1
                path = f"images/{colour}_{shape}.png"
                shape_image(colour, shape, rng).save(out / path)
                found.append(_query(None, [rec["name"]], e["start"], e["end"], ["visual"], "image", path))
        if rec["title_query"]:
            found.append(_query(rec["title_query"], [rec["name"]], 0.0, rec["seconds"], ["title"], "title"))
    absent = round(len(found) * 0.13 / 0.87)
    plain = _pick_n(rng, _UNRELATED, absent // 2)
    near = [pools[i % len(pools)].draw(twins=False)[0].query for i in range(absent - len(plain))]
    found += [_query(text, [], None, None, [], "absent") for text in near + plain]
    return [{"id": f"q{i:03d}", **q} for i, q in enumerate(found, 1)]


def _clear(out: Path) -> None:
    """Make `out` ready: new, empty, or a previous corpus (whose files are removed first)."""
    if (out / "corpus.json").exists():
        old = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
        for name in [r["name"] for r in old.get("video_list", [])] + ["queries.jsonl", "corpus.json"]:
            (out / name).unlink(missing_ok=True)
        for name in ("images", ".speech"):
            shutil.rmtree(out / name, ignore_errors=True)
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no corpus.json; give a new or empty folder")
    (out / "images").mkdir(parents=True, exist_ok=True)


def make_corpus(out: Path, size: str = "tiny", seed: int = 0,
                on_progress: Callable[[int, int, str], None] | None = None,
                max_seconds: float | None = None) -> CorpusInfo:
    """Write a seeded corpus (videos, images/, queries.jsonl, corpus.json) into `out`.

    Usage: `info = make_corpus(Path("corpus"), "tiny", seed=0, on_progress=lambda i, n, name: print(i, n, name))`.
    `max_seconds` stops planning after about that much video (a preview of a big size). Needs espeak-ng.
    """
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}; use one of {', '.join(SIZES)}")
    started = time.perf_counter()
    out = Path(out)
    _clear(out)
    spec = SIZES[size]
    rng = np.random.default_rng(seed)
    plans, pools = _plan(spec, rng, max_seconds)
    records = []
    for i, plan in enumerate(plans):
        records.append(_render(plan, out, seed, i))
        if on_progress:
            on_progress(i + 1, len(plans), plan.name)
    shutil.rmtree(out / ".speech", ignore_errors=True)
    queries = _queries(records, spec, pools, out, rng)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    routes = Counter(r for q in queries for r in q["routes"])
    seconds = round(sum(r["seconds"] for r in records), 3)
    absent = sum(not q["videos"] for q in queries)
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False).stdout
    manifest = {"generator": "vidseek.eval.corpus", "version": GENERATOR_VERSION, "size": size, "seed": seed,
                "videos": len(records), "queries": len(queries), "routes": dict(sorted(routes.items())),
                "out_of_library": absent, "seconds": seconds, "espeak_ng": espeak.split(" Data at")[0].strip(),
                "speech": SPEECH_FACTS, "video_list": records}
    (out / "corpus.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return CorpusInfo(out, size, seed, len(records), len(queries), seconds, time.perf_counter() - started,
                      dict(routes), absent)
