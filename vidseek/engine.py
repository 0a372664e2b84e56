"""The public Python API: open a data dir, index paths, search, inspect, remove.

Usage::

    import vidseek
    with vidseek.open("~/.local/share/vidseek") as engine:
        engine.index(["~/Videos"])
        for m in engine.search("a dog riding a skateboard").limit(5).to_list():
            print(m.path, m.start, m.end, m.score)

A data dir holds tenants; a tenant holds libraries (named sets of videos with their own index
settings). The CLI and the methods on `Engine` act as tenant "default", library "default"; the
server gives each API key its own `engine.tenant(name)`.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.errors import NotFoundError, VidseekError
from vidseek.index.analyzers import Analyzers
from vidseek.index.pipeline import FileResult, Progress, VideoIndexer, internal_error
from vidseek.index.scan import scan
from vidseek.records import OPTIONAL_ROUTES, ROUTES
from vidseek.settings import LibrarySettings, Settings
from vidseek.store.catalog import (
    DEFAULT_LIBRARY,
    DEFAULT_TENANT,
    Catalog,
    LibraryRecord,
    VideoRecord,
    check_name,
    open_catalog,
)
from vidseek.store.faces import FaceRecord, PersonRecord
from vidseek.store.lock import DataDirLock

if TYPE_CHECKING:  # loaded on first use: a no-op re-index never needs NumPy, the store or search
    import numpy as np

    from vidseek.index.cluster import RayCluster
    from vidseek.search.copies import CopyGroup, CopyMatch
    from vidseek.search.query import Search, SearchDeps
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


class Engine:
    """An opened data dir. Holds the process lock until `close()` (or the `with` block ends)."""

    def __init__(self, settings: Settings, resident: bool = False):
        """`resident`: this process gives the data dir up when another one needs it (the lock asks it
        to stop); `vidseek serve --resident` is such a process."""
        self.settings = settings
        # A server catalog is reached first: a wrong URL or password leaves no data dir behind.
        shared = open_catalog(settings) if settings.catalog_url else None
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = DataDirLock(settings.data_dir, resident=resident)
            if settings.milvus_uri is None:  # a server handles its own concurrency
                self._lock.acquire()
        except BaseException:
            if shared is not None:
                shared.close()
            raise
        try:
            self.catalog = shared or open_catalog(settings)
            if self.catalog.shared:
                store = settings.milvus_uri or f"lite:{socket.gethostname()}:{settings.milvus_target}"
                self.catalog.pair_with_store(f"{store}#{settings.collection_prefix}")
        except BaseException:
            if shared is not None:
                shared.close()
            self._lock.release()
            raise
        self.analyzers = Analyzers(settings)
        self._store: MilvusStore | None = None

    @property
    def store(self) -> MilvusStore:
        if self._store is None:
            from vidseek.store.milvus import MilvusStore

            self._store = MilvusStore(self.settings, text_dim=self.analyzers.text_dim())
        return self._store

    def search_deps(self) -> SearchDeps:
        """What a `Search` reads; the store opens on the first search that needs it."""
        from vidseek.search.query import SearchDeps

        return SearchDeps(self.settings, self.catalog, lambda: self.store, self.analyzers)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.catalog.close()
        self._lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tenant(self, name: str = DEFAULT_TENANT) -> Tenant:
        """A tenant's view of the data dir; everything it returns is scoped to that tenant.

        Nothing is written: the tenant row is made with its first key or library."""
        return Tenant(self, check_name("tenant", name))

    # the default tenant and library, for the CLI and single-user scripts -----------------
    def index(self, paths: Iterable[str | Path], **callbacks: Any) -> IndexReport:
        """Index files and folders into the default library; see `LibraryHandle.index`."""
        return self.tenant().library(DEFAULT_LIBRARY, create=True).index(paths, **callbacks)

    def search(self, text: str | None = None, image: np.ndarray | bytes | str | Path | None = None,
               face: np.ndarray | bytes | str | Path | None = None, clip: str | Path | None = None) -> Search:
        """Start a query; chain `.limit() .min_score() .routes() .where()` then `.to_list()`."""
        return self.tenant().search(text, image, face, clip)

    def remove(self, path: str | Path) -> list[str]:
        return self.tenant().remove_path(path)

    def describe(self, path: str | Path, text: str) -> None:
        self.tenant().describe(path, text)

    def videos(self) -> list[VideoRecord]:
        return self.tenant().videos()

    def status(self, videos: bool = False) -> dict[str, Any]:
        return self.tenant().status(videos)


class Tenant:
    """One tenant's libraries, videos and searches. Usage: `engine.tenant("alice").libraries()`."""

    def __init__(self, engine: Engine, name: str):
        self.engine = engine
        self.name = name

    @property
    def catalog(self) -> Catalog:
        return self.engine.catalog

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    def texts_in(self, ranges: list[tuple[int, float, float]]) -> list:
        """Every text row of this tenant overlapping one of the (video_id, start, end) ranges."""
        return self.engine.store.texts_in(self.name, ranges)

    # libraries ----------------------------------------------------------------------------
    def libraries(self) -> list[LibraryRecord]:
        return self.catalog.libraries(self.name)

    def create_library(self, name: str, settings: LibrarySettings | dict | None = None) -> LibraryRecord:
        overrides = LibrarySettings.model_validate(settings or {})
        return self.catalog.create_library(self.name, name, overrides.model_dump(exclude_none=True))

    def library(self, key: int | str, create: bool = False) -> LibraryHandle:
        """A library by id or name (`create=True` makes a missing name)."""
        if isinstance(key, int):
            rec = self.catalog.library(self.name, key)
        else:
            rec = self.catalog.library_named(self.name, key, create=create)
        return LibraryHandle(self, rec)

    def delete_library(self, library_id: int) -> None:
        """Remove a library with all its videos (rows, thumbnails, uploads) and jobs."""
        handle = self.library(library_id)
        for video in handle.videos():
            self.delete_video(video.id, wait=False)
        self.engine.store.wait_indexed()  # once for all of them: each wait flushes both collections
        shutil.rmtree(self.engine.settings.data_dir / "uploads" / self.name / str(library_id), ignore_errors=True)
        self.catalog.delete_library(self.name, library_id)

    # videos -------------------------------------------------------------------------------
    def videos(self, library_id: int | None = None) -> list[VideoRecord]:
        return self.catalog.videos(self.name, library_id)

    def video(self, video_id: int) -> VideoRecord:
        rec = self.catalog.get(video_id, self.name)
        if rec is None:
            raise NotFoundError(f"video {video_id} not found")
        return rec

    def delete_video(self, video_id: int, wait: bool = True) -> None:
        """Remove one video: its rows, thumbnails, catalog entry, and the file if it was uploaded.

        `wait=False` leaves the store flush to the caller (deleting many videos)."""
        rec = self.video(video_id)
        store = self.engine.store
        store.delete_video(rec.id)
        data = self.engine.settings.data_dir
        shutil.rmtree(data / "thumbnails" / str(rec.id), ignore_errors=True)
        uploads = (data / "uploads").resolve()
        if Path(rec.path).is_relative_to(uploads):
            Path(rec.path).unlink(missing_ok=True)
        self.catalog.delete_video(rec.id)
        if wait:
            store.wait_indexed()

    def remove_path(self, path: str | Path) -> list[str]:
        """Remove a video (or every video under a folder), in any of the tenant's libraries."""
        target = str(Path(path).expanduser().resolve())
        victims = [v for v in self.videos() if v.path == target or v.path.startswith(target + "/")]
        if not victims:
            raise VidseekError(f"{target}: not in the index (see `vidseek status --videos`)")
        for v in victims:
            self.delete_video(v.id, wait=False)
        self.engine.store.wait_indexed()
        return [v.path for v in victims]

    def describe(self, path: str | Path, text: str) -> None:
        """Attach a description to an indexed video; it is searched with the title route."""
        target = str(Path(path).expanduser().resolve())
        found = [v for v in self.videos() if v.path == target and v.status == "done"]
        if not found:
            raise VidseekError(f"{target}: not indexed yet; run `vidseek index` on it first")
        for rec in found:
            self.catalog.set_description(rec.id, text.strip() or None)
            handle = self.library(rec.library_id)
            handle.indexer().reindex_title(self.video(rec.id))
        self.engine.store.wait_indexed()

    # search -------------------------------------------------------------------------------
    def search(self, text: str | None = None, image: np.ndarray | bytes | str | Path | None = None,
               face: np.ndarray | bytes | str | Path | None = None, clip: str | Path | None = None) -> Search:
        """A query over this tenant's libraries: text, an example image, a face photo (or a mix of
        them), or a clip on its own (where its picture, or a re-cut of it, appears)."""
        from vidseek.search.query import Search

        return Search(self.engine.search_deps(), self.name, text, image, face, clip)

    # people and copies --------------------------------------------------------------------
    def people(self) -> list[PersonRecord]:
        """The tenant's people (face clusters), most seen first, each with a cover face and counts."""
        from vidseek.index.faces import assign_people

        assign_people(self.catalog, self.name)  # tracks left unfiled (e.g. by an interrupted run)
        self.catalog.drop_empty_people(self.name)
        return [p for p in self.catalog.people(self.name) if p.faces]

    def person(self, person_id: int) -> PersonRecord:
        return self.catalog.person(self.name, person_id)

    def name_person(self, person_id: int, name: str | None) -> PersonRecord:
        """Name someone (None or "" forgets the name); a text query that mentions the name finds them."""
        self.catalog.name_person(self.name, person_id, name)
        return self.person(person_id)

    def merge_people(self, person_id: int, others: Iterable[int]) -> PersonRecord:
        """Fold `others` into `person_id` (the same person, split by the clustering)."""
        import numpy as np

        from vidseek.index.people import centroid_of

        keep = self.person(person_id)
        faces = self.catalog.faces(self.name, person_id=person_id)
        name = keep.name
        for other in others:
            if other == person_id:
                continue
            victim = self.person(other)
            moved = self.catalog.faces(self.name, person_id=other)
            self.catalog.set_person_of([f.id for f in moved], person_id, pinned=True)
            faces += moved
            name = name or victim.name
            self.catalog.delete_person(other)
        self.catalog.set_person_of([f.id for f in faces], person_id, pinned=True)
        if faces:
            self.catalog.set_centroid(person_id, centroid_of(np.stack([f.vector for f in faces])))
        if name != keep.name:
            self.catalog.name_person(self.name, person_id, name)
        return self.person(person_id)

    def split_person(self, person_id: int) -> list[PersonRecord]:
        """Split one person in two (two people the clustering mixed up); returns both."""
        import numpy as np

        from vidseek.index.people import centroid_of, split

        self.person(person_id)
        faces = self.catalog.faces(self.name, person_id=person_id)
        if len(faces) < 2:
            raise VidseekError(f"person {person_id} has {len(faces)} face(s): nothing to split")
        labels = split(np.stack([f.vector for f in faces]))
        groups = [[f for f, k in zip(faces, labels) if k == g] for g in (0, 1)]
        groups.sort(key=len, reverse=True)
        if not groups[1]:
            raise VidseekError(f"person {person_id}'s faces are all alike: nothing to split")
        new_id = self.catalog.add_person(self.name, centroid_of(np.stack([f.vector for f in groups[1]])))
        self.catalog.set_person_of([f.id for f in groups[0]], person_id, pinned=True)
        self.catalog.set_person_of([f.id for f in groups[1]], new_id, pinned=True)
        self.catalog.set_centroid(person_id, centroid_of(np.stack([f.vector for f in groups[0]])))
        return [self.person(person_id), self.person(new_id)]

    def face(self, face_id: int) -> FaceRecord:
        found = self.catalog.faces(self.name, ids=[face_id])
        if not found:
            raise NotFoundError(f"face {face_id} not found")
        return found[0]

    def copies_of(self, video_id: int) -> list[CopyMatch]:
        """Other indexed videos that share this one's picture, with the aligned ranges."""
        from vidseek.analyze.dna import DNA_VERSION, Fingerprint
        from vidseek.search.copies import find_copies

        self.video(video_id)
        version, data = self.catalog.fingerprints(self.name, [video_id]).get(video_id, (None, None))
        if version != DNA_VERSION:
            return []
        return find_copies(self.engine.store, self.catalog, self.name, Fingerprint.from_bytes(data),
                           exclude={video_id})

    def duplicates(self, library_id: int | None = None) -> list[CopyGroup]:
        """Groups of near-identical videos (and the segments they share), largest first."""
        from vidseek.search.copies import duplicate_groups

        if library_id is not None:
            self.library(library_id)
        return duplicate_groups(self.engine.store, self.catalog, self.name, library_id)

    def status(self, videos: bool = False) -> dict[str, Any]:
        """Counts, hours, per-route coverage, models and store location; with `videos`, also
        `video_list`: one entry a video (id, path, status, duration, routes, error)."""
        settings = self.engine.settings
        everything = self.videos()
        done = [v for v in everything if v.status == "done"]
        coverage = {}
        for route in ROUTES:
            if route in OPTIONAL_ROUTES and not any(route in v.routes for v in done):
                continue  # an optional route nobody turned on is not "missing"
            # "off": the route is not in this data dir's routes (VIDSEEK_ROUTES), so nothing is missing
            absent = "missing" if route in settings.routes else "off"
            states = [v.route_state(route) or absent for v in done]
            coverage[route] = {s: states.count(s) for s in sorted(set(states))}
        info = {
            "data_dir": str(settings.data_dir),
            "store": (settings.milvus_uri or f"Milvus Lite ({settings.milvus_target})") + (
                f"; text vectors as binary codes, the best {settings.text_rerank_depth} re-ranked exactly"
                if settings.text_compression == "binary" else ""),
            "catalog": _catalog_name(settings),
            "tenant": self.name,
            "libraries": [lib.name for lib in self.libraries()],
            "videos": len(done),
            "failed": [{"video_id": v.id, "path": v.path, "error": v.error}
                       for v in everything if v.status == "failed"],
            "incomplete": [v.path for v in everything if v.status == "indexing"],
            "hours": round(sum(v.duration for v in done) / 3600, 3),
            "segments": self.catalog.segment_count(self.name),
            "routes": coverage,
            "semantic": self._semantic_status(done),
            "models": {
                "visual": settings.visual_model,
                "text": settings.text_model,
                "speech": f"whisper {settings.asr_model} (faster-whisper, int8)",
                "ocr": "RapidOCR PP-OCRv4 (zh+en)",
                "caption": f"{settings.vlm_model} at {settings.vlm_base_url}" if settings.vlm_base_url else "off",
                "face": "dlib HOG detector + ResNet face descriptor (5-point alignment)",
                "dna": "perceptual frame codes (vidseek.analyze.dna)",
            },
            "model_versions": _versions(done),
            "faces": self.catalog.face_count(self.name),
            "copies": {v.path: v.routes.get("dna", {}).get("note") for v in done
                       if str(v.routes.get("dna", {}).get("note") or "").startswith("copy of")},
        }
        if videos:
            info["video_list"] = [{"id": v.id, "path": v.path, "status": v.status, "duration": v.duration,
                                   "routes": v.routes, "error": v.error} for v in everything]
        return info


    def _semantic_status(self, done: list[VideoRecord]) -> dict[str, Any]:
        """How many indexed videos have text vectors from the configured text model (matching by meaning)."""
        analyzers = self.engine.analyzers
        embedder = analyzers.embedder()
        if embedder is None:
            from vidseek.index.analyzers import TEXT_EMBEDDER

            return {"state": "off", "note": analyzers.reason(TEXT_EMBEDDER), "videos": len(done), "embedded": 0}
        embedded = sum(1 for v in done if v.embedding == embedder.tag)
        info: dict[str, Any] = {"state": "on", "model": embedder.version, "videos": len(done), "embedded": embedded}
        if embedded < len(done):
            info["note"] = f"{len(done) - embedded} videos without current text vectors; `vidseek index` adds them"
        return info


