"""Index one video: probe -> frames -> shots -> (visual, OCR, captions) + speech + title -> store.

Every text row (speech, OCR, title, caption) is embedded by the shared text embedder as it is stored,
for semantic search; a video whose stored rows lack current vectors gets them from `index.embed`
without any decoding.

Crash safety: a video is marked 'indexing' before any row is written and 'done' only after its
rows are flushed and searchable. Every (re)index first deletes the rows it is about to write, so
a run after a kill -9 finishes the job without duplicates. Search ignores videos not 'done'.
An update that only adds routes (e.g. captions) and is interrupted keeps the video searchable with
what it had; the unfinished routes are marked 'failed' and the next run picks them up.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.errors import Cancelled, MediaError, VidseekError
from vidseek.index.analyzers import Analyzers
from vidseek.index.scan import fingerprint, title_text
from vidseek.records import (
    CAPTION,
    DNA,
    FACE,
    OCR,
    ROUTES,
    SPEECH,
    TITLE,
    VISUAL,
    Frame,
    Segment,
    TextSpan,
    VideoInfo,
)
from vidseek.settings import Settings
from vidseek.store.catalog import Catalog, LibraryRecord, SegmentRecord, VideoRecord

if TYPE_CHECKING:
    from vidseek.media.overlay import MeanImage
    from vidseek.store.milvus import MilvusStore

log = logging.getLogger(__name__)

_VISUAL_BATCH = 16
_FRAMED = (VISUAL, OCR, CAPTION, FACE, DNA)  # routes fed by the pass over sampled frames
# A new video looks for the video it copies with 16 of its frames (as they are and mirrored), 3 of them
# also in every crop variant (242 codes a frame): a cropped copy's few hits make it a candidate, and the
# alignment of the whole fingerprints (with crop refinement) decides. About 0.2 s a video.
_COPY_CHECK_FRAMES = 16
_COPY_CHECK_CROPPED = 3


@dataclass
class IndexEvent:
    """Progress of one file: `done` of `total` seconds of media through `stage`."""

    path: str
    stage: str
    done: float
    total: float


@dataclass
class FileResult:
    path: str
    status: str  # indexed | updated | skipped | failed | cancelled
    error: str | None = None
    duration: float = 0.0
    seconds: float = 0.0
    routes: dict[str, dict] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    video_id: int | None = None
    note: str | None = None  # e.g. "12 stored text rows embedded"


@dataclass
class Plan:
    """What `VideoIndexer.plan` decided one file needs: `todo` routes, from scratch ("indexed") or on
    top of what is stored ("updated")."""

    path: Path
    size: int
    mtime: float
    digest: str
    todo: list[str]
    old: VideoRecord | None  # the catalog's record before this run
    status: str  # indexed | updated
    t0: float
    source: str | None = None

    @property
    def fresh(self) -> bool:
        """New or changed content: nothing stored before is kept."""
        return self.status == "indexed"

    @property
    def resumable(self) -> bool:
        """An update that leaves the stored shots and thumbnails alone: stopped half-way, the video
        stays searchable with its other routes."""
        return not self.fresh and not {VISUAL, OCR} & set(self.todo)


def embedding_after(fresh: bool, previous: str | None, tag: str | None, unembedded: int) -> str | None:
    """A video's embedding tag once a run's rows are stored (`tag`: the text model that embedded them,
    None: none did; `unembedded`: rows stored without a vector). Rows kept from before count too."""
    if tag is None or unembedded or not (fresh or previous == tag):
        return None
    return tag


class StageClock:
    """Wall time per stage, for progress reports and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Charge the time spent in the `with` block to `stage`."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t)

    def timed(self, stage: str, items: Iterable) -> Iterator:
        """Yield from `items`, charging the time spent producing each item to `stage`."""
        it = iter(items)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(stage, time.perf_counter() - t)
                return
            self.add(stage, time.perf_counter() - t)
            yield item


Progress = Callable[[IndexEvent], None]


