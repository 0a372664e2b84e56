"""The answer without an LLM: the best evidence sentences, voted on by independent videos, never invented.

Usage::

    result = answer_extractive("night ferry leave pier seven", citations, cutoff=0.3, expects="time")
    result.text   # 'The night ferry leaves pier seven at nine [1][2][3]. One video says otherwise: "..." [4].'

Every sentence of the cited moments that covers the question well enough is a statement. Statements
that say the same thing (same content words, and exactly the same numbers, times and dates) form a
group; a group's support is the number of different videos saying it. The best-supported group
answers; a group with the same words but other numbers disagrees and is reported in one line. The
answer quotes the sources; the only words added are fixed phrases ("One video says otherwise").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from vidseek.answer.evidence import Citation
from vidseek.answer.numbers import EN_NUMBERS, ZH_DIGITS, zh_number
from vidseek.search.scoring import QueryTerms, text_score
from vidseek.text import STOPWORDS, normalize, tokens

NOT_FOUND = {"en": "Not found in this library.", "zh": "本库中没有找到答案。"}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\b\.?|\b(\d{1,2}):(\d{2})\b")
_DATE = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")
_ZH_WEEKDAY = re.compile(r"(?:星期|周|礼拜)([一二三四五六日天])")
_ZH_NUMBER = re.compile(r"第?([零〇一二两三四五六七八九十百千]+)(?=[点时分秒号日月年天个位次元块岁路层楼条])")
_NAMES = {w: f"w{i}" for i, w in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_NAMES.update({w: f"m{i + 1}" for i, w in enumerate(
    "january february march april june july august september october november december".split())})
_NOISE = {"o", "clock", "oclock", "am", "pm", "a.m", "p.m"}
SAME_WORDS = 0.6  # Jaccard of content words for two sentences to say the same thing


@dataclass
class Statement:
    """One sentence of one citation, with what it asserts split into words and values."""

    text: str
    n: int  # citation number
    origin: str  # copies of one file share it: they are one source, not several
    relevance: float
    words: frozenset[str]
    values: frozenset[str]  # numbers, times, dates, weekdays: compared exactly


@dataclass
class Group:
    """Statements that say the same thing; `support` counts independent videos."""

    statements: list[Statement] = field(default_factory=list)

    @property
    def support(self) -> int:
        """How many independent videos say it (copies of one file count once)."""
        return len({s.origin for s in self.statements})

    @property
    def relevance(self) -> float:
        """The best coverage of the question among its statements, 0..1."""
        return max(s.relevance for s in self.statements)

    @property
    def best(self) -> Statement:
        """The statement quoted for the group: the most relevant (then the shortest)."""
        return max(self.statements, key=lambda s: (s.relevance, -len(s.text)))

    @property
    def numbers(self) -> list[int]:
        """Citation numbers of its statements, ascending."""
        return sorted({s.n for s in self.statements})


@dataclass
class Extract:
    """An extractive answer: the text, whether anything was found, and the groups it used."""

    text: str
    found: bool
    answer: Group | None = None
    others: list[Group] = field(default_factory=list)  # further statements that agree with the answer
    disagreeing: list[Group] = field(default_factory=list)


# reading sentences --------------------------------------------------------------------------------
def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix, shortest in (("ing", 6), ("ed", 5)):
        if word.endswith(suffix) and len(word) >= shortest:
            word = word[: -len(suffix)]
            break
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _hour(h: int, minutes: str | None) -> str:
    h = h % 12 or 12  # "9 pm", "21:00" and "nine" are one time: sources rarely disagree on am/pm
    return f"{h}:{minutes}" if minutes and minutes != "00" else str(h)


def facts(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(content words, values) of a sentence: `facts("Leaves at 9:00")` -> ({"leav"}, {"9"})."""
    values: list[str] = []

    def keep(value: str) -> str:
        values.append(value)
        return " "

    norm = normalize(text)
    norm = _TIME.sub(lambda m: keep(_hour(int(m[1]), m[2]) if m[1] else _hour(int(m[4]), m[5])), norm)
    norm = _DATE.sub(lambda m: keep(f"{int(m[1])}-{int(m[2])}-{int(m[3])}"), norm)
    norm = _ZH_WEEKDAY.sub(lambda m: keep(f"w{'一二三四五六日天'.index(m[1]) % 7 if m[1] != '天' else 6}"), norm)
    norm = _ZH_NUMBER.sub(lambda m: keep(_num(zh_number(m[1]))), norm)
    norm = re.sub(r"\d+(?:\.\d+)?", lambda m: keep(_num(float(m[0]))), norm)  # "pier 7", "9点" (glued to CJK)
    words: list[str] = []
    pending: list[int] = []  # a run of English number words: "twenty five" -> 25
    for tok in tokens(norm):
        if tok in EN_NUMBERS:
            pending.append(EN_NUMBERS[tok])
            continue
        if pending:
            values.append(str(sum(pending)))
            pending = []
        if tok in _NAMES:
            values.append(_NAMES[tok])
        elif len(tok) == 1 and tok in ZH_DIGITS:
            values.append(str(ZH_DIGITS[tok]))
        elif tok not in STOPWORDS and tok not in _NOISE:
            words.append(_stem(tok))
    if pending:
        values.append(str(sum(pending)))
    return frozenset(words), frozenset(values)


