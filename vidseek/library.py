"""The public Python API: open a data dir, index paths, search, inspect, remove.

Usage::

    import vidseek
    with vidseek.open("~/.local/share/vidseek") as lib:
        lib.index(["~/Videos"])
        for m in lib.search("a dog riding a skateboard").limit(5).to_list():
            print(m.path, m.start, m.end, m.score)
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidseek.errors import VidseekError
from vidseek.index.analyzers import Analyzers
from vidseek.index.pipeline import FileResult, Progress, VideoIndexer
from vidseek.index.scan import scan
from vidseek.records import ROUTES
from vidseek.search.query import Search
from vidseek.settings import Settings
from vidseek.store.catalog import Catalog, VideoRecord
from vidseek.store.lock import DataDirLock
from vidseek.store.milvus import MilvusStore


@dataclass
class IndexReport:
    """Outcome of one `index` call: one result per file, plus path-level problems."""

    results: list[FileResult] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[tuple[str, str]]:
        return self.problems + [(r.path, r.error or "failed") for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


class Library:
    """An opened data dir. Holds the process lock until `close()` (or the `with` block ends)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(settings.data_dir)
        if settings.milvus_uri is None:  # a server handles its own concurrency
            self._lock.acquire()
        self.catalog = Catalog(settings.data_dir / "catalog.sqlite")
        self.analyzers = Analyzers(settings)
        self._store: MilvusStore | None = None

    @property
    def store(self) -> MilvusStore:
        if self._store is None:
            self._store = MilvusStore(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.catalog.close()
        self._lock.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # indexing -----------------------------------------------------------------------------
    def index(self, paths: Iterable[str | Path], on_event: Progress | None = None,
              on_file: Callable[[FileResult], None] | None = None,
              on_scan: Callable[[list[Path]], None] | None = None) -> IndexReport:
        """Index files and folders. Unchanged files are skipped; bad files are reported, not fatal.

        `on_scan(files)` is called once the folders are walked (e.g. to size a progress bar),
        `on_file(result)` after each file, `on_event(event)` as stages progress.
        """
        files, problems = scan(paths, skip=self.settings.data_dir)
        if on_scan is not None:
            on_scan(files)
        report = IndexReport(problems=[(p.path, p.problem) for p in problems])
        indexer = VideoIndexer(self.settings, self.catalog, self.store, self.analyzers, on_event)
        for path in files:
            result = indexer.index(path)
            report.results.append(result)
            if on_file is not None:
                on_file(result)
        report.unavailable = self.analyzers.unavailable()
        return report

    def remove(self, path: str | Path) -> list[str]:
        """Remove a video (or every video under a folder): rows, thumbnails and catalog entry."""
        target = str(Path(path).expanduser().resolve())
        victims = [v for v in self.catalog.videos() if v.path == target or v.path.startswith(target + "/")]
        if not victims:
            raise VidseekError(f"{target}: not in the index (see `vidseek status --videos`)")
        for v in victims:
            self.store.delete_video(v.id)
            shutil.rmtree(self.settings.data_dir / "thumbnails" / str(v.id), ignore_errors=True)
            self.catalog.delete_video(v.id)
        self.store.wait_indexed()
        return [v.path for v in victims]

    def describe(self, path: str | Path, text: str) -> None:
        """Attach a description to an indexed video; it is searched with the title route."""
        target = str(Path(path).expanduser().resolve())
        rec = self.catalog.get_by_path(target)
        if rec is None or rec.status != "done":
            raise VidseekError(f"{target}: not indexed yet; run `vidseek index` on it first")
        self.catalog.set_description(rec.id, text.strip() or None)
        rec = self.catalog.get(rec.id)
        indexer = VideoIndexer(self.settings, self.catalog, self.store, self.analyzers)
        indexer.reindex_title(rec)
        self.store.wait_indexed()

    # search -------------------------------------------------------------------------------
    def search(self, text: str) -> Search:
        """Start a query; chain `.limit() .min_score() .routes() .where()` then `.to_list()`."""
        return Search(self, text)

    # inspection ---------------------------------------------------------------------------
    def videos(self) -> list[VideoRecord]:
        return self.catalog.videos()

    def status(self) -> dict[str, Any]:
        """Counts, hours, per-route coverage, models and store location."""
        videos = self.catalog.videos()
        done = [v for v in videos if v.status == "done"]
        coverage = {}
        for route in ROUTES:
            states = [v.route_state(route) or "missing" for v in done]
            coverage[route] = {s: states.count(s) for s in sorted(set(states))}
        return {
            "data_dir": str(self.settings.data_dir),
            "store": self.settings.milvus_uri or f"Milvus Lite ({self.settings.milvus_target})",
            "videos": len(done),
            "failed": [{"path": v.path, "error": v.error} for v in videos if v.status == "failed"],
            "incomplete": [v.path for v in videos if v.status == "indexing"],
            "hours": round(sum(v.duration for v in done) / 3600, 3),
            "segments": self.catalog.segment_count(),
            "routes": coverage,
            "models": {
                "visual": self.settings.visual_model,
                "speech": f"whisper {self.settings.asr_model} (faster-whisper, int8)",
                "ocr": "RapidOCR PP-OCRv4 (zh+en)",
            },
            "model_versions": _versions(done),
        }


def _versions(videos: list[VideoRecord]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for v in videos:
        for route, state in v.routes.items():
            if state.get("version"):
                out.setdefault(route, set()).add(state["version"])
    return {r: sorted(vs) for r, vs in out.items()}


def open(data_dir: str | Path | None = None, **overrides: Any) -> Library:  # noqa: A001 - mirrors lancedb.connect
    """Open (creating if needed) a vidseek data dir. Settings come from VIDSEEK_* env + overrides."""
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir).expanduser()
    return Library(Settings(**overrides))