def internal_error(path: Path | str, exc: Exception) -> str:
    """A file's error line for an exception nobody expected (a bug here or in a library).

    It fails that one file, not the batch; the traceback goes to the debug log."""
    log.debug("unexpected error while indexing %s", path, exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"


@dataclass
class _FramePass:
    """What one pass over a video's shots feeds: thumbnails and shot records, visual batches, captions."""

    rec: VideoRecord
    path: Path
    duration: float
    encoder: Any | None = None
    captions: Any | None = None  # vidseek.index.captions.CaptionSink
    thumbs: Path | None = None  # None: leave the stored shots and thumbnails as they are (captions-only update)
    faces: Any | None = None  # vidseek.index.faces.FaceSink
    dna: Any | None = None  # vidseek.index.dna.DnaSink
    shots: list[SegmentRecord] = field(default_factory=list)
    visual_rows: int = 0


def probe(path: Path) -> VideoInfo:
    """`vidseek.media.probe.probe`, imported on the first file that needs work: a run whose files are
    all unchanged never loads PyAV, NumPy or Pillow."""
    from vidseek.media.probe import probe as probe_media

    return probe_media(path)


class _SpeechJob:
    """The speech route's recognition in a thread of its own, while the pass over the frames runs.

    Whisper (CTranslate2) and the frame models (ONNX Runtime, dlib) compute without holding the GIL,
    and much of the frame pass (decoding, shot cuts, faces, dna) runs on one core, so on a small
    machine each side fills what the other leaves idle (BENCHMARKS.md, indexing against bare ASR).
    The thread only recognises: progress events, embedding and storing stay on the caller's thread.
    VIDSEEK_INDEX_OVERLAP=false runs the speech route after the frames instead.
    """

    def __init__(self, model: Any, path: Path, clock: StageClock):
        self.spans: list[TextSpan] = []
        self.language: str | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(model, path, clock), name="vidseek-speech",
                                        daemon=True)
        self._thread.start()

    def _run(self, model: Any, path: Path, clock: StageClock) -> None:
        try:
            with clock.stage(SPEECH):
                transcript = model.transcribe(path)
                for span in transcript:
                    if self._stop.is_set():
                        return
                    self.spans.append(span)
                self.language = transcript.language if self.spans else None
        except BaseException as exc:  # re-raised on the indexing thread by result()
            self._error = exc

    def result(self) -> tuple[list[TextSpan], str | None]:
        """The spans and the language, once recognition ends; its error, raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.spans, self.language

    def cancel(self) -> None:
        """Stop after the current window and wait for the thread (the frame pass failed or was cancelled)."""
        self._stop.set()
        self._thread.join()


class VideoIndexer:
    """Indexes single files into the catalog and store. Usage: `VideoIndexer(...).index(path)`."""

    def __init__(self, settings: Settings, catalog: Catalog, store: MilvusStore | Callable[[], MilvusStore],
                 analyzers: Analyzers, library: LibraryRecord, on_event: Progress | None = None):
        """`store` may be a function that opens it: a run whose files are all unchanged never calls it,
        so a no-op re-index reads only the catalog (no Milvus start)."""
        self.settings = settings
        self.catalog = catalog
        self._store = store
        self.analyzers = analyzers
        self.on_event = on_event or (lambda e: None)
        self.library = library
        self.clock = StageClock()
        self._unembedded = 0  # text rows of the current file stored without a vector

    @property
    def store(self) -> MilvusStore:
        if callable(self._store) and not hasattr(self._store, "insert_text"):
            self._store = self._store()
        return self._store  # type: ignore[return-value]

    @property
    def embedder(self) -> Any | None:
        return self.analyzers.embedder()

    def store_text(self, rows: list[dict]) -> int:
        """Embed text rows (when the text model is available) and store them; returns rows stored."""
        rows = [r for r in rows if r["text"].strip()]
        embedder = self.embedder
        if embedder is not None and rows:
            with self.clock.stage("embed"):
                vectors = embedder.encode_passages([r["text"] for r in rows])
            rows = [dict(r, dense=v, ev=embedder.tag) for r, v in zip(rows, vectors)]
        else:
            self._unembedded += len(rows)
        with self.clock.stage("store"):
            return self.store.insert_text(rows)

    def thumb_dir(self, video_id: int) -> Path:
        return self.settings.data_dir / "thumbnails" / str(video_id)

    # decide -------------------------------------------------------------------------------
    def stale_routes(self, rec: VideoRecord) -> list[str]:
        """Enabled routes whose stored rows are missing or made by another model version."""
        todo = []
        for route in [r for r in ROUTES if r in self.settings.routes]:
            state = rec.routes.get(route, {})
            version = self.analyzers.version(route)  # most models answer without loading
            if version is None:
                continue  # model unavailable: keep what we have, nothing new to add
            if state.get("state") == "done" and state.get("version") == version:
                continue
            if self.analyzers.get(route) is None:
                continue  # there is work, but the model cannot load (said once, in the run's report)
            todo.append(route)
        return todo

    def index(self, path: Path, source: str | None = None) -> FileResult:
        """Index one file into this indexer's library; `source` is how its tenant names the file."""
        plan = self.plan(path, source)
        if isinstance(plan, FileResult):
            return plan
        return self._embed_rest(self._run(plan))

    def plan(self, path: Path, source: str | None = None) -> FileResult | Plan:
        """Decide what `path` needs: a `Plan` of the routes to (re)build, or the file's result when it
        needs nothing (unchanged: "skipped", after giving stored rows missing vectors) or cannot be read.

        Nothing is decoded here; the catalog learns the file's new mtime when only that changed."""
        t0 = time.monotonic()
        key = str(path)
        try:
            st = path.stat()
        except OSError as exc:
            return FileResult(key, "failed", f"cannot read file: {exc.strerror or exc}")
        rec = self.catalog.get_by_path(self.library.id, key)
        done = rec is not None and rec.status == "done"
        same_stat = done and (rec.size, rec.mtime) == (st.st_size, st.st_mtime)
        try:  # same size and mtime: trust it, as rsync and make do, instead of re-reading the file
            digest = rec.content_hash if same_stat else fingerprint(path, st.st_size)
        except OSError as exc:
            return FileResult(key, "failed", f"cannot read file: {exc.strerror or exc}")
        if not (done and rec.content_hash == digest):
            enabled = [r for r in ROUTES if r in self.settings.routes]  # a library may turn routes off
            return Plan(path, st.st_size, st.st_mtime, digest, enabled, rec, "indexed", t0, source)
        if not same_stat:
            self.catalog.touch(rec.id, st.st_mtime)
        todo = self.stale_routes(rec)
        if todo:
            return Plan(path, st.st_size, st.st_mtime, digest, todo, rec, "updated", t0, source)
        result = FileResult(key, "skipped", duration=rec.duration, routes=rec.routes, video_id=rec.id)
        return self._embed_rest(result, rec.embedding, t0)

    def _embed_rest(self, result: FileResult, embedding: str | None = None, t0: float | None = None) -> FileResult:
        """Give the video's stored text rows current vectors if some lack them (no decoding happens)."""
        if result.status not in ("indexed", "updated", "skipped") or result.video_id is None:
            return result
        if result.status != "skipped":
            embedding = self.catalog.get_by_path(self.library.id, result.path).embedding
        tag = self.analyzers.text_tag()  # known without loading the model: a no-op run loads nothing
        if tag is None or embedding == tag or (embedder := self.embedder) is None:
            return result
        from vidseek.index.embed import embed_stored

        clock = StageClock()
        with clock.stage("embed"):
            added = embed_stored(self.store, embedder, result.video_id)
        self.catalog.set_embedding(result.video_id, embedder.tag)
        if result.status == "skipped":
            result.status, result.seconds = "updated", time.monotonic() - (t0 or time.monotonic())
            result.stage_seconds = clock.seconds
        else:
            result.stage_seconds["embed"] = result.stage_seconds.get("embed", 0.0) + clock.seconds["embed"]
        result.note = f"{added} stored text rows embedded"
        return result

    # run ----------------------------------------------------------------------------------
    def _run(self, plan: Plan) -> FileResult:
        path, todo, old, status = plan.path, plan.todo, plan.old, plan.status
        key = str(path)
        try:
            info = probe(path)
        except Exception as exc:  # a MediaError says what is wrong with the file; anything else is a bug
            problem = exc.problem if isinstance(exc, MediaError) else internal_error(path, exc)
            self.fail_unreadable(plan, problem)
            return FileResult(key, "failed", problem)
        previous = old.embedding if old is not None else None
        rec = self.start(plan)
        self.catalog.set_duration(rec.id, info.duration)
        self.clock = StageClock()
        self._unembedded = 0
        fresh, resumable = plan.fresh, plan.resumable
        routes = {} if fresh else {r: v for r, v in rec.routes.items() if r not in todo}  # kept as they are
        try:
            self.store.delete_video(rec.id, None if fresh else todo)  # leftovers of a crash or an older model
            routes.update(self._analyze(rec, info, todo, path, fresh))
            with self.clock.stage("store"):
                self.store.wait_indexed()
        except KeyboardInterrupt:
            if resumable:
                self._keep_the_rest(rec, routes, todo, "interrupted")
            raise
        except (VidseekError, OSError) as exc:
            problem = exc.problem if isinstance(exc, MediaError) else str(exc)
            outcome = "cancelled" if isinstance(exc, Cancelled) else "failed"
            if resumable and outcome == "cancelled":
                self._keep_the_rest(rec, routes, todo, problem)
            else:
                self.store.delete_video(rec.id)
                self.catalog.fail_video(rec.id, problem)
            return FileResult(key, outcome, problem, info.duration, video_id=rec.id)
        except Exception as exc:  # a bug met on this file fails it like a bad file (KeyboardInterrupt still stops)
            problem = internal_error(path, exc)
            self.store.delete_video(rec.id)
            self.catalog.fail_video(rec.id, problem)
            return FileResult(key, "failed", problem, info.duration, video_id=rec.id)
        embedder = self.embedder
        tag = embedding_after(fresh, previous, embedder.tag if embedder is not None else None, self._unembedded)
        self.catalog.finish_video(rec.id, routes, tag)
        return FileResult(key, status, None, info.duration, time.monotonic() - plan.t0, routes, self.clock.seconds,
                          video_id=rec.id)

    def start(self, plan: Plan) -> VideoRecord:
        """Mark the planned file 'indexing' (a new file gets its id here), before any of its rows is written."""
        return self.catalog.start_video(self.library, str(plan.path), plan.size, plan.mtime, plan.digest,
                                        plan.source)

    def fail_unreadable(self, plan: Plan, problem: str) -> None:
        """The file cannot be decoded: say so in the catalog, unless an indexed version of it stays searchable."""
        if plan.old is None or plan.old.status != "done":
            self.catalog.fail_video(self.start(plan).id, problem)

    def _keep_the_rest(self, rec: VideoRecord, kept: dict[str, dict], todo: list[str], note: str) -> None:
        """An update stopped half-way: the video stays searchable with its other routes; `todo` is redone later."""
        self.store.delete_video(rec.id, todo)
        self.catalog.finish_video(rec.id, {**kept, **{r: {"state": "failed", "note": note} for r in todo}},
                                  rec.embedding)

    def _analyze(self, rec: VideoRecord, info: VideoInfo, todo: list[str], path: Path,
                 fresh: bool = True) -> dict[str, dict]:
        routes: dict[str, dict] = {}
        for route in todo:
            if route in (VISUAL, SPEECH, OCR, CAPTION, FACE, DNA) and self.analyzers.get(route) is None:
                routes[route] = {"state": "unavailable", "note": self.analyzers.reason(route)}
        framed = [r for r in _FRAMED if r in todo and r not in routes]
        frames_pass = info.has_video and bool(framed)
        speech: _SpeechJob | None = None
        if (frames_pass and self.settings.index_overlap and info.has_audio and SPEECH in todo
                and SPEECH not in routes):
            speech = _SpeechJob(self.analyzers.get(SPEECH), path, self.clock)
        try:
            if frames_pass:
                routes.update(self._frames_routes(rec, info, path, [r for r in todo if r not in routes], fresh))
            elif not info.has_video:
                for route in _FRAMED:
                    if route in todo and route not in routes:
                        routes[route] = {"state": "done", "version": self.analyzers.version(route), "rows": 0,
                                         "note": "no video stream"}
        except BaseException:
            if speech is not None:
                speech.cancel()  # stops after the window it is on; nothing of it was stored
            raise
        if SPEECH in todo and SPEECH not in routes:
            routes[SPEECH] = self._speech_route(rec, info, path, speech)
        if TITLE in todo:
            n = self.store_text([self._title_row(rec, info.duration)])
            routes[TITLE] = {"state": "done", "version": self.analyzers.version(TITLE), "rows": n}
        return routes

    def reindex_title(self, rec: VideoRecord) -> None:
        """Rewrite the title row after the description changed."""
        self.store.delete_video(rec.id, [TITLE])
        self._unembedded = 0
        self.store_text([self._title_row(rec, rec.duration)])
        if self._unembedded:
            self.catalog.set_embedding(rec.id, None)

    def _title_row(self, rec: VideoRecord, duration: float) -> dict:
        text = title_text(Path(rec.path), rec.description)
        return self._text_row(rec, TextSpan(TITLE, 0.0, duration, text))

    def _text_row(self, rec: VideoRecord, span: TextSpan) -> dict:
        return {"tenant": rec.tenant, "library_id": rec.library_id, "video_id": rec.id, "route": span.route,
                "start": float(span.start), "end": float(span.end), "text": span.text}

    def _speech_route(self, rec: VideoRecord, info: VideoInfo, path: Path, job: _SpeechJob | None = None) -> dict:
        """Transcribe and store the speech rows; with `job`, take the spans it recognised meanwhile."""
        model = self.analyzers.get(SPEECH)
        version = self.analyzers.version(SPEECH)
        if not info.has_audio:
            return {"state": "done", "version": version, "rows": 0, "note": "no audio stream"}
        rows = []
        self.on_event(IndexEvent(str(path), SPEECH, 0.0, info.duration))
        transcript = None
        if job is not None:
            spans, language = job.result()
        else:
            with self.clock.stage(SPEECH):
                transcript = model.transcribe(path)  # decodes the audio track now
            spans = self.clock.timed(SPEECH, transcript)
        for span in spans:
            rows.append(self._text_row(rec, span))
            self.on_event(IndexEvent(str(path), SPEECH, min(span.end, info.duration), info.duration))
        self.on_event(IndexEvent(str(path), SPEECH, info.duration, info.duration))
        n = self.store_text(rows)
        if transcript is not None:
            language = transcript.language if rows else None
        return {"state": "done", "version": version, "rows": n, "language": language}

    def _frames_routes(self, rec: VideoRecord, info: VideoInfo, path: Path, todo: list[str],
                       fresh: bool = True) -> dict[str, dict]:
        s = self.settings
        reader = self.analyzers.get(OCR) if OCR in todo else None
        fp = _FramePass(rec, path, info.duration, self.analyzers.get(VISUAL) if VISUAL in todo else None)
        captioner = self.analyzers.get(CAPTION) if CAPTION in todo else None
        if captioner is not None:
            from vidseek.index.captions import CaptionSink

            fp.captions = CaptionSink(captioner, lambda span: self._text_row(rec, span), self.store_text)
        if fresh or VISUAL in todo or OCR in todo or not self.catalog.segments_for([rec.id])[rec.id]:
            # (captions alone leave the stored shots and thumbnails as they are)
            fp.thumbs = self.thumb_dir(rec.id)
            shutil.rmtree(fp.thumbs, ignore_errors=True)
        if fp.encoder is not None:
            self.store.ensure_visual(fp.encoder.dim)
        if FACE in todo and (face_model := self.analyzers.get(FACE)) is not None:
            from vidseek.index.faces import FaceSink

            fp.faces = FaceSink(face_model, self.thumb_dir(rec.id), s.thumbnail_size, 1.0 / s.frame_rate)
        if DNA in todo and self.analyzers.get(DNA) is not None:
            from vidseek.index.dna import DnaSink

            fp.dna = DnaSink(info.duration)

        from vidseek.media.frames import sample_frames
        from vidseek.media.overlay import MeanImage
        from vidseek.media.segments import detect_segments

        mean = MeanImage()
        frames = sample_frames(path, fps=s.frame_rate, max_side=s.frame_max_side)
        if reader is not None:  # the static-overlay OCR pass needs the mean frame
            frames = mean.tap(frames)
        if fp.faces is not None or fp.dna is not None:
            frames = self._tap_frames(fp, frames)
        segments = detect_segments(frames, max_seconds=s.max_segment_seconds, threshold=s.shot_threshold,
                                   frame_interval=1.0 / s.frame_rate, duration=info.duration)
        ocr_rows = []
        if reader is not None:
            from vidseek.analyze.ocr import read_segments

            t = time.perf_counter()
            before = sum(self.clock.seconds.values())
            spans = list(read_segments(self._tap(fp, segments), reader))
            inner = sum(self.clock.seconds.values()) - before  # frames, visual, captions, store: charged already
            spans += self._overlay_spans(mean, path, info, reader, spans)
            self.clock.add(OCR, time.perf_counter() - t - inner)
            ocr_rows = [self._text_row(rec, span) for span in spans]
        else:
            for _ in self._tap(fp, segments):
                pass
        if not fp.shots:
            raise MediaError(path, "no frame could be decoded")
        if fp.thumbs is not None:
            self.catalog.replace_segments(rec.id, fp.shots)
        return self._frames_states(fp, reader, ocr_rows)

    def _frames_states(self, fp: _FramePass, reader: Any | None, ocr_rows: list[dict]) -> dict[str, dict]:
        """Store the OCR and caption rows; the states of the routes the frames pass served."""
        out: dict[str, dict] = {}
        if fp.encoder is not None:
            out[VISUAL] = {"state": "done", "version": fp.encoder.version, "rows": fp.visual_rows}
        if reader is not None:
            out[OCR] = {"state": "done", "version": reader.version, "rows": self.store_text(ocr_rows)}
        if fp.captions is not None:
            out[CAPTION] = fp.captions.finish()
        if fp.faces is not None:
            out[FACE] = self._store_faces(fp)
        if fp.dna is not None:
            with self.clock.stage("store"):
                out[DNA] = fp.dna.store(fp.rec, self.catalog, self.store, fp.duration)
            out[DNA].update(self._copies_note(fp.rec, fp.dna.fingerprint))
        return out

    def _tap_frames(self, fp: _FramePass, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Pass sampled frames through, detecting faces and fingerprinting them on the way."""
        # This runs inside the "frames" stage's timing (decode and shots pull frames through it): the
        # time moves from "frames" to the face and dna stages instead of being counted twice.
        for frame in frames:
            for stage, sink in ((FACE, fp.faces), (DNA, fp.dna)):
                if sink is not None:
                    t = time.perf_counter()
                    sink.add(frame)
                    spent = time.perf_counter() - t
                    self.clock.add(stage, spent)
                    self.clock.add("frames", -spent)
            yield frame

    def _store_faces(self, fp: _FramePass) -> dict:
        """File the video's face tracks (catalog, then Milvus under the same ids) and their people."""
        rec = fp.rec
        with self.clock.stage(FACE):
            rows = fp.faces.finish()
        with self.clock.stage("store"):
            ids = self.catalog.add_faces(rec.id, rec.tenant, rows)
            if rows:
                self.store.ensure_faces(fp.faces.model.dim)
                self.store.insert_faces([{"id": i, "tenant": rec.tenant, "library_id": rec.library_id,
                                          "video_id": rec.id, "start": float(r["start"]), "end": float(r["end"]),
                                          "vector": r["vector"]} for i, r in zip(ids, rows)])
        with self.clock.stage(FACE):
            self._file_people(rec)
        return {"state": "done", "version": self.analyzers.version(FACE), "rows": len(rows)}

    def _file_people(self, rec: VideoRecord) -> None:
        """File the video's new face tracks under people (known ones, or new)."""
        from vidseek.index.faces import assign_people

        assign_people(self.catalog, rec.tenant, video_id=rec.id)

    def _copies_note(self, rec: VideoRecord, fingerprint: Any) -> dict:
        """"copy of X": the route's note when this video's picture matches an indexed video's (it is
        indexed anyway; `vidseek duplicates` lists every group)."""
        from vidseek.search.copies import find_copies

        try:
            with self.clock.stage(DNA):
                found = find_copies(self.store, self.catalog, rec.tenant, fingerprint, exclude={rec.id}, limit=3,
                                    frames=_COPY_CHECK_FRAMES, cropped_frames=_COPY_CHECK_CROPPED)
        except VidseekError as exc:  # the copy check is a note: it never fails the video
            log.warning("copy check for %s failed: %s", rec.path, exc)
            return {}
        if not found:
            return {}
        names = [f"{Path(c.path).name} ({c.describe()})" for c in found]
        links = [{k: v for k, v in c.to_dict().items() if k not in ("path", "library_id")} for c in found]
        return {"note": "copy of " + "; ".join(names), "copies": links}

    def _tap(self, fp: _FramePass, segs: Iterable[Segment]) -> Iterator[Segment]:
        """Pass shots through, saving thumbnails, encoding keyframes in batches and captioning them on the way."""
        from vidseek.media.thumbs import save_thumbnail

        batch: list[Segment] = []
        for seg in self.clock.timed("frames", segs):
            thumb = fp.thumbs / f"{seg.index:05d}.jpg" if fp.thumbs is not None else None
            if thumb is not None:
                with self.clock.stage("frames"):
                    save_thumbnail(seg.keyframe, thumb, self.settings.thumbnail_size)
            fp.shots.append(SegmentRecord(fp.rec.id, seg.index, seg.start, seg.end, str(thumb) if thumb else None))
            if fp.encoder is not None:
                batch.append(seg)
                if len(batch) >= _VISUAL_BATCH:
                    fp.visual_rows += self._encode(fp.rec, fp.encoder, batch)
                    batch = []
            if fp.captions is not None:
                with self.clock.stage(CAPTION):
                    if fp.captions.add(seg):
                        self.on_event(IndexEvent(str(fp.path), CAPTION, seg.end, fp.duration))
            self.on_event(IndexEvent(str(fp.path), "frames", seg.end, fp.duration))
            yield seg
        if batch:
            fp.visual_rows += self._encode(fp.rec, fp.encoder, batch)

    def _overlay_spans(self, mean: MeanImage, path: Path, info: VideoInfo, reader, spans: list[TextSpan]):
        """Text fixed on screen (watermarks, logos) that per-shot OCR misses on busy frames."""
        from vidseek.analyze.ocr import read_overlay
        from vidseek.media.overlay import TARGET_FRAMES, dense_overlay

        image = mean.overlay() if mean.count >= TARGET_FRAMES else None
        if image is None:
            image = dense_overlay(path, info.duration, self.settings.frame_max_side)
        return read_overlay(image, reader, spans, info.duration) if image is not None else []

    def _encode(self, rec: VideoRecord, encoder, batch: list[Segment]) -> int:
        with self.clock.stage(VISUAL):
            vectors = encoder.encode_images([seg.keyframe for seg in batch])
        rows = [{"tenant": rec.tenant, "library_id": rec.library_id, "video_id": rec.id, "start": float(seg.start),
                 "end": float(seg.end), "vector": v} for seg, v in zip(batch, vectors)]
        with self.clock.stage("store"):
            return self.store.insert_visual(rows)