def _num(value: float | None) -> str:
    return "" if value is None else (str(int(value)) if value == int(value) else str(value))


def _blocks(c: Citation) -> list[str]:
    """Readable units of a citation: each speech row, the on-screen lines of one shot, video descriptions."""
    out: list[str] = []
    for route, text in c.readable():
        if route == "title":
            out += [p.strip() for p in text.split(" | ")[2:] if p.strip()]  # name | folder | description
        elif route != "visual":
            out.append(text)
    return out


def statements(citations: Sequence[Citation], search_text: str, expects: str | None = None) -> list[Statement]:
    """Every sentence of the citations, scored against the question (best first)."""
    query = QueryTerms.parse(search_text)
    asked = facts(search_text)[1]
    out: list[Statement] = []
    seen: set[tuple[int, str]] = set()
    for c in citations:
        for block in _blocks(c):
            for sentence in _SENTENCE_END.split(block):
                sentence = sentence.strip()
                key = (c.n, normalize(sentence))
                if len(tokens(sentence)) < 2 or sentence.endswith(("?", "？")) or key in seen:
                    continue
                seen.add(key)
                words, values = facts(sentence)
                relevance = text_score(query, sentence, fuzzy=True)
                if expects in ("time", "number") and values - asked:
                    relevance = min(1.0, relevance + 0.1)  # it has the kind of answer asked for
                out.append(Statement(sentence, c.n, c.origin or f"n{c.n}", relevance, words, values))
    out.sort(key=lambda s: -s.relevance)
    return out


# grouping and voting ------------------------------------------------------------------------------
def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / len(a | b) >= SAME_WORDS or (min(len(a), len(b)) >= 3 and inter / min(len(a), len(b)) >= 0.85)


def group_statements(found: list[Statement], asked: frozenset[str] = frozenset()) -> list[Group]:
    """Greedy grouping, best statements first: same words and the same new values (beyond the question's)."""
    groups: list[Group] = []
    for s in found:
        for g in groups:
            head = g.statements[0]
            if _similar(s.words, head.words) and s.values - asked == head.values - asked:
                g.statements.append(s)
                break
        else:
            groups.append(Group([s]))
    return groups


def disagrees(a: Group, b: Group, asked: frozenset[str] = frozenset()) -> bool:
    """Same statement, other numbers: "leaves at nine" vs "leaves at ten" (both must state a value)."""
    va, vb = a.statements[0].values - asked, b.statements[0].values - asked
    return bool(va) and bool(vb) and va != vb and _similar(a.statements[0].words, b.statements[0].words)


def answer_extractive(search_text: str, citations: Sequence[Citation], cutoff: float, language: str = "en",
                      expects: str | None = None) -> Extract:
    """The extractive answer (see module doc); "Not found in this library." when nothing reaches `cutoff`."""
    asked = facts(search_text)[1]
    relevant = [s for s in statements(citations, search_text, expects) if s.relevance >= cutoff]
    if not relevant:
        return Extract(NOT_FOUND.get(language, NOT_FOUND["en"]), False)
    groups = group_statements(relevant, asked)

    def rank(g: Group) -> tuple:
        answers = expects not in ("time", "number") or bool(g.statements[0].values - asked)
        return (answers, g.support, round(g.relevance, 3), -g.numbers[0])

    groups.sort(key=rank, reverse=True)
    main = groups[0]
    against = [g for g in groups[1:] if disagrees(main, g, asked)]
    others = [g for g in groups[1:] if g not in against and rank(g)[0] and g.relevance >= 0.85 * main.relevance
              and not any(disagrees(g, o, asked) for o in (main, *against))][:2]
    lines = [_claim(g, language) for g in (main, *others)]
    if against:
        lines.append(_otherwise(against, language))
    return Extract(" ".join(lines), True, main, others, against)


def _cites(numbers: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


def _clean(text: str) -> str:
    """A quote as it will be shown: brackets become parentheses (so no quote looks like a citation)."""
    text = text.replace("[", "(").replace("]", ")").replace("【", "(").replace("】", ")").strip()
    return re.sub(r"[\s.。!！;；,，:：]+$", "", text)


def _claim(g: Group, language: str) -> str:
    text = _clean(g.best.text)
    if language == "zh":
        return f"{text}{_cites(g.numbers)}。"
    return f"{text[:1].upper()}{text[1:]} {_cites(g.numbers)}."


def _otherwise(against: list[Group], language: str) -> str:
    videos = len({s.origin for g in against for s in g.statements})
    numbers = sorted({n for g in against for n in g.numbers})
    quote = _clean(max(against, key=lambda g: (g.support, g.relevance)).best.text)
    if language == "zh":
        return f"另有{videos}个视频的说法不同：“{quote}”{_cites(numbers)}。"
    who = "One video says" if videos == 1 else f"{videos} videos say"
    return f'{who} otherwise: "{quote}" {_cites(numbers)}.'
