"""Index one file in two places: a worker analyses it, the driver writes what it found.

A worker runs the same `VideoIndexer` stages as a local run (decode, shots, visual, OCR, speech, text
embeddings, faces, fingerprints, captions), against a store and a catalog that only record the writes
(`WriteLog`), with thumbnails in a scratch folder. What it sends back (`WorkResult`) is that log and
those files. The driver replays them into the real catalog and store under the local run's
crash-safety rule: the video is 'indexing' before its first row is written and 'done' only after its
rows are flushed and searchable, and a worker that dies has written nothing.

    order = work_order(indexer, plan)                  # driver: after `indexer.plan(path)`
    result = analyze(order, analyzers, node="host-1")  # worker
    file_result = apply(indexer, plan, order, result)  # driver

`vidseek.index.cluster` moves orders and results through Ray; nothing here imports it.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidseek.errors import Cancelled, MediaError, VidseekError
from vidseek.index.analyzers import Analyzers
from vidseek.index.pipeline import (
    FileResult,
    IndexEvent,
    Plan,
    StageClock,
    VideoIndexer,
    embedding_after,
    internal_error,
    probe,
)
from vidseek.records import DNA, FACE
from vidseek.settings import Settings
from vidseek.store.catalog import LibraryRecord, SegmentRecord, VideoRecord

# What a worker may write, and where: the replay calls these methods, in this order, and nothing else.
_STORE_WRITES = ("ensure_visual", "ensure_faces", "ensure_dna", "insert_text", "insert_visual", "insert_faces",
                 "insert_dna")
_CATALOG_WRITES = ("replace_segments", "add_faces", "set_fingerprint")


@dataclass
class WorkOrder:
    """One file's analysis as the driver decided it: all a worker needs, nothing it must look up."""

    settings: Settings  # the library's settings (the worker swaps the data dir for a scratch folder)
    library: LibraryRecord
    rec: VideoRecord  # its id names the rows (a new file got its row, 'indexing', from the driver)
    path: str
    todo: list[str]
    fresh: bool
    shots: list[SegmentRecord] = field(default_factory=list)  # stored shots (a captions-only update keeps them)


@dataclass
class WorkResult:
    """What a worker found in one file: the writes to replay and the files to place in the data dir."""

    path: str
    node: str  # the worker's host name, for errors ("on node gpu-3: cannot read file")
    outcome: str  # done | failed | cancelled | unreadable (probe failed: nothing is known of the file)
    problem: str | None = None
    duration: float = 0.0
    routes: dict[str, dict] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    writes: list[tuple[str, str, tuple]] = field(default_factory=list)  # (store|catalog, method, args)
    files: dict[str, bytes] = field(default_factory=dict)  # path under the data dir -> content
    scratch: str = ""  # the worker's stand-in data dir: paths in `writes` start with it
    embedding_tag: str | None = None  # the text model that embedded the rows (None: none did)
    unembedded: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)  # route -> why its model could not load
    seconds: float = 0.0


class WriteLog:
    """Stands in for the store or the catalog on a worker: writes are recorded, reads answered from the order."""

    def __init__(self, target: str, methods: tuple[str, ...], log: list[tuple[str, str, tuple]],
                 answers: dict[str, Callable[..., Any]] | None = None):
        self._target = target
        self._methods = methods
        self._log = log
        self._answers = answers or {}
        self._face_refs = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._answers:
            return self._answers[name]
        if name not in self._methods:  # a stage that starts reading or writing something new must say so here
            raise AttributeError(f"a worker's {self._target} has no {name!r}: only the driver reaches the real one")

        def record(*args: Any) -> Any:
            self._log.append((self._target, name, args))
            if name == "add_faces":  # stand-in ids, mapped to the catalog's when the driver replays
                refs = list(range(-self._face_refs - 1, -self._face_refs - 1 - len(args[2]), -1))
                self._face_refs += len(refs)
                return refs
            if name.startswith("insert_"):
                return len(args[0])
            return None

        return record

    def wait_indexed(self, timeout: float = 0.0) -> None:
        """Nothing is stored on a worker, so nothing waits."""


