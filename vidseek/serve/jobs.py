"""Indexing jobs for the server: a queue kept in the catalog and one worker thread.

Jobs survive restarts (a job left 'running' by a crash is queued again; indexing is
idempotent). Progress of the running job lives in memory and is merged into what the API
returns, so the catalog is not written on every frame.

On a shared catalog (PostgreSQL) several servers take jobs from one queue: each claims a job
for itself, sends a heartbeat with its progress every few seconds while it runs it, and takes
over the jobs of a server whose heartbeat stopped for `job_lease_seconds` (it died). A cancel
asked of any server reaches the one running the job through the catalog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidseek.engine import Engine
from vidseek.errors import Cancelled, NotFoundError, VidseekError
from vidseek.index.pipeline import FileResult, IndexEvent
from vidseek.records import CAPTION, OCR, SPEECH, VISUAL
from vidseek.store.catalog import JobRecord

log = logging.getLogger(__name__)

# Share of a file's indexing time per progress stage, measured on the benchmark video
# (speech ~16x realtime, frames + visual + OCR ~40x): used to turn stage progress into one percent.
_STAGE_WEIGHT = {"frames": 0.35, SPEECH: 0.65, CAPTION: 1.0}  # captions: one VLM call per shot, the slowest


@dataclass
class Live:
    stage: str | None = None
    percent: float = 0.0
    eta_seconds: float | None = None
    stages: dict[str, float] = field(default_factory=dict)  # stage -> fraction done


class JobRunner:
    """Runs queued jobs one at a time. Usage: `runner = JobRunner(engine); runner.start(); runner.wake()`."""

    def __init__(self, engine: Engine, poll_seconds: float = 2.0):
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"  # this server, in the catalog
        self.lease_seconds = engine.settings.job_lease_seconds
        self._beat_seconds = min(5.0, self.lease_seconds / 3)
        self._last_sweep = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel: set[int] = set()
        self._live: dict[int, Live] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vidseek-indexer", daemon=True)
        self._beat = threading.Thread(target=self._heartbeats, name="vidseek-job-heartbeat", daemon=True)

    def start(self) -> None:
        catalog = self.engine.catalog
        if catalog.shared:  # other servers' running jobs are theirs, unless their heartbeat stopped
            requeued = catalog.requeue_stale(self.lease_seconds)
            self._beat.start()
        else:
            requeued = catalog.requeue_running()
        if requeued:
            log.warning("%d indexing job(s) interrupted by the last shutdown were queued again", requeued)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the worker to stop after cancelling the running file (it is queued again on restart)."""
        self._stop.set()
        with self._lock:
            self._cancel.update(self._live)
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._beat.is_alive():
            self._beat.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Whether a job is running now."""
        return bool(self._live)

    def view(self, job: JobRecord) -> JobRecord:
        """The job with the running one's live progress filled in."""
        live = self._live.get(job.id)
        if live is None or job.state != "running":
            return job
        return replace(job, stage=live.stage, percent=round(live.percent, 1), eta_seconds=live.eta_seconds,
                       stages={k: round(100 * v, 1) for k, v in live.stages.items()})

    def cancel(self, job: JobRecord, wait: float = 0.0) -> JobRecord:
        """Queued: cancelled now. Running: stopped at its next progress step; with `wait`, block up
        to that many seconds until it has stopped (before deleting what it writes). Finished: unchanged."""
        catalog = self.engine.catalog
        if job.state == "queued" and not catalog.cancel_queued(job.id):
            job = catalog.job(job.id)  # a server claimed it a moment ago: stop it as a running one
        if job.state == "running":
            if job.id in self._live or job.owner == self.owner:
                with self._lock:
                    self._cancel.add(job.id)
            else:  # another server runs it: it reads the request with its next heartbeat
                catalog.request_cancel(job.id)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (job.id in self._live or catalog.job(job.id).state == "running"):
                time.sleep(0.05)
        return self.view(catalog.job(job.id))

    # worker -------------------------------------------------------------------------------
    def _heartbeats(self) -> None:
        """Shared catalog: tell the others this server still runs its jobs, and how far they are; stop a
        job that is no longer ours (taken over after a stall) or that someone asked to cancel."""
        catalog = self.engine.catalog
        while not self._stop.wait(self._beat_seconds):
            for job_id, live in list(self._live.items()):
                try:
                    mine = catalog.heartbeat(job_id, self.owner, percent=round(live.percent, 1), stage=live.stage,
                                             eta_seconds=live.eta_seconds)
                except Exception:  # the catalog server is away for a moment: the lease allows for it
                    log.warning("heartbeat for indexing job %d failed", job_id, exc_info=True)
                    continue
                if not mine:
                    with self._lock:
                        self._cancel.add(job_id)

    def _sweep(self) -> None:
        """Shared catalog: queue again the jobs of servers that stopped sending heartbeats."""
        now = time.monotonic()
        if now - self._last_sweep < self.lease_seconds / 2:
            return
        self._last_sweep = now
        requeued = self.engine.catalog.requeue_stale(self.lease_seconds)
        if requeued:
            log.warning("%d indexing job(s) of a server that stopped answering were queued again", requeued)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.engine.catalog.shared:
                try:
                    self._sweep()
                except Exception:
                    log.warning("looking for stalled indexing jobs failed", exc_info=True)
            try:
                job = self.engine.catalog.claim_job(self.owner)
            except Exception:  # the catalog server is away: try again after a pause
                log.warning("claiming an indexing job failed", exc_info=True)
                job = None
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:  # a bug must not kill the worker; the job says what happened
                log.exception("indexing job %d failed", job.id)
                with contextlib.suppress(Exception):
                    self.engine.catalog.update_job(job.id, self.owner, state="failed",
                                                   error=f"internal error: {exc}", finished_at=time.time())
            finally:
                with self._lock:
                    self._live.pop(job.id, None)
                    self._cancel.discard(job.id)

    def _run(self, job: JobRecord) -> None:
        catalog = self.engine.catalog
        started = job.started_at or time.time()  # claim_job marked it running
        try:
            library = self.engine.tenant(job.tenant).library(job.library_id)
        except NotFoundError:
            catalog.update_job(job.id, self.owner, state="cancelled", error="library deleted", finished_at=time.time())
            return
        existed = catalog.get_by_path(job.library_id, job.path) is not None
        live = Live()
        with self._lock:
            self._live[job.id] = live
        expected = self._expected_stages(library.settings.routes)
        fractions = live.stages

        def on_event(event: IndexEvent) -> None:
            if job.id in self._cancel:
                raise Cancelled("indexing cancelled")
            if event.stage == SPEECH and "frames" not in fractions:
                expected.discard("frames")  # audio-only file: speech is all there is
            fractions[event.stage] = min(1.0, event.done / event.total) if event.total > 0 else 1.0
            live.stage = event.stage
            weight = sum(_STAGE_WEIGHT.get(s, 0.0) for s in expected) or 1.0
            done = sum(_STAGE_WEIGHT.get(s, 0.0) * fractions.get(s, 0.0) for s in expected)
            live.percent = 100.0 * min(0.99, done / weight)
            elapsed = time.time() - started
            live.eta_seconds = round(elapsed * (100 - live.percent) / live.percent, 1) if live.percent > 2 else None

        try:
            report = library.index([Path(job.path)], on_event=on_event, source=lambda _: job.source)
        except VidseekError as exc:
            catalog.update_job(job.id, self.owner, state="failed", error=str(exc), finished_at=time.time())
            return
        result = report.results[0] if report.results else None
        self._finish(job, result, report.failed, existed)

    def _finish(self, job: JobRecord, result: FileResult | None, failed: list[tuple[str, str]], existed: bool) -> None:
        catalog = self.engine.catalog
        now = time.time()
        mine = self.owner
        try:
            holder = catalog.job(job.id).owner
        except NotFoundError:  # deleted with its library
            return
        if holder != mine:  # taken over by another server after a stall: its run counts
            log.warning("indexing job %d was taken over by %s; this server's run is dropped", job.id,
                        holder or "another server")
        elif result is None:  # the path vanished or is not a file we index
            problem = failed[0][1] if failed else "nothing to index at this path"
            catalog.update_job(job.id, mine, state="failed", error=problem, finished_at=now)
        elif result.status == "cancelled" and self._stop.is_set():  # server shutdown: run it again next start
            catalog.update_job(job.id, mine, state="queued", percent=0.0, stage=None, started_at=None, owner=None)
        elif result.status == "cancelled":
            if not existed and result.video_id is not None:  # a new file leaves nothing behind
                with contextlib.suppress(NotFoundError):  # already deleted with its library
                    self.engine.tenant(job.tenant).delete_video(result.video_id)
            catalog.update_job(job.id, mine, state="cancelled", video_id=None if not existed else result.video_id,
                               finished_at=now)
        elif result.status == "failed":
            catalog.update_job(job.id, mine, state="failed", video_id=result.video_id, error=result.error,
                               finished_at=now)
        elif result.video_id is not None and not catalog.videos_by_ids([result.video_id], job.tenant):
            catalog.update_job(job.id, mine, state="cancelled", video_id=None, finished_at=now,
                               error="cancelled: the video was deleted while it was being indexed")
        else:
            catalog.update_job(job.id, mine, state="done", video_id=result.video_id, percent=100.0, stage=None,
                               eta_seconds=0.0, finished_at=now)

    @staticmethod
    def _expected_stages(routes: list[str]) -> set[str]:
        stages = set()
        if VISUAL in routes or OCR in routes:
            stages.add("frames")
        if SPEECH in routes:
            stages.add(SPEECH)
        if CAPTION in routes:
            stages.add(CAPTION)
        return stages or {"frames"}
