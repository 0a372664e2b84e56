"""Evidence for an answer: search the plan's sub-queries, merge the moments into numbered citations.

Usage::

    plan = understand("When does the night ferry leave?", tenant)
    for c in gather(tenant, plan, settings):
        print(c.n, c.name, c.start, c.end, c.texts)   # texts: [(route, text), ...] said/shown in that range

Moments of one video that overlap become one citation; citations are numbered 1..n by score and
trimmed, whole, to `settings.llm_max_context_tokens`. Each citation carries all the text said or
shown within its range (a sentence can be cut across OCR lines, only some of which matched).
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from vidseek.errors import QueryError, StoreError
from vidseek.records import TEXT_ROUTES, Moment

if TYPE_CHECKING:
    from vidseek.answer.source import Library
    from vidseek.answer.understand import Plan
    from vidseek.settings import Settings

log = logging.getLogger(__name__)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_HEADER_TOKENS = 16  # "[12] video: "name.mp4" 1:02–1:10" and the line breaks around a source
MAX_CITATIONS = 20
_ROUTE_ORDER = {r: i for i, r in enumerate((*TEXT_ROUTES, "visual"))}


def estimate_tokens(text: str) -> int:
    """Rough LLM token count: one per CJK character, one per 4 other characters (`estimate_tokens("ab cd")` -> 2)."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