class LibraryHandle:
    """One library: index files into it, list and search its videos."""

    def __init__(self, tenant: Tenant, record: LibraryRecord):
        self.tenant = tenant
        self.record = record

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def settings(self) -> Settings:
        """The data dir's settings with this library's overrides applied."""
        return LibrarySettings.model_validate(self.record.settings).apply(self.tenant.engine.settings)

    def indexer(self, on_event: Progress | None = None) -> VideoIndexer:
        e = self.tenant.engine
        return VideoIndexer(self.settings, e.catalog, lambda: e.store, e.analyzers, self.record, on_event)

    def index(self, paths: Iterable[str | Path], on_event: Progress | None = None,
              on_file: Callable[[FileResult], None] | None = None,
              on_scan: Callable[[list[Path]], None] | None = None,
              source: Callable[[Path], str | None] | None = None,
              ray: str | RayCluster | None = None) -> IndexReport:
        """Index files and folders. Unchanged files are skipped; bad files are reported, not fatal.

        `on_scan(files)` is called once the folders are walked (e.g. to size a progress bar),
        `on_file(result)` after each file, `on_event(event)` as stages progress (it may raise
        `Cancelled` to stop the current file), and `source(path)` names a file for its tenant.

        `ray`: analyse the files on a Ray cluster (an address, 'local', or a connected
        `vidseek.index.cluster.RayCluster`); this process still decides and writes. `on_event` then
        gets one event for the whole cluster (stage "cluster", in bytes of files through).
        """
        engine = self.tenant.engine
        cluster = None
        if isinstance(ray, str):
            from vidseek.index.cluster import RayCluster

            cluster = ray = RayCluster.connect(ray)  # an unreachable address fails before any file is read
        try:
            files, problems = scan(paths, skip=engine.settings.data_dir)
            if on_scan is not None:
                on_scan(files)
            report = IndexReport(problems=[(p.path, p.problem) for p in problems])
            if ray is not None:
                s = engine.settings
                report.results = ray.index(self.indexer(), files, source, on_file, on_event, s.ray_workers,
                                           s.ray_worker_cpus)
            else:
                self._index_here(files, report, on_event, on_file, source)
        finally:
            if cluster is not None:
                cluster.close()
        report.unavailable = engine.analyzers.unavailable()
        return report

    def _index_here(self, files: list[Path], report: IndexReport, on_event: Progress | None,
                    on_file: Callable[[FileResult], None] | None,
                    source: Callable[[Path], str | None] | None) -> None:
        indexer = self.indexer(on_event)
        for path in files:
            try:
                result = indexer.index(path, source(path) if source else None)
            except VidseekError:
                raise  # the store or catalog itself failed: every file would
            except Exception as exc:  # the indexer reports a file's own problems; this catches its bugs
                result = FileResult(str(path), "failed", internal_error(path, exc))
            report.results.append(result)
            if on_file is not None:
                on_file(result)

    def videos(self) -> list[VideoRecord]:
        return self.tenant.videos(self.id)

    def search(self, text: str | None = None, image: np.ndarray | bytes | str | Path | None = None,
               face: np.ndarray | bytes | str | Path | None = None, clip: str | Path | None = None) -> Search:
        return self.tenant.search(text, image, face, clip).where(library_id=self.id)


def _catalog_name(settings: Settings) -> str:
    if settings.catalog_url:
        from vidseek.store.sql import redact

        return f"PostgreSQL ({redact(settings.catalog_url)})"
    return f"SQLite ({settings.data_dir / 'catalog.sqlite'})"


def _versions(videos: list[VideoRecord]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for v in videos:
        for route, state in v.routes.items():
            if state.get("version"):
                out.setdefault(route, set()).add(state["version"])
    return {r: sorted(vs) for r, vs in out.items()}


def open(data_dir: str | Path | None = None, **overrides: Any) -> Engine:  # noqa: A001 - mirrors lancedb.connect
    """Open (creating if needed) a vidseek data dir. Settings come from VIDSEEK_* env + overrides."""
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir).expanduser()
    return Engine(Settings(**overrides))
