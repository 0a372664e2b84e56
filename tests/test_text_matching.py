"""The word side of text matching: normalisation, tokens, and the re-scoring of BM25 hits.

These are the hot loops of every text search (hundreds of rows a query), so they have fast paths;
each test here pins a fast path to the slow, obviously right computation it replaces."""

from __future__ import annotations

import random
from difflib import SequenceMatcher

import pytest

from vidseek.analyze.embed import background_sentences
from vidseek.search import scoring
from vidseek.search.scoring import QueryTerms, coverage, text_score
from vidseek.text import _t2s, _traditional, normalize, search_terms, spelled_words


def _reference_normalize(text: str) -> str:
    import re
    import unicodedata

    return re.sub(r"\s+", " ", _t2s().convert(unicodedata.normalize("NFKC", text))).strip().lower()


def _sentences() -> list[str]:
    import opencc

    zh = background_sentences()["zh"] + ["欢迎使用视频搜索引擎", "广州楼市观察", "我们反复思量", "这是有序的发展"]
    traditional = [opencc.OpenCC("s2t").convert(s) for s in zh] + [opencc.OpenCC("s2twp").convert(s) for s in zh]
    odd = ["  視頻搜索  ENGINE ", "a\u00a0b\u3000c\td\n", "反覆 回覆"]
    return zh + traditional + background_sentences()["en"] + odd


def test_normalize_gives_what_opencc_gives_on_every_sentence():
    sentences = _sentences()
    assert [normalize(s) for s in sentences] == [_reference_normalize(s) for s in sentences]
    assert normalize("  視頻搜索  ENGINE ") == "视频搜索 engine"
    assert normalize("反覆") == "反复"  # a phrase of characters that are also Simplified on their own


def test_simplified_and_latin_text_skip_opencc():
    assert not _traditional("欢迎使用视频搜索引擎") and not _traditional("the housing market in guangzhou")
    assert _traditional("視頻") and _traditional("反覆思量")


def test_search_terms_add_trigrams_of_all_or_of_the_given_words():
    assert search_terms("Shutterstock 2024", fuzzy=False) == "shutterstock 2024"
    grams = "shu hut utt tte ter ers rst sto toc ock pho hot oto tos"
    assert search_terms("Shutterstock photos") == f"shutterstock photos {grams}"
    assert search_terms("Shutterstock photos", fuzzy=["photos"]) == "shutterstock photos pho hot oto tos"
    assert spelled_words("The Shutterstock photos of 2024") == ["shutterstock", "photos"]


def _difflib_ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio()


def test_fuzzy_ratio_is_difflibs_wherever_it_can_reach_the_cutoff():
    rng = random.Random(7)
    letters = "aeioulmnrstdk"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 11))) for _ in range(400)]
    # near-misses of each word too: one letter changed, dropped or doubled
    for w in list(words[:150]):
        i = rng.randrange(len(w))
        words += [w[:i] + rng.choice(letters) + w[i + 1 :], w[:i] + w[i + 1 :], w[:i] + w[i] + w[i:]]
    pairs = [(a, b) for a in words[:60] for b in words if a != b]
    close = 0
    for a, b in pairs:
        want = _difflib_ratio(a, b)
        got = scoring._fuzzy_ratio.__wrapped__(a, b)
        if want >= scoring._FUZZY_MIN:
            close += 1
            assert got == want, (a, b)
        else:
            assert got < scoring._FUZZY_MIN, (a, b)
    assert close > 20  # the check saw pairs on both sides of the cutoff


def _reference_credit(term: str, tokens: frozenset[str], fuzzy: bool) -> float:
    """The credit as first written: a loop over the row's tokens."""
    if term in tokens:
        return 1.0
    if scoring.has_cjk(term) or len(term) < 3:
        return 0.0
    if scoring.stem(term) in {scoring.stem(t) for t in tokens}:
        return scoring._STEM_CREDIT
    if len(term) < 4:
        return 0.0
    best = 0.0
    for tok in tokens:
        if len(tok) >= 4 and (tok.startswith(term) or term.startswith(tok)):
            best = max(best, scoring._PREFIX_CREDIT)
        elif fuzzy and abs(len(tok) - len(term)) <= 2:
            ratio = _difflib_ratio(term, tok)
            if ratio >= scoring._FUZZY_MIN:
                best = max(best, ratio * 0.9)
    return best


@pytest.mark.parametrize("fuzzy", [False, True])
def test_term_credit_matches_the_token_loop(fuzzy):
    rows = ["the skateboarding kids at the skatepark", "shutterstcck watermark on the photos",
            "Kennedy asked his fellow Americans", "视频搜索引擎 engine", "runners running to the lighthouses",
            "a skate and a board", "photographers photograph the photo"]
    terms = ["skateboard", "skateboarding", "skate", "shutterstock", "watermarks", "american", "asked", "ask",
             "engines", "run", "running", "lighthouse", "photo", "photographs", "phot", "搜索", "board", "kids"]
    for row in rows:
        tokens = scoring.row_tokens(row)
        for term in terms:
            assert scoring._term_credit(term, tokens, fuzzy) == pytest.approx(_reference_credit(term, tokens, fuzzy)), (
                term, row)


def test_coverage_and_text_score():
    query = QueryTerms.parse("a red circle")
    assert coverage(query, "there is a red circle here") == 1.0
    assert text_score(QueryTerms.parse("skateboard park"), "skateboarding park") == pytest.approx(((0.9 + 1) / 2) ** 2)
    assert text_score(QueryTerms.parse("shutterstock"), "shutterstcck", fuzzy=False) == 0.0
    assert text_score(QueryTerms.parse("shutterstock"), "shutterstcck", fuzzy=True) > 0.75
