"""The one search path used by the Python API, the CLI and the server.

Usage::

    lib.search("a dog on a skateboard").routes("visual", "speech").limit(5).to_list()
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vidseek.errors import QueryError
from vidseek.records import ROUTES, TEXT_ROUTES, VISUAL, Moment
from vidseek.search.fuse import ScoredHit, fuse, promising
from vidseek.search.scoring import QueryTerms, text_score
from vidseek.text import normalize

if TYPE_CHECKING:
    from vidseek.library import Library


@dataclass
class SearchTrace:
    """What happened during one search, for --verbose / JSON output and benchmarks."""

    routes_used: list[str] = field(default_factory=list)
    routes_skipped: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Search:
    """A chainable query. Builder methods validate, store and return `self`."""

    def __init__(self, library: Library, text: str):
        if not text or not text.strip():
            raise QueryError("the query is empty: give a sentence or keywords to search for")
        self._lib = library
        self._text = text.strip()
        self._limit = 10
        self._min_score = library.settings.min_score
        self._routes: list[str] = [r for r in ROUTES if r in library.settings.routes]
        self._path_prefix: str | None = None
        self._video_ids: list[int] | None = None
        self._min_duration: float | None = None
        self._max_duration: float | None = None
        self._per_video = 3
        self.trace = SearchTrace()

    def limit(self, n: int) -> Search:
        if n < 1 or n > 1000:
            raise QueryError(f"limit must be between 1 and 1000, got {n}")
        self._limit = n
        return self

    def min_score(self, score: float) -> Search:
        if not 0.0 <= score <= 1.0:
            raise QueryError(f"min_score must be between 0 and 1, got {score}")
        self._min_score = score
        return self

    def routes(self, *routes: str) -> Search:
        unknown = [r for r in routes if r not in ROUTES]
        if unknown or not routes:
            raise QueryError(f"unknown route(s) {unknown}; choose from {list(ROUTES)}")
        self._routes = list(routes)
        return self

    def per_video(self, n: int) -> Search:
        if n < 1:
            raise QueryError("per_video must be at least 1")
        self._per_video = n
        return self

    def where(self, path_prefix: str | None = None, video_id: int | list[int] | None = None,
              min_duration: float | None = None, max_duration: float | None = None) -> Search:
        """Filter by path prefix, video id(s), and video duration in seconds."""
        if path_prefix is not None:
            self._path_prefix = path_prefix
        if video_id is not None:
            self._video_ids = [video_id] if isinstance(video_id, int) else list(video_id)
        if min_duration is not None:
            self._min_duration = min_duration
        if max_duration is not None:
            self._max_duration = max_duration
        return self

    # execution ----------------------------------------------------------------------------
    def _filtered(self) -> bool:
        return any(v is not None for v in (self._path_prefix, self._video_ids, self._min_duration,
                                            self._max_duration))

    def _allowed(self) -> set[int]:
        """Ids of indexed videos passing the filters (only computed when there are filters)."""
        out = set()
        for v in self._lib.catalog.videos(status="done"):
            if self._path_prefix and not v.path.startswith(self._path_prefix):
                continue
            if self._video_ids is not None and v.id not in self._video_ids:
                continue
            if self._min_duration is not None and v.duration < self._min_duration:
                continue
            if self._max_duration is not None and v.duration > self._max_duration:
                continue
            out.add(v.id)
        return out

    def _recall_text(self, routes: list[str], flt: str) -> list[ScoredHit]:
        query = QueryTerms.parse(self._text)
        if query.empty:
            return []
        route_flt = f"route in {routes}"
        expr = f"({flt}) and {route_flt}" if flt else route_flt
        k = self._lib.settings.recall_k
        scored = self._score_text(query, self._lib.store.search_text(self._text, k, expr), fuzzy=False)
        self.trace.candidates["text"] = len(scored)
        if not any(h.score >= self._min_score for h in scored):
            # No exact word matched well: retry with trigrams to catch OCR/ASR misspellings.
            scored = self._score_text(query, self._lib.store.search_text(self._text, k, expr, fuzzy=True), fuzzy=True)
            self.trace.candidates["text_fuzzy"] = len(scored)
        return scored

    @staticmethod
    def _score_text(query: QueryTerms, hits: list, fuzzy: bool) -> list[ScoredHit]:
        return [ScoredHit(h.video_id, h.route, h.start, h.end, text_score(query, h.text or "", fuzzy), h.text)
                for h in hits]

    def _recall_visual(self, flt: str) -> list[ScoredHit]:
        if not self._lib.catalog.has_route(VISUAL):
            # Nothing was embedded (e.g. no model when indexing): don't load, or download, one.
            self.trace.routes_skipped[VISUAL] = "no indexed video has the visual route (see `vidseek status`)"
            return []
        encoder = self._lib.analyzers.get(VISUAL)
        if encoder is None:
            self.trace.routes_skipped[VISUAL] = self._lib.analyzers.reason(VISUAL) or "unavailable"
            return []
        vec = encoder.encode_texts([normalize(self._text)])[0]
        hits = self._lib.store.search_visual(vec, self._lib.settings.recall_k, flt)
        self.trace.candidates[VISUAL] = len(hits)
        raws = [h.raw for h in hits]
        scores = encoder.calibrate(raws) if raws else []
        return [ScoredHit(h.video_id, VISUAL, h.start, h.end, float(s)) for h, s in zip(hits, scores)]

    def to_list(self) -> list[Moment]:
        """Run the search: ranked moments with score >= min_score (possibly empty)."""
        t0 = time.perf_counter()
        catalog = self._lib.catalog
        if not catalog.done_count():
            return []
        allowed = self._allowed() if self._filtered() else None
        if allowed is not None and not allowed:
            return []
        # Unfiltered searches push no id list into Milvus: the expression would be huge at 100k videos.
        flt = f"video_id in {sorted(allowed)}" if allowed is not None else ""
        hits: list[ScoredHit] = []
        text_routes = [r for r in self._routes if r in TEXT_ROUTES]
        if text_routes:
            hits += self._recall_text(text_routes, flt)
        if VISUAL in self._routes:
            hits += self._recall_visual(flt)
        self.trace.routes_used = [r for r in self._routes if r not in self.trace.routes_skipped]
        hits = promising(hits, self._min_score)
        videos = catalog.videos_by_ids(h.video_id for h in hits)
        paths = {i: v.path for i, v in videos.items()
                 if v.status == "done" and (allowed is None or i in allowed)}
        segments = catalog.segments_for(paths)
        moments = fuse(hits, paths, lambda vid: segments.get(vid, []), self._per_video)
        moments = [m for m in moments if m.score >= self._min_score][: self._limit]
        self.trace.seconds = time.perf_counter() - t0
        return moments

    def to_dicts(self) -> list[dict]:
        return [m.to_dict() for m in self.to_list()]


__all__ = ["Search", "SearchTrace"]
