"""Run every query of an evaluation file against an index: fused, then each indexed route alone.

Usage::

    with vidseek.open("./data") as engine:
        run = run_eval(engine, load_queries("q.jsonl"), media_root="~/Videos", library="default")
        run.results[0].outcomes["fused"].rank      # rank of the first expected video (None = not found)

Each query is searched with `.limit(limit * per_video).per_video(per_video)` so that the top
`limit` distinct videos are always visible (R@10 needs 10 videos, and 3 moments per video would
otherwise show only 4); the first `limit` moments are kept as the record. Image-only queries are
"n/a" on the text routes (speech, ocr, title). Before timing, one untimed warm-up search per route
setting loads the models, so p50/p95 measure searches, not model start-up.

When the text routes can match by meaning, the ablation also runs every route fused with text matched
by words only (`lexical`) and by meaning only (`semantic`); `fused` is the default hybrid.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from vidseek.errors import VidseekError
from vidseek.eval.metrics import first_relevant_rank, top1_iou
from vidseek.eval.queries import EvalQuery
from vidseek.records import OPTIONAL_ROUTES, QUERY_ROUTES, TEXT_ROUTES, Moment

if TYPE_CHECKING:
    from vidseek.engine import Engine
    from vidseek.search.query import Search

FUSED = "fused"
MATCHES = ("lexical", "semantic")  # fused, with the text routes matching by words only / by meaning only
SETTINGS: tuple[str, ...] = (FUSED, *MATCHES, *QUERY_ROUTES)  # eval queries are sentences (or images)


@dataclass
class Hit:
    """One returned moment, as recorded: video path, range, fused score, routes and evidence."""

    path: str
    start: float
    end: float
    score: float
    routes: list[str]
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, m: Moment) -> Hit:
        evidence = [{"route": e.route, "score": round(e.score, 4), "start": round(e.start, 2),
                     "end": round(e.end, 2), "text": e.text, "match": e.match} for e in m.evidence]
        return cls(m.path, round(m.start, 2), round(m.end, 2), round(m.score, 4), m.routes, evidence)

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass
class Outcome:
    """One query under one route setting. status: "ok", "n/a" (route cannot answer it) or "error"."""

    setting: str
    status: str = "ok"
    note: str | None = None
    rank: int | None = None
    iou: float | None = None
    latency_ms: float | None = None
    total: int = 0
    returned: list[Hit] = field(default_factory=list)


@dataclass
class QueryResult:
    query: EvalQuery
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    missing_videos: list[str] = field(default_factory=list)  # expected, but not in the index


@dataclass
class EvalRun:
    """Everything a report needs: per-query results, the settings that were run, and the configuration."""

    results: list[QueryResult]
    settings: list[str]
    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class VideoMatcher:
    """Maps an expected video (relative to the media root) to the indexed paths that count as it.

    The resolved absolute path wins; if the index holds no such file (it was indexed under another
    root), every indexed path ending with the same relative path (on a folder boundary) counts."""

    def __init__(self, indexed_paths: Iterable[str], media_root: str | Path):
        self.root = Path(media_root).expanduser().resolve()
        self.indexed = set(indexed_paths)
        self._by_name: dict[str, list[str]] = {}
        for p in self.indexed:
            self._by_name.setdefault(PurePosixPath(p).name, []).append(p)

    def targets(self, rel: str) -> set[str]:
        """Indexed paths that are this expected video (empty when it is not in the index)."""
        resolved = str((self.root / rel).resolve())
        if resolved in self.indexed:
            return {resolved}
        parts = [p for p in PurePosixPath(rel.replace("\\", "/")).parts if p not in (".", "/")]
        if not parts or ".." in parts:
            return set()
        suffix = "/" + "/".join(parts)
        return {p for p in self._by_name.get(parts[-1], []) if p.endswith(suffix)}


def indexed_routes(videos: Sequence[Any]) -> list[str]:
    """Routes a query can be searched on alone that have rows in at least one finished video."""
    done = [v for v in videos if v.status == "done"]
    return [r for r in QUERY_ROUTES
            if any(v.route_state(r) == "done" and (v.routes[r].get("rows", 1) or 0) > 0 for v in done)]


def run_eval(engine: Engine, queries: Sequence[EvalQuery], media_root: str | Path, library: str | None = None,
             min_score: float | None = None, ablation: bool = True, limit: int = 10, per_video: int = 3,
             on_progress: Callable[[int, int], None] | None = None) -> EvalRun:
    """Search every query fused and (with `ablation`) with each indexed route alone; see the module doc."""
    tenant = engine.tenant()
    lib = tenant.library(library) if library else None
    videos = lib.videos() if lib else tenant.videos()
    if not any(v.status == "done" for v in videos):
        where = f"library {library!r}" if library else str(engine.settings.data_dir)
        raise VidseekError(f"nothing is indexed in {where}; pass --index FOLDER or run `vidseek index` first")
    routes = indexed_routes(videos)
    matches = list(MATCHES) if _semantic_on(engine, videos) else []
    settings = [FUSED, *matches] + [r for r in routes if r in engine.settings.routes] if ablation else [FUSED]
    cutoff = engine.settings.min_score if min_score is None else min_score
    matcher = VideoMatcher((v.path for v in videos if v.status == "done"), media_root)

    def start(q: EvalQuery) -> Search:
        return (lib.search(q.text, q.image) if lib else tenant.search(q.text, q.image)).min_score(cutoff)

    results = [QueryResult(q) for q in queries]
    for r in results:
        r.missing_videos = [v for v in r.query.videos if not matcher.targets(v)]
    total, done = len(results) * len(settings), 0
    skipped: dict[str, str] = {}
    for setting in settings:
        _warm_up(start, queries, setting, limit)
        for r in results:
            r.outcomes[setting] = _run_one(start, r.query, setting, matcher, limit, per_video, skipped)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
    config = _config(engine, tenant, library, media_root, cutoff, limit, per_video, routes, settings)
    return EvalRun(results, settings, config, _warnings(results, routes, skipped))


def _semantic_on(engine: Engine, videos: Sequence[Any]) -> bool:
    """True when some indexed video has text vectors from the configured text model."""
    embedder = engine.analyzers.embedder()
    return embedder is not None and any(v.status == "done" and v.embedding == embedder.tag for v in videos)


def _narrow(search: Search, setting: str) -> Search:
    if setting in MATCHES:
        return search.match(setting)
    return search if setting == FUSED else search.routes(setting)


def _run_one(start: Callable[[EvalQuery], Search], q: EvalQuery, setting: str, matcher: VideoMatcher,
             limit: int, per_video: int, skipped: dict[str, str]) -> Outcome:
    out = Outcome(setting)
    if setting in TEXT_ROUTES and not q.text:
        out.status, out.note = "n/a", f"an image-only query cannot be answered by the {setting} route"
        return out
    try:
        search = _narrow(start(q).limit(limit * per_video).per_video(per_video), setting)
        t0 = time.perf_counter()
        moments = search.to_list()
        out.latency_ms = (time.perf_counter() - t0) * 1000.0
    except VidseekError as exc:
        out.status, out.note = "error", str(exc)
        return out
    skipped.update(search.trace.routes_skipped)
    out.total = search.total
    out.returned = [Hit.of(m) for m in moments[:limit]]
    if q.in_library:
        wanted = set().union(*(matcher.targets(v) for v in q.videos))
        out.rank = first_relevant_rank([m.path for m in moments], wanted.__contains__)
        out.rank = out.rank if out.rank is None or out.rank <= limit else None
    if q.has_moment:
        first = matcher.targets(q.videos[0])
        top = (moments[0].path, moments[0].start, moments[0].end) if moments else None
        out.iou = top1_iou(top, first.__contains__, (q.start, q.end))
    return out


def _warm_up(start: Callable[[EvalQuery], Search], queries: Sequence[EvalQuery], setting: str, limit: int) -> None:
    """One untimed search, so the first timed query does not pay for loading a model."""
    q = next((q for q in queries if q.text or setting not in TEXT_ROUTES), None)
    if q is None:
        return
    try:
        _narrow(start(q).limit(limit), setting).to_list()
    except VidseekError:
        pass  # the timed run records the error for this query


def _config(engine: Engine, tenant: Any, library: str | None, media_root: str | Path, cutoff: float,
            limit: int, per_video: int, routes: list[str], settings: list[str]) -> dict[str, Any]:
    import vidseek

    status = tenant.status()
    return {
        "vidseek": vidseek.__version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data_dir": str(engine.settings.data_dir),
        "library": library,
        "media_root": str(Path(media_root).expanduser().resolve()),
        "min_score": cutoff,
        "limit": limit,
        "per_video": per_video,
        "routes_indexed": routes,
        "settings_run": settings,
        "models": status["models"],
        "model_versions": status["model_versions"],
        "videos": status["videos"],
        "hours": status["hours"],
    }


def _warnings(results: list[QueryResult], routes: list[str], skipped: dict[str, str]) -> list[str]:
    out = []
    missing = [r for r in results if r.missing_videos]
    if missing:
        first = missing[0]
        out.append(f"{len(missing)} queries expect videos that are not in the index (first: {first.query.id} "
                   f"expects {first.missing_videos[0]}); check --media and --library")
    absent = [r for r in QUERY_ROUTES if r not in routes and r not in OPTIONAL_ROUTES]  # optional: off unless asked
    if absent:
        out.append(f"not indexed, so not evaluated alone: {', '.join(absent)}")
    for route, why in skipped.items():
        if route not in routes:  # already said: not indexed
            continue
        out.append(f"{route} route {(why or 'off').splitlines()[0]}")
    errors = [(r.query.id, o.note) for r in results for o in r.outcomes.values() if o.status == "error"]
    if errors:
        out.append(f"{len(errors)} searches failed and count as misses (first: {errors[0][0]}: {errors[0][1]})")
    return out