class _WorkerIndexer(VideoIndexer):
    """The local stages with the steps that read the whole library (people, copies) left to the driver."""

    def _file_people(self, rec: VideoRecord) -> None:
        return None

    def _copies_note(self, rec: VideoRecord, fingerprint: Any) -> dict:
        return {}


def work_order(indexer: VideoIndexer, plan: Plan) -> WorkOrder:
    """The order for a planned file. A new file gets its catalog row ('indexing') now, for its id; an
    indexed one keeps its state (and stays searchable) until its results are written."""
    rec = plan.old if plan.old is not None else indexer.start(plan)
    shots = [] if plan.fresh else indexer.catalog.segments_for([rec.id])[rec.id]
    return WorkOrder(indexer.settings, indexer.library, rec, str(plan.path), list(plan.todo), plan.fresh, shots)


def node_name() -> str:
    return socket.gethostname()


def analyze(order: WorkOrder, analyzers: Analyzers, on_event: Callable[[IndexEvent], None] | None = None,
            node: str | None = None) -> WorkResult:
    """Run a work order's stages on this machine (a worker); nothing outside a scratch folder is written."""
    t0 = time.monotonic()
    node = node or node_name()
    path = Path(order.path)
    try:
        path.stat()
    except OSError as exc:
        return WorkResult(order.path, node, "unreadable", f"cannot read file on node {node}: {exc.strerror or exc}")
    try:
        info = probe(path)
    except Exception as exc:  # a MediaError says what is wrong with the file; anything else is a bug
        problem = exc.problem if isinstance(exc, MediaError) else internal_error(path, exc)
        return WorkResult(order.path, node, "unreadable", problem)
    scratch = Path(tempfile.mkdtemp(prefix="vidseek-work-"))
    writes: list[tuple[str, str, tuple]] = []
    store = WriteLog("store", _STORE_WRITES, writes)
    catalog = WriteLog("catalog", _CATALOG_WRITES, writes,
                       {"segments_for": lambda ids: {i: list(order.shots) for i in ids}})
    settings = order.settings.model_copy(update={"data_dir": scratch})
    indexer = _WorkerIndexer(settings, catalog, store, analyzers, order.library, on_event)  # type: ignore[arg-type]
    indexer.clock = StageClock()
    result = WorkResult(order.path, node, "done", duration=info.duration, scratch=str(scratch))
    try:
        result.routes = indexer._analyze(order.rec, info, order.todo, path, order.fresh)
    except (VidseekError, OSError) as exc:
        result.problem = exc.problem if isinstance(exc, MediaError) else str(exc)
        result.outcome = "cancelled" if isinstance(exc, Cancelled) else "failed"
    except Exception as exc:  # a bug met on this file fails it like a bad file
        result.outcome, result.problem = "failed", internal_error(path, exc)
    try:
        if result.outcome == "done":
            result.writes = writes
            result.files = {str(f.relative_to(scratch)): f.read_bytes() for f in sorted(scratch.rglob("*"))
                            if f.is_file()}
            embedder = analyzers.embedder()
            result.embedding_tag = embedder.tag if embedder is not None else None
            result.unembedded = indexer._unembedded
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.stage_seconds = indexer.clock.seconds
    result.unavailable = analyzers.unavailable()
    result.seconds = time.monotonic() - t0
    return result