@dataclass
class Citation:
    """One numbered source: a time range in one video and what is said/shown there.

    Usage: `for c in gather(tenant, plan, settings): print(f"[{c.n}] {c.name} {c.start}-{c.end}", c.texts)`."""

    n: int
    video_id: int
    library_id: int | None
    path: str
    name: str
    start: float
    end: float
    score: float
    texts: list[tuple[str, str]] = field(default_factory=list)  # (route, text): everything in the range
    evidence: list[dict[str, Any]] = field(default_factory=list)  # what matched: route, score, start, end, text
    thumbnail: str | None = None
    origin: str = ""  # content fingerprint: copies of one file are one source, not several
    spans: list[tuple[str, float, str]] = field(default_factory=list, repr=False)  # (route, start, text) of texts
    library: str | None = None  # the library's name
    also_in: list[str] = field(default_factory=list)  # other libraries holding the same file (one source)

    @property
    def routes(self) -> list[str]:
        """Routes of the evidence that matched: `["ocr", "speech"]`."""
        return sorted({e["route"] for e in self.evidence})

    def readable(self) -> list[tuple[str, str]]:
        """(route, text) with the on-screen lines of one shot joined: "night ferry from pier 7 leaves at 9:00"."""
        out: list[tuple[str, str]] = []
        last: tuple[str, float] | None = None
        for route, start, text in self.spans or [(r, self.start, t) for r, t in self.texts]:
            if route == "ocr" and last == (route, round(start, 1)) and out:
                out[-1] = (route, f"{out[-1][1]} {text.strip()}")
            else:
                out.append((route, text.strip()))
            last = (route, round(start, 1))
        return out

    def tokens(self) -> int:
        """Estimated prompt tokens of this source (header and texts): `fit_budget` adds these up."""
        return _HEADER_TOKENS + sum(estimate_tokens(t) + 4 for _, t in self.texts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: n, video_id, library_id, path, name, start, end, score, routes, thumbnail, texts, evidence,
        library, also_in."""
        return {"n": self.n, "video_id": self.video_id, "library_id": self.library_id, "path": self.path,
                "name": self.name, "start": round(self.start, 2), "end": round(self.end, 2),
                "score": round(self.score, 4), "routes": self.routes, "thumbnail": self.thumbnail,
                "texts": [{"route": r, "text": t} for r, t in self.texts], "evidence": self.evidence,
                "library": self.library, "also_in": self.also_in}


def gather(tenant: Library, plan: Plan, settings: Settings, per_query: int = 12,
           trace: list[str] | None = None) -> list[Citation]:
    """Run the plan's sub-queries, merge overlapping moments per video, number by score, fit the token budget."""
    moments: list[Moment] = []
    for text, routes in plan.sub_queries:
        if not text.strip() or not routes:
            continue
        search = tenant.search(text).routes(*routes).limit(per_query).per_video(3)
        if plan.min_score is not None:
            search.min_score(plan.min_score)
        try:
            found = search.where(**plan.filters).to_list()
        except QueryError as exc:
            _note(trace, f"search {text!r} refused: {exc}")
            continue
        moments += found
        skipped = f", skipped {search.trace.routes_skipped}" if search.trace.routes_skipped else ""
        _note(trace, f"search {text!r} {routes} {plan.filters or ''}-> {len(found)} moments "
                     f"({search.trace.seconds * 1000:.0f} ms{skipped})")
    moments, also = one_per_file(tenant, moments)
    citations = merge(moments)[:MAX_CITATIONS]
    for c in citations:
        c.also_in = sorted(also.get(c.video_id, ()))
    _add_context(tenant, citations, trace)
    kept = fit_budget(citations, settings.llm_max_context_tokens)
    if len(kept) < len(citations):
        _note(trace, f"token budget {settings.llm_max_context_tokens}: kept {len(kept)} of {len(citations)} sources")
    _fill_origins(tenant, kept)
    return kept


def _note(trace: list[str] | None, line: str) -> None:
    if trace is not None:
        trace.append(line)


def one_per_file(tenant: Library, moments: list[Moment]) -> tuple[list[Moment], dict[int, set[str]]]:
    """One file indexed in two libraries is two videos with one content hash, and one source: its
    moments all point at the copy that has the best one. Also returns, per kept video, the other
    copies' library names."""
    ids = {m.video_id for m in moments}
    if len(ids) < 2:
        return moments, {}
    videos = tenant.catalog.videos_by_ids(ids, tenant.name)

    def key(video_id: int) -> str:
        v = videos.get(video_id)
        return v.content_hash if v is not None and v.content_hash else f"video:{video_id}"

    best: dict[str, Moment] = {}
    for m in sorted(moments, key=lambda m: -m.score):
        best.setdefault(key(m.video_id), m)
    also: dict[int, set[str]] = {}
    out = []
    for m in moments:
        b = best[key(m.video_id)]
        if m.video_id != b.video_id:
            if m.library and m.library != b.library:
                also.setdefault(b.video_id, set()).add(m.library)
            m = replace(m, video_id=b.video_id, library_id=b.library_id, library=b.library, path=b.path,
                        thumbnail=None, shot=None)
        out.append(m)
    return out, also


def merge(moments: list[Moment]) -> list[Citation]:
    """Moments -> citations: overlapping ranges of one video become one, numbered 1..n by score."""
    by_video: dict[int, list[Moment]] = {}
    for m in moments:
        by_video.setdefault(m.video_id, []).append(m)
    out: list[Citation] = []
    for group in by_video.values():
        group.sort(key=lambda m: m.start)
        current: Citation | None = None
        for m in group:
            if current is not None and m.start <= current.end:
                _absorb(current, m)
            else:
                current = _citation(m)
                out.append(current)
    out.sort(key=lambda c: (-c.score, c.video_id, c.start))
    for i, c in enumerate(out, 1):
        c.n = i
    return out


def _citation(m: Moment) -> Citation:
    c = Citation(0, m.video_id, m.library_id, m.path, m.name, m.start, m.end, m.score, thumbnail=m.thumbnail,
                 library=m.library)
    _absorb(c, m)
    return c


def _absorb(c: Citation, m: Moment) -> None:
    c.start, c.end = min(c.start, m.start), max(c.end, m.end)
    if m.score > c.score:
        c.score, c.thumbnail = m.score, m.thumbnail or c.thumbnail
    seen = {(e["route"], e["text"], e["start"]) for e in c.evidence}
    for e in m.evidence:
        if (e.route, e.text, round(e.start, 2)) not in seen:
            c.evidence.append({"route": e.route, "score": round(e.score, 4), "start": round(e.start, 2),
                               "end": round(e.end, 2), "text": e.text})
            seen.add((e.route, e.text, round(e.start, 2)))
    _set_texts(c, c.evidence)


def _set_texts(c: Citation, rows: list[dict[str, Any]]) -> None:
    """`texts` (and `spans`, with times) in reading order: route, then time; each text once."""
    ordered = sorted((r for r in rows if r.get("text")), key=lambda r: (_ROUTE_ORDER.get(r["route"], 9), r["start"]))
    spans: dict[tuple[str, str], float] = {}
    for r in ordered:
        spans.setdefault((r["route"], r["text"]), float(r["start"]))
    c.spans = [(route, start, text) for (route, text), start in spans.items()]
    c.texts = list(spans)


def _add_context(tenant: Library, citations: list[Citation], trace: list[str] | None) -> None:
    """All text rows inside each citation's range (one store query); the matched evidence alone if it fails."""
    if not citations:
        return
    t0 = time.perf_counter()
    try:
        rows = tenant.texts_in([(c.video_id, c.start, c.end) for c in citations])
    except StoreError as exc:  # the matched evidence still answers
        log.warning("reading the text around the cited moments failed: %s", exc)
        _note(trace, f"context rows unavailable ({exc}); using the matched text only")
        return
    for c in citations:
        mine = [{"route": r.route, "start": r.start, "text": r.text} for r in rows
                if r.video_id == c.video_id and r.start < c.end + 0.01 and r.end > c.start - 0.01]
        _set_texts(c, c.evidence + mine)  # the title row (name, folder, description) sorts last
    took = (time.perf_counter() - t0) * 1000
    _note(trace, f"context: {len(rows)} text rows for {len(citations)} sources ({took:.0f} ms)")


def fit_budget(citations: list[Citation], budget: int) -> list[Citation]:
    """The best citations that fit `budget` tokens, whole, renumbered 1..k (the best is kept, cut, if alone too big)."""
    kept: list[Citation] = []
    used = 0
    for c in citations:
        cost = c.tokens()
        if used + cost <= budget:
            kept.append(c)
            used += cost
        elif not kept:
            kept.append(_cut(c, budget))
            used = budget
    for i, c in enumerate(kept, 1):
        c.n = i
    return kept


def _cut(c: Citation, budget: int) -> Citation:
    room = max(budget - _HEADER_TOKENS, 8)
    texts = []
    for route, text in c.texts:
        cost = estimate_tokens(text) + 4
        if cost > room:
            texts.append((route, text[: max(room * 2, 16)] + "…"))
            break
        texts.append((route, text))
        room -= cost
    starts = {(route, text): start for route, start, text in c.spans}
    c.spans = [(route, starts.get((route, text), c.start), text) for route, text in texts]
    c.texts = texts
    return c


def _fill_origins(tenant: Library, citations: list[Citation]) -> None:
    videos = tenant.catalog.videos_by_ids((c.video_id for c in citations), tenant.name)
    for c in citations:
        v = videos.get(c.video_id)
        c.origin = v.content_hash if v is not None and v.content_hash else f"video:{c.video_id}"
