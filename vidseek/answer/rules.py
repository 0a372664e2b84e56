"""Reading a question without an LLM: language, filters phrased in English or Chinese, boilerplate, steps.

Usage::

    found = find_filters("In videos added this week, how do I tie a scarf?", now=time.time())
    found.text, found.filters        # "how do I tie a scarf?", {"added_after": <monday 00:00>}
    search_text("how do I tie a scarf?")   # ("tie a scarf", "procedure")
    split_steps("Who runs the ferry, and where does it go?")   # ["Who runs the ferry", "where does it go?"]

Filters that name things (a video, a library) come back as names; `understand` resolves them
against the tenant's own videos and libraries.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vidseek.answer.numbers import EN_NUMBERS, en_number, zh_number
from vidseek.text import STOPWORDS, has_cjk, tokens

_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

_EN_NUM = r"(?:\d+(?:\.\d+)?|an?|half\s+an?|" + "|".join(sorted(EN_NUMBERS, key=len, reverse=True)) + ")"
_ZH_NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百半]+)"
_ADDED_EN = r"(?:added|uploaded|indexed|imported)"
_ADDED_ZH = r"(?:添加|加入|上传|导入|新增|入库|收录)"
_DATE = r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
_DATE_ZH = r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?"
_ZH_TAIL = r"(?:的?视频)?(?:中|里面|里|当中)?"  # "...的视频里": the rest of a Chinese filter phrase
_LANGS = {"chinese": "zh", "mandarin": "zh", "english": "en", "中文": "zh", "汉语": "zh", "普通话": "zh",
          "国语": "zh", "英文": "en", "英语": "en"}


def detect_language(text: str) -> str:
    """"zh" when CJK characters outweigh latin words (a Chinese word is ~2 characters), else "en"."""
    cjk = len(_CJK_CHAR.findall(text))
    return "zh" if cjk and cjk >= 2 * len(_LATIN_WORD.findall(text)) else "en"


@dataclass
class Found:
    """What `find_filters` read from a question; `text` is the question without those phrases."""

    text: str
    filters: dict[str, Any] = field(default_factory=dict)  # added_after/added_before/min_duration/max_duration
    video: str | None = None  # a video name as written
    video_quoted: bool = False  # quoted or with an extension: clearly a name, so an unknown one means no match
    library: str | None = None
    video_language: str | None = None  # "zh" | "en": only videos spoken in it
    answer_language: str | None = None
    trace: list[str] = field(default_factory=list)
    # Whether a name is one of the tenant's videos / libraries; unquoted names that are not are no filter.
    is_video: Callable[[str], bool] = field(default=lambda name: True, repr=False)
    is_library: Callable[[str], bool] = field(default=lambda name: True, repr=False)


# dates ----------------------------------------------------------------------------------------
def _day_start(now: float, days_back: int = 0) -> float:
    day = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - dt.timedelta(days=days_back)).timestamp()


def _relative(rel: str, now: float) -> dict[str, float]:
    """Period words ("this week", "上个月") as added_after/added_before, local time."""
    today = dt.datetime.fromtimestamp(now)
    rel = re.sub(r"\s+", " ", rel.lower())
    month_start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev_month = (month_start - dt.timedelta(days=1)).replace(day=1)
    table = {
        "today": {"added_after": _day_start(now)},
        "yesterday": {"added_after": _day_start(now, 1), "added_before": _day_start(now)},
        "this week": {"added_after": _day_start(now, today.weekday())},
        "last week": {"added_after": _day_start(now, today.weekday() + 7),
                      "added_before": _day_start(now, today.weekday())},
        "this month": {"added_after": month_start.timestamp()},
        "last month": {"added_after": prev_month.timestamp(), "added_before": month_start.timestamp()},
        "this year": {"added_after": month_start.replace(month=1).timestamp()},
    }
    zh = {"今天": "today", "今日": "today", "昨天": "yesterday", "本周": "this week", "这周": "this week",
          "这个星期": "this week", "上周": "last week", "本月": "this month", "这个月": "this month",
          "上个月": "last month", "今年": "this year"}
    return dict(table[zh.get(rel, rel)])


def _date(text: str) -> float | None:
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    try:
        return dt.datetime(*parts).timestamp()
    except (TypeError, ValueError):
        return None


_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "秒": 1, "秒钟": 1, "m": 60, "min": 60, "minute": 60, "分": 60,
                 "分钟": 60, "h": 3600, "hr": 3600, "hour": 3600, "小时": 3600, "钟头": 3600,
                 "day": 86400, "天": 86400, "日": 86400, "week": 604800, "周": 604800, "星期": 604800,
                 "礼拜": 604800, "month": 2592000, "月": 2592000}


def _seconds(number: str, unit: str) -> float | None:
    n = zh_number(number) if has_cjk(number) or number == "半" else en_number(number)
    unit = unit.lower().rstrip("s") if unit.lower() not in ("s",) else "s"
    return None if n is None or unit not in _UNIT_SECONDS else n * _UNIT_SECONDS[unit]


# filter rules: (pattern, handler(match, found, now) -> bool accepted) -----------------------------
Rule = tuple[re.Pattern, Callable[[re.Match, Found, float], bool]]


def _on_relative(m: re.Match, found: Found, now: float) -> bool:
    found.filters.update(_relative(m["rel"], now))
    return True


def _on_last_n(m: re.Match, found: Found, now: float) -> bool:
    span = _seconds(m["n"], m["unit"])
    if span is None:
        return False
    found.filters["added_after"] = now - span
    return True


def _on_date(m: re.Match, found: Found, now: float) -> bool:
    when = _date(m["date"])
    if when is None:
        return False
    before = m["op"].lower() in ("before", "之前", "以前", "前")
    found.filters["added_before" if before else "added_after"] = when
    return True


def _on_duration(m: re.Match, found: Found, now: float) -> bool:
    op = re.sub(r"\s+", " ", m["op"].lower())
    if op not in ("longer than", "shorter than") and not (m.groupdict().get("pre") or m.groupdict().get("long")) \
            and not has_cjk(op):
        return False  # "under 5 minutes" alone may be content ("boils in under 5 minutes")
    seconds = _seconds(m["n"], m["unit"])
    if seconds is None:
        return False
    longer = op in ("longer than", "more than", "over", "at least", "超过", "长于", "大于", "多于", "不少于",
                    "不短于", "至少", "以上")
    found.filters["min_duration" if longer else "max_duration"] = seconds
    return True


def _on_video_language(m: re.Match, found: Found, now: float) -> bool:
    found.video_language = _LANGS[m["lang"].lower()]
    return True


def _on_answer_language(m: re.Match, found: Found, now: float) -> bool:
    found.answer_language = _LANGS[m["lang"].lower()]
    return True


def _on_video(quoted: bool) -> Callable[[re.Match, Found, float], bool]:
    def handle(m: re.Match, found: Found, now: float) -> bool:
        name = m["name"].strip()
        quoted_name = quoted or bool(re.search(r"\.[a-z0-9]{2,4}$", name, re.I))
        if found.video is not None or not (quoted_name or found.is_video(name)):
            return False
        found.video, found.video_quoted = name, quoted_name
        return True
    return handle


def _on_library(m: re.Match, found: Found, now: float) -> bool:
    if found.library is not None or not found.is_library(m["name"].lower()):
        return False
    found.library = m["name"].lower()
    return True


_I = re.IGNORECASE
_TERM = r"(?=\s*(?:[?,;:!？，；：！]|\.(?:\s|$)|$)|\s+(?:and|then|how|what|when|where|who|why|which|does|did|do|is|are|was|were|about|say|says|said)\b)"  # noqa: E501
_EXT = r"(?:mp4|mkv|mov|webm|avi|m4v|mpg|mpeg|flv|wmv|ts|3gp)"
RULES: list[Rule] = [
    (re.compile(rf"\b(?:(?:that|which)\s+(?:were|was)\s+)?{_ADDED_EN}\s+(?P<rel>today|yesterday|this\s+week|last\s+week"
                r"|this\s+month|last\s+month|this\s+year)\b", _I), _on_relative),
    (re.compile(rf"\b(?:{_ADDED_EN}\s+)?(?:(?:in|within|during|over|from)\s+)?(?:the\s+)?(?:last|past)\s+(?P<n>{_EN_NUM})"
                r"\s+(?P<unit>days?|weeks?|months?|hours?)\b", _I), _on_last_n),
    (re.compile(rf"\b(?:{_ADDED_EN}\s+)?(?P<op>since|after|before)\s+(?P<date>{_DATE})\b", _I), _on_date),
    (re.compile(rf"(?P<rel>今天|今日|昨天|本周|这周|这个星期|上周|本月|这个月|上个月|今年)新?(?:{_ADDED_ZH}|的视频){_ZH_TAIL}"),
     _on_relative),
    (re.compile(rf"(?:最近|近|过去)(?P<n>{_ZH_NUM})个?(?P<unit>天|日|周|星期|礼拜|月|小时)(?:内|里|中|以来|之内)?"
                rf"(?:{_ADDED_ZH})?{_ZH_TAIL}"), _on_last_n),
    (re.compile(rf"[自从]?(?P<date>{_DATE_ZH})(?P<op>之后|以后|以来|后|之前|以前|前|起)"
                rf"(?:{_ADDED_ZH})?{_ZH_TAIL}"), _on_date),
    (re.compile(r"\b(?P<pre>(?:videos?|clips?|ones?)\s+(?:(?:that|which)\s+(?:are|is)\s+)?)?(?P<op>longer\s+than|"
                rf"shorter\s+than|more\s+than|less\s+than|over|under|at\s+least|at\s+most)\s+(?P<n>{_EN_NUM})\s*"
                r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b(?P<long>\s+long)?", _I), _on_duration),
    (re.compile(r"(?:时长|长度)?(?P<op>超过|长于|大于|多于|不少于|不短于|至少|短于|少于|不到|小于|不超过|不长于|最多)"
                rf"(?P<n>{_ZH_NUM})个?(?P<unit>秒钟|秒|分钟|分|小时|钟头){_ZH_TAIL}"), _on_duration),
    (re.compile(rf"(?P<n>{_ZH_NUM})个?(?P<unit>秒钟|秒|分钟|小时|钟头)(?P<op>以上|以内|以下|之内)"
                rf"{_ZH_TAIL}"), _on_duration),
    (re.compile(r"\b(?:please\s+)?(?:answer|reply|respond)\s+in\s+(?P<lang>chinese|mandarin|english)\b", _I),
     _on_answer_language),
    (re.compile(r"请?用(?P<lang>中文|汉语|英文|英语)(?:回答|回复)"), _on_answer_language),
    (re.compile(r"\b(?:(?:in|from|among)\s+)?(?:the\s+)?(?P<lang>chinese|mandarin|english)(?:[-\s]language)?\s+"
                r"(?:videos?|clips?|talks?)\b", _I), _on_video_language),
    (re.compile(r"\b(?:videos?|clips?|talks?)\s+(?:(?:spoken|recorded)\s+)?in\s+(?P<lang>chinese|mandarin|english)\b",
                _I), _on_video_language),
    (re.compile(r"\bspoken\s+in\s+(?P<lang>chinese|mandarin|english)\b", _I), _on_video_language),
    (re.compile(r"在?(?P<lang>中文|汉语|普通话|国语|英文|英语)的?视频(?:中|里)?"), _on_video_language),
    (re.compile(r"\b(?:in|from|within|inside)\s+(?:the\s+)?(?:video|clip|file|recording)\s+(?:called\s+|named\s+|"
                r"titled\s+)?[\"'“‘](?P<name>[^\"'”’]{1,80})[\"'”’]", _I), _on_video(True)),
    (re.compile(rf"\b(?:(?:in|from|within|inside)\s+(?:the\s+)?(?:video\s+|clip\s+|file\s+)?)?(?P<name>[\w\-.]+\.{_EXT})\b",
                _I), _on_video(True)),
    (re.compile(r"\b(?:in|from|within|inside)\s+(?:the\s+)?(?:video|clip|file|recording)\s+(?:called\s+|named\s+|"
                rf"titled\s+)?(?P<name>[\w\-.]+(?:\s+[\w\-.]+){{0,5}}?){_TERM}", _I), _on_video(False)),
    (re.compile(r"在?(?:视频|影片|录像)\s*[《「“\"](?P<name>[^》」”\"]{1,60})[》」”\"]\s*"
                r"(?:中|里面|里|当中)?"), _on_video(True)),
    (re.compile(r"在?《(?P<name>[^》]{1,60})》(?:这个|这部|这段)?(?:视频|影片)?(?:中|里面|里|当中)?"), _on_video(True)),
    (re.compile(r"在?(?:视频|影片|录像)\s*(?P<name>[\w\-.]{1,60}?)\s*(?:中|里面|里|当中)"), _on_video(False)),
    (re.compile(r"\b(?:in|from)\s+(?:the\s+)?library\s+[\"'“]?(?P<name>[a-z0-9][\w\-]*)[\"'”]?", _I), _on_library),
    (re.compile(r"\b(?:in|from)\s+(?:the\s+|my\s+)?[\"'“]?(?P<name>[a-z0-9][\w\-]*)[\"'”]?\s+library\b", _I),
     _on_library),
    (re.compile(r"在?\s*(?P<name>[a-z0-9][a-z0-9_\-]*)\s*(?:视频库|资料库|媒体库|库)(?:中|里面|里)?", _I), _on_library),
]
# Not removed from the question: "how do you say hello in Chinese?" is about Chinese, but wants a Chinese answer.
_BARE_LANGUAGE = re.compile(r"\bin\s+(?P<lang>chinese|mandarin|english)\s*[?.!]?\s*$", _I)


def find_filters(question: str, now: float, is_video: Callable[[str], bool] | None = None,
                 is_library: Callable[[str], bool] | None = None) -> Found:
    """Filters phrased in the question; each phrase found is cut from `Found.text` (see module doc).

    `is_video(name)` / `is_library(name)` say whether a name exists; an unquoted name that does not
    ("in the video about scarves") stays part of the question."""
    found = Found(text=question)
    if is_video is not None:
        found.is_video = is_video
    if is_library is not None:
        found.is_library = is_library
    text = question
    for pattern, handle in RULES:
        m = pattern.search(text)
        if m is None or not m.group(0).strip():
            continue
        before = (dict(found.filters), found.video, found.library)
        if handle(m, found, now):
            found.trace.append(f"rule: {m.group(0).strip()!r} -> {_describe(found, before)}")
            text = text[: m.start()] + " " + text[m.end():]
    bare = _BARE_LANGUAGE.search(text)
    if bare and found.answer_language is None:
        found.answer_language = _LANGS[bare["lang"].lower()]
    found.text = tidy(text)
    return found


def _describe(found: Found, before: tuple) -> str:
    filters, video, library = before
    changed = {k: v for k, v in found.filters.items() if filters.get(k) != v}
    parts = [f"{k}={_show(k, v)}" for k, v in changed.items()]
    if found.video != video:
        parts.append(f"video={found.video!r}")
    if found.library != library:
        parts.append(f"library={found.library!r}")
    return ", ".join(parts) or f"language={found.video_language or found.answer_language}"


def _show(key: str, value: float) -> str:
    if key.startswith("added"):
        return dt.datetime.fromtimestamp(value).isoformat(timespec="minutes")
    return f"{value:g}s"


_LEFTOVERS = [
    re.compile(r"\b(?:in|from|among|of|for|within)\s+(?:the\s+|all\s+)?(?:videos?|clips?|ones?)\b"
               r"(?:\s+(?:that|which)\s+(?:were|was|are|is))?(?=\s*(?:[,;:?.!]|$))", _I),
    re.compile(r"\b(?:the\s+)?(?:videos?|clips?)\s+(?:that|which)\s+(?:were|was|are|is)\s*(?=[,;:?.!]|$)", _I),
    re.compile(r"\s+\b(?:in|from|among|of|for|within|with|and|that|which|were|was)\s*(?=[,;:?.!]|$)", _I),
    re.compile(r"^\s*(?:(?:in|from|among|of|for)\s+)?(?:the\s+|all\s+)?(?:videos?|clips?)?\s*[,;:]\s*", _I),
    re.compile(r"^[\s,;:，；：、]+|(?<=[\s,，])[,，;；]+|\s+(?=[,;:?.!，；：？。！])"),
    re.compile(r"^(?:在|从)?(?:的视频)?[中里]?[，,]"),
]


def tidy(text: str) -> str:
    """Collapse the gaps left by removed phrases: "In , how do I tie a scarf ?" -> "how do I tie a scarf?"."""
    text = re.sub(r"\s+", " ", text).strip()
    while True:
        new = text
        for pattern in _LEFTOVERS:
            new = re.sub(r"\s+", " ", pattern.sub("", new)).strip()
        if new == text:
            return text
        text = new


# boilerplate and answer types ------------------------------------------------------------------
_LEAD_EN = re.compile(
    r"^(?:please\s+|hey\s+|ok\s+|so\s+|and\s+|then\s*,?\s+|also\s+|now\s+)*(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show|explain\s+to)\s+me\s+"
    r"|(?:tell|show|explain\s+to|remind)\s+me\s+|i\s+(?:want|would\s+like|'d\s+like|wonder)\s+(?:to\s+(?:know|see)\s+)?"
    r"|do\s+you\s+know\s+)?", _I)
_WH_EN = re.compile(
    r"^(?:(?:in\s+)?(?:which|what)\s+(?:videos?|clips?)\s+(?:(?:do|does|did|is|are|was|were)\s+)?"
    r"|(?P<p>how\s+(?:do|can|should|would|could|does|did)\s+(?:i|you|we|one|they|he|she|it|people)|how\s+to)\s+"
    r"|(?P<n>how\s+(?:many|much|long|often|far|old))\s+(?:(?:is|are|was|were|does|do|did)\s+)?"
    r"|(?P<t>what\s+(?:time|day|year|date))\s+(?:(?:is|are|was|were|does|do|did|will)\s+)?"
    r"|(?P<w>what|which|who|whom|whose|when|where|why|how)(?:'s|\s+(?:is|are|was|were|does|do|did|will|would|can|"
    r"should|has|have|had))?\s+|(?:is|are)\s+there\s+|(?:is|are|does|do|did|can|was|were)\s+)", _I)
_TYPES_EN = {"when": "time", "where": "place", "who": "person", "whom": "person", "whose": "person", "how": "procedure"}
_STRIP_ZH = re.compile(r"请问|请告诉我|告诉我|我想知道|想知道|能不能|怎么样|怎么|如何|怎样|是什么|是多少|"
                       r"什么时候|什么|几点钟?|几时|多少|在哪里|在哪儿|哪里|哪儿|在哪|哪个视频|哪些视频|哪个|哪些|为什么|谁|"
                       r"[吗呢吧啊呀]|[？?。！!，,]")
_TYPES_ZH = [("几点", "time"), ("什么时候", "time"), ("几时", "time"), ("多少", "number"), ("哪里", "place"),
             ("哪儿", "place"), ("在哪", "place"), ("谁", "person"), ("怎么", "procedure"), ("如何", "procedure")]
_GENERIC = re.compile(r"\b(?:the\s+|a\s+)?(?:videos?|clips?)\s+(?:where|in\s+which|that\s+shows?|showing|about)\s+|"
                      r"\b(?:in|from)\s+(?:the\s+|this\s+|my\s+)?(?:videos?|clips?|library)\b", _I)


def search_text(question: str) -> tuple[str, str | None]:
    """The words worth searching for, and what kind of answer is wanted (time, number, place, person,
    procedure or None): `search_text("When does the ferry leave?")` -> ("the ferry leave", "time")."""
    if detect_language(question) == "zh" or has_cjk(question):
        expects = next((kind for word, kind in _TYPES_ZH if word in question), None)
        text = _STRIP_ZH.sub(" ", question)
    else:
        text = question
        expects = None
    text = _LEAD_EN.sub("", text.strip())
    m = _WH_EN.match(text)
    if m:
        if m["p"]:
            expects = "procedure"
        elif m["n"]:
            expects = "number"
        elif m["t"]:
            expects = "time"
        elif m["w"]:
            expects = _TYPES_EN.get(m["w"].lower(), expects)
        text = text[m.end():]
    text = _GENERIC.sub(" ", text)
    text = re.sub(r"[\s?？!！.。]+$", "", re.sub(r"\s+", " ", text)).strip(" ,;:")
    return (text or question.strip(" ?？")), expects


def content_words(text: str) -> list[str]:
    """Tokens that carry meaning (not stop words): what a step needs at least one of."""
    return [t for t in tokens(text) if t not in STOPWORDS]


# multi-hop ----------------------------------------------------------------------------------
_SPLITS = [
    re.compile(r"\s*(?:,\s*and\s+then|\band\s+then|,\s*then|;\s*then|,?\s*after\s+that,?)\s+", _I),
    re.compile(r"(?:,\s*|\s+)and\s+(?=(?:what|who|whom|whose|where|when|which|how|why)\b)", _I),
    re.compile(r"(?<=[?？])\s*(?=\S)"),
    re.compile(r"[，,；;]?\s*(?:然后|之后|接着|随后)\s*[，,]?"),
]
_REFERS = re.compile(r"\b(?:it|its|they|them|their|he|him|his|she|her|this|that|these|those|there)\b"
                     r"|[它他她其该此]|这个|那个", _I)


def split_steps(text: str) -> list[str]:
    """Parts of a multi-hop question, in order; [] when it is one question."""
    parts = [text]
    for pattern in _SPLITS:
        parts = [p.strip(" ,;，；") for part in parts for p in pattern.split(part)]
    parts = [p for p in parts if p]
    if len(parts) < 2 or any(not content_words(search_text(p)[0]) for p in parts):
        return []
    return parts[:4]


def refers_back(step: str) -> bool:
    """Whether a step leans on an earlier answer ("where does it go?") and needs that answer's words."""
    return bool(_REFERS.search(step)) or len(content_words(search_text(step)[0])) < 2
