"""Turn raw recall scores into calibrated 0..1 relevance, comparable across queries.

BM25 scores grow with query length and corpus statistics, so they cannot carry a "no match"
cutoff. Text hits are therefore re-scored by how much of the query's content the text covers:
every query token is looked for in the text (exact, same stem, prefix or near-identical spelling to
absorb OCR/ASR slips), weighted so that stop words barely count. The semantic side (a calibrated
embedding score, `vidseek.analyze.embed`) joins the lexical one by noisy-OR in `hybrid_score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from rapidfuzz.distance import Indel

from vidseek.text import STOPWORDS, has_cjk, tokens

_STOP_WEIGHT = 0.15
_STEM_CREDIT = 0.9  # "asked" for "ask", "americans" for "american"
_PREFIX_CREDIT = 0.8  # "skateboard" in "skateboarding"
_FUZZY_MIN = 0.84  # OCR slip: "shutterstcck"
_BOTH_MIN = 0.2  # each side must reach this for a hit to count as matched by words *and* meaning
_SUFFIXES = ("ing", "ies", "ied", "es", "ed", "s")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light English stem, enough to meet inflections: `stem("asked") == stem("asks") == "ask"`."""
    if has_cjk(word) or len(word) < 4 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix in ("ing", "ed") and len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
                return base[:-1]  # "running" -> "run"
            return base
    return word


@dataclass(frozen=True)
class QueryTerms:
    """A query broken into weighted matching units; build once per query."""

    terms: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, query: str) -> QueryTerms:
        terms = tuple(dict.fromkeys(tokens(query)))  # dedupe, keep order
        weights = tuple(_STOP_WEIGHT if t in STOPWORDS else 1.0 for t in terms)
        return cls(terms, weights)

    @property
    def empty(self) -> bool:
        return not self.terms

    @property
    def content_count(self) -> int:
        return sum(1 for w in self.weights if w == 1.0)


@lru_cache(maxsize=200_000)
def _fuzzy_ratio(term: str, tok: str) -> float:
    """difflib's ratio, computed only when rapidfuzz's Indel similarity (2·LCS/total, in C) reaches the
    cutoff: it bounds difflib's from above (its matched blocks are a common subsequence), and most
    pairs fall short of it. Building a SequenceMatcher per pair cost ~8 us, most of a fuzzy search."""
    if Indel.normalized_similarity(term, tok) < _FUZZY_MIN - 1e-9:  # (1 - d/total can round below 2M/total)
        return 0.0
    return SequenceMatcher(None, term, tok).ratio()


@lru_cache(maxsize=100_000)
def row_tokens(text: str) -> frozenset[str]:
    """Tokens of a stored row's text, cached: popular rows come back in many searches (and twice in one
    when the fuzzy fallback runs)."""
    return frozenset(tokens(text))


@lru_cache(maxsize=100_000)
def _stem_set(text_tokens: frozenset[str]) -> frozenset[str]:
    return frozenset(stem(t) for t in text_tokens)


@lru_cache(maxsize=100_000)
def _prefix_set(text_tokens: frozenset[str]) -> frozenset[str]:
    """Every prefix of 4+ characters of the row's tokens of 4+, so "is `term` a prefix of a token" is one lookup."""
    return frozenset(tok[:n] for tok in text_tokens if len(tok) >= 4 for n in range(4, len(tok) + 1))


def _term_credit(term: str, text_tokens: frozenset[str], fuzzy: bool) -> float:
    if term in text_tokens:
        return 1.0
    if has_cjk(term) or len(term) < 3:
        return 0.0
    if stem(term) in _stem_set(text_tokens):
        return _STEM_CREDIT
    if len(term) < 4:
        return 0.0
    # a token that starts with the term ("skateboard" in "skateboarding"), or one of 4+ the term starts with
    prefix = term in _prefix_set(text_tokens) or any(term[:n] in text_tokens for n in range(4, len(term)))
    best = _PREFIX_CREDIT if prefix else 0.0
    if not fuzzy:
        return best
    for tok in text_tokens:
        if abs(len(tok) - len(term)) <= 2 and not (len(tok) >= 4 and (tok.startswith(term) or term.startswith(tok))):
            ratio = _fuzzy_ratio(term, tok)
            if ratio >= _FUZZY_MIN:
                best = max(best, ratio * 0.9)
    return best


def coverage(query: QueryTerms, text: str, fuzzy: bool = True) -> float:
    """Weighted fraction of the query found in `text`, 0..1.

    >>> round(coverage(QueryTerms.parse("a red circle"), "there is a red circle here"), 2)
    1.0
    """
    if query.empty:
        return 0.0
    text_tokens = row_tokens(text)
    got = sum(w * _term_credit(t, text_tokens, fuzzy) for t, w in zip(query.terms, query.weights))
    return got / sum(query.weights)


def text_score(query: QueryTerms, text: str, fuzzy: bool = True) -> float:
    """Calibrated relevance of a text hit: coverage, squared when the query has several content
    words so that matching one word of three stays under the default cutoff.

    `fuzzy` also credits near-identical spellings (slow: SequenceMatcher per token pair), which
    only matters for rows recalled by trigrams.
    """
    cov = coverage(query, text, fuzzy)
    return cov * cov if query.content_count >= 2 else cov


def hybrid_score(lexical: float, semantic: float) -> tuple[float, str]:
    """One calibrated score for a text hit from its word and meaning scores, and how it matched.

    Noisy-OR, as between routes: agreement raises confidence, and each side alone keeps its meaning
    against the cutoff. >>> hybrid_score(0.5, 0.5) == (0.75, "both")
    """
    score = 1.0 - (1.0 - lexical) * (1.0 - semantic)
    if min(lexical, semantic) >= _BOTH_MIN:
        return score, "both"
    return score, "lexical" if lexical >= semantic else "semantic"
