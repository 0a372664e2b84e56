"""Text normalisation shared by indexing and querying, so both sides meet in one script and case.

Whisper sometimes writes Traditional Chinese for Mandarin speech; a Simplified query would then
miss it. Everything that is stored or matched goes through `normalize` first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]+|[^\\W_]+", re.UNICODE)

# Low-information words get a small weight when measuring how much of a query a text covers.
STOPWORDS = frozenset(
    """a an the and or of to in on at for with by from is are was were be been it its this that
    these those as do does did not no can could will would shall should may might what which who
    whom how why when where there here i you he she we they me him her us them my your our their his
    hers its ours yours theirs
    的 了 在 是 和 与 或 及 也 都 就 而 着 过 把 被 让 给 这 那 一个 我们 你们 他们 吗 呢 吧 啊""".split()
)


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # opencc-python-reimplemented: pure Python, no native build needed

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _convertible() -> tuple[frozenset[str], dict[str, tuple[str, ...]]] | None:
    """What OpenCC's t2s can change: a Traditional character, or one of the few phrases made only of
    characters that are also Simplified (反覆 -> 反复). Text without any is left as it is, and OpenCC
    (pure Python, ~40 us a line) is skipped: most stored rows are Simplified or not Chinese at all."""
    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"
    try:
        chars = _opencc_pairs(folder / "TSCharacters.txt")
        phrases = _opencc_pairs(folder / "TSPhrases.txt")
    except (OSError, ValueError):
        return None  # another OpenCC layout: always convert
    changed = frozenset(k for k, v in chars.items() if v != k)
    bare: dict[str, tuple[str, ...]] = {}
    for phrase in phrases:
        if changed.isdisjoint(phrase):
            bare[phrase[0]] = (*bare.get(phrase[0], ()), phrase)
    return changed, bare


def _traditional(text: str) -> bool:
    found = _convertible()
    if found is None or not found[0].isdisjoint(text):
        return True
    bare = found[1]
    return any(p in text for c in bare.keys() & set(text) for p in bare[c])


def _opencc_pairs(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, values = line.split("\t", 1)
            pairs[key] = values.split()[0]
    return pairs


def has_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


def display_text(text: str) -> str:
    """Text as evidence shows it: NFKC, Traditional -> Simplified Chinese, collapsed spaces, its case kept.

    >>> display_text("  視頻搜索  ENGINE ")
    '视频搜索 ENGINE'
    """
    text = unicodedata.normalize("NFKC", text)
    if has_cjk(text) and _traditional(text):
        text = _t2s().convert(text)
    return " ".join(text.split())  # str.split() splits on the same whitespace as re's \s


def normalize(text: str) -> str:
    """What matching compares: `display_text`, lower-cased.

    >>> normalize("  視頻搜索  ENGINE ")
    '视频搜索 engine'
    """
    return display_text(text).lower()


def tokens(text: str) -> list[str]:
    """Matching units of normalised text: latin/digit words, and CJK character bigrams.

    Bigrams (not dictionary words) keep Chinese matching robust to ASR/OCR character errors and
    to segmentation differences between the query and the transcript.

    >>> tokens("视频搜索 engine")
    ['视频', '频搜', '搜索', 'engine']
    """
    out: list[str] = []
    for run in _TOKEN_RE.findall(normalize(text)):
        if _CJK_RE.match(run):
            out.extend(run if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        else:
            out.append(run)
    return out


_LATIN_WORD_RE = re.compile(r"[a-z0-9]{5,}")


def spelled_words(text: str) -> list[str]:
    """The latin words (5+ letters or digits) of normalised text: those trigrams can recall misspelt."""
    return _LATIN_WORD_RE.findall(normalize(text))


def search_terms(text: str, fuzzy: bool | Collection[str] = True) -> str:
    """What the BM25 index sees: the normalised text plus character trigrams of longer latin words
    (of all of them, or only of the words in `fuzzy` when it is a collection).

    The trigrams let a query recall text that OCR or ASR spelled slightly wrong ("shutterstsc"
    for "shutterstock"); the re-scoring in `search.scoring` then decides how close it really is.

    >>> search_terms("Shutterstock 2024")
    'shutterstock 2024 shu hut utt tte ter ers rst sto toc ock'
    """
    norm = normalize(text)
    if not fuzzy:
        return norm
    words = [w for w in _LATIN_WORD_RE.findall(norm) if fuzzy is True or w in fuzzy]
    grams = [w[i : i + 3] for w in words for i in range(len(w) - 2)]
    return " ".join([norm, *dict.fromkeys(grams)]) if grams else norm