def apply(indexer: VideoIndexer, plan: Plan, order: WorkOrder, result: WorkResult) -> FileResult:
    """Write a worker's result into the driver's catalog and store (the local run's crash-safety rule)."""
    key = str(plan.path)
    if result.outcome == "unreadable":
        indexer.fail_unreadable(plan, result.problem or "cannot read file")
        return FileResult(key, "failed", result.problem)
    if result.outcome == "cancelled" and plan.resumable:
        return FileResult(key, "cancelled", result.problem, result.duration, video_id=order.rec.id)
    # 'indexing' before the first row is written: a new file has been since its order was made (once:
    # the upsert takes an id from the sequence even when the row exists, and a local run starts it once)
    rec = order.rec if plan.old is None else indexer.start(plan)
    catalog, store = indexer.catalog, indexer.store
    catalog.set_duration(rec.id, result.duration)
    if result.outcome != "done":
        store.delete_video(rec.id)
        catalog.fail_video(rec.id, result.problem or result.outcome)
        return FileResult(key, result.outcome if result.outcome == "cancelled" else "failed", result.problem,
                          result.duration, video_id=rec.id)
    routes = {} if plan.fresh else {r: v for r, v in rec.routes.items() if r not in plan.todo}
    routes.update(result.routes)
    clock = StageClock()
    try:
        with clock.stage("store"):
            store.delete_video(rec.id, None if plan.fresh else plan.todo)  # leftovers of a crash or an older model
            fingerprint = _replay(indexer, rec, result)
            if FACE in result.routes and result.routes[FACE].get("rows"):
                indexer._file_people(rec)
            if fingerprint is not None and DNA in routes:
                from vidseek.analyze.dna import Fingerprint

                routes[DNA] = {**routes[DNA], **indexer._copies_note(rec, Fingerprint.from_bytes(fingerprint))}
            store.wait_indexed()
    except KeyboardInterrupt:
        if plan.resumable:
            indexer._keep_the_rest(rec, routes, plan.todo, "interrupted")
        raise
    except (VidseekError, OSError) as exc:
        store.delete_video(rec.id)
        catalog.fail_video(rec.id, str(exc))
        return FileResult(key, "failed", str(exc), result.duration, video_id=rec.id)
    previous = plan.old.embedding if plan.old is not None else None
    catalog.finish_video(rec.id, routes, embedding_after(plan.fresh, previous, result.embedding_tag,
                                                         result.unembedded))
    seconds = dict(result.stage_seconds)
    seconds["store"] = seconds.get("store", 0.0) + clock.seconds.get("store", 0.0)
    return FileResult(key, plan.status, None, result.duration, time.monotonic() - plan.t0, routes, seconds,
                      video_id=rec.id)


def _replay(indexer: VideoIndexer, rec: VideoRecord, result: WorkResult) -> bytes | None:
    """Place the result's files and replay its writes (scratch paths and stand-in face ids mapped);
    returns the fingerprint it stored, if any."""
    data_dir = indexer.settings.data_dir
    scratch = result.scratch.rstrip("/") + "/"
    here = str(data_dir).rstrip("/") + "/"

    def moved(value: str | None) -> str | None:
        return here + value[len(scratch):] if value and value.startswith(scratch) else value

    methods = [m for _, m, _ in result.writes]
    folder = indexer.thumb_dir(rec.id)
    if "replace_segments" in methods:  # new shots: the folder's old thumbnails go, as in a local run
        shutil.rmtree(folder, ignore_errors=True)
    elif "add_faces" in methods:
        for old in folder.glob("face-*.jpg"):
            old.unlink(missing_ok=True)
    for name, content in result.files.items():
        target = data_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(content)
        tmp.replace(target)
    faces: dict[int, int] = {}
    fingerprint = None
    for target, method, args in result.writes:
        if target == "catalog":
            if method == "replace_segments":
                video_id, shots = args
                indexer.catalog.replace_segments(video_id, [replace(s, thumbnail=moved(s.thumbnail)) for s in shots])
            elif method == "add_faces":
                video_id, tenant, tracks = args
                tracks = [dict(t, thumbnail=moved(t.get("thumbnail")), crop=moved(t.get("crop"))) for t in tracks]
                ids = indexer.catalog.add_faces(video_id, tenant, tracks)
                first = -len(faces) - 1
                faces.update({first - k: i for k, i in enumerate(ids)})
            elif method == "set_fingerprint":
                indexer.catalog.set_fingerprint(*args)
                fingerprint = args[2]
            continue
        if method == "insert_faces":
            args = ([dict(r, id=faces[r["id"]]) for r in args[0]],)
        getattr(indexer.store, method)(*args)
    return fingerprint
