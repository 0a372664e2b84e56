"""Index on a Ray cluster (`vidseek index PATHS --ray ADDRESS`; `pip install "vidseek[cluster]"`).

The driver (this process) scans, fingerprints and decides what each file needs exactly as a local
run does (`VideoIndexer.plan`), and it alone writes the catalog and the store (Milvus Lite can only be
opened by one process; with a server, one writer keeps the crash-safety rule in one place). Workers
are Ray actors that load their models once and run the per-video analysis (`vidseek.index.remote`).

- Backpressure: each worker has at most `_QUEUE_PER_WORKER` files sent to it, so a big library
  never floods memory or the object store; results are written and dropped as they arrive.
- Failures: a worker that dies is restarted by Ray and its file is retried (up to
  `_RETRIES` times, then that file fails with the node named). Nothing a worker did is written
  until its whole result is in, so a retry leaves no duplicates. A driver that dies leaves its new
  files 'indexing' (never searchable), and a re-run does them again.
- Progress: one display for the whole cluster (`IndexEvent(stage="cluster")`, in bytes of files
  through), fed by workers' reports; per-file results and errors as in a local run.

Usage::

    with RayCluster.connect("local") as cluster:
        report = cluster.index(library_handle, paths)
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidseek.errors import VidseekError
from vidseek.index.pipeline import FileResult, IndexEvent, Plan, Progress, VideoIndexer, internal_error
from vidseek.index.remote import WorkOrder, analyze, apply, work_order

log = logging.getLogger(__name__)

SETTING = "VIDSEEK_RAY_ADDRESS / --ray"
_QUEUE_PER_WORKER = 2  # one file analysed, one waiting: the worker never idles while the driver writes
_RETRIES = 2  # a file whose worker died is tried this many more times (Ray restarts the worker)
_REPORT_EVERY = 1.0  # seconds between a worker's progress reports for one file
_POLL = 0.5
_START_TIMEOUT = 120.0  # seconds for the workers to start (a cluster short of CPUs never places them)


class ClusterError(VidseekError):
    """The Ray cluster cannot be reached or used; the message names the setting."""


def _ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise ClusterError(f"{SETTING}: indexing on Ray needs Ray: pip install \"vidseek[cluster]\"") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A clear error in seconds for an address nothing listens on (Ray itself retries for a minute)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"{SETTING}: {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"{SETTING}: cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def _node() -> str:
    """This worker's node, for per-file errors: host name and the address Ray knows it by."""
    try:
        import ray

        return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
    except Exception:  # outside Ray (tests calling the actor's code directly)
        return socket.gethostname()


class _Worker:
    """A Ray actor's body: holds the models (one `Analyzers` per library settings) for its lifetime."""

    def __init__(self, cpus: float = 1.0) -> None:
        self._analyzers: dict[str, Any] = {}
        self.node = _node()
        self.cpus = cpus

    def info(self) -> tuple[str, int]:
        return self.node, os.getpid()

    def analyze(self, order: WorkOrder, board: Any) -> Any:
        from vidseek.index.analyzers import Analyzers

        if order.settings.threads == 0:  # "all cores" means the cores Ray gave this worker
            order.settings = order.settings.model_copy(update={"threads": max(1, int(self.cpus))})
        key = order.settings.model_dump_json(exclude={"data_dir"})
        analyzers = self._analyzers.get(key)
        if analyzers is None:
            analyzers = self._analyzers[key] = Analyzers(order.settings)
        last, most = [0.0], [0.0]

        def on_event(e: IndexEvent) -> None:
            # the stages report in turn (frames, then the rest of speech): the file's share is the furthest
            now = time.monotonic()
            if e.total > 0:
                most[0] = max(most[0], min(e.done / e.total, 0.99))
            if board is not None and now - last[0] >= _REPORT_EVERY:
                last[0] = now
                board.report.remote(order.path, most[0])

        return analyze(order, analyzers, on_event, node=self.node)


class _Board:
    """A Ray actor the workers report progress to, and the driver reads: path -> fraction analysed."""

    def __init__(self) -> None:
        self.progress: dict[str, float] = {}

    def report(self, path: str, fraction: float) -> None:
        self.progress[path] = fraction

    def take(self) -> dict[str, float]:
        return dict(self.progress)


@dataclass
class _Sent:
    plan: Plan
    order: WorkOrder
    worker: int
    tries: int = 0


class RayCluster:
    """A connection to a Ray cluster (or a local Ray runtime) and the workers started on it."""

    def __init__(self, address: str, started: bool):
        self.address = address
        self._started = started  # this process started the runtime ("local"), so it stops it
        self._workers: list[Any] = []
        self._board: Any = None
        self.workers: list[tuple[str, int]] = []  # (node, pid) of each worker as it started

    @classmethod
    def connect(cls, address: str) -> RayCluster:
        """Join the cluster at `address` (HOST:PORT, ray://HOST:PORT, 'auto'), or 'local' to start a
        Ray runtime in this process. An unreachable address is a `ClusterError` naming the setting."""
        ray = _ray()
        if ray.is_initialized():
            return cls(address, started=False)
        _check_reachable(address)
        try:
            if address == "local":
                ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # ConnectionError, a version mismatch, a refused client
            raise ClusterError(f"{SETTING}: cannot join the Ray cluster at {address}: {exc}") from None
        return cls(address, started=address == "local")

    def close(self) -> None:
        ray = _ray()
        for worker in self._workers:
            ray.kill(worker)
        if self._board is not None:
            ray.kill(self._board)
        self._workers, self._board = [], None
        if self._started:
            ray.shutdown()

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_workers(self, count: int | None = None, cpus: float = 1.0) -> int:
        """Start the analysis actors: `count`, or as many as the cluster's CPUs hold at `cpus` each."""
        ray = _ray()
        if self._workers:
            return len(self._workers)
        total = ray.cluster_resources().get("CPU", 0.0)
        if count is None:
            count = int(total // cpus)
        if count < 1 or total < cpus:
            raise ClusterError(f"{SETTING}: the Ray cluster at {self.address} has {total:g} CPUs; a worker needs "
                               f"{cpus:g} (VIDSEEK_RAY_WORKER_CPUS)")
        worker = ray.remote(max_restarts=-1, max_task_retries=0)(_Worker)
        self._workers = [worker.options(num_cpus=cpus).remote(cpus) for _ in range(count)]
        self._board = ray.remote(num_cpus=0)(_Board).remote()
        try:
            self.workers = ray.get([w.info.remote() for w in self._workers], timeout=_START_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise ClusterError(f"{SETTING}: {count} workers of {cpus:g} CPUs did not start on the Ray cluster at "
                               f"{self.address} within {_START_TIMEOUT:.0f} s (VIDSEEK_RAY_WORKERS, "
                               "VIDSEEK_RAY_WORKER_CPUS)") from None
        log.info("%d Ray workers: %s", count, ", ".join(f"{node} pid {pid}" for node, pid in self.workers))
        return count

    def index(self, indexer: VideoIndexer, files: Iterable[Path], source: Callable[[Path], str | None] | None = None,
              on_file: Callable[[FileResult], None] | None = None, on_event: Progress | None = None,
              workers: int | None = None, cpus: float = 1.0) -> list[FileResult]:
        """Index `files` (already scanned) into the indexer's library; one result per file, in finishing order."""
        ray = _ray()
        n = self.start_workers(workers, cpus)
        files = list(files)
        sizes = {str(p): _size(p) for p in files}
        total = float(sum(sizes.values())) or 1.0
        waiting = deque(files)
        sent: dict[Any, _Sent] = {}
        load = [0] * n
        results: list[FileResult] = []
        finished = 0.0
        label = f"{n} worker{'s' if n != 1 else ''}"

        def report(result: FileResult) -> None:
            nonlocal finished
            finished += sizes.get(result.path, 0)
            results.append(result)
            if on_file is not None:
                on_file(result)

        def send(item: _Sent) -> None:
            ref = self._workers[item.worker].analyze.remote(item.order, self._board)
            sent[ref] = item
            load[item.worker] += 1

        try:
            while waiting or sent:
                while waiting and min(load) < _QUEUE_PER_WORKER:
                    path = waiting.popleft()
                    plan = _plan(indexer, path, source)
                    if isinstance(plan, FileResult):
                        report(plan)
                        continue
                    send(_Sent(plan, work_order(indexer, plan), load.index(min(load))))
                if not sent:
                    continue
                ready, _ = ray.wait(list(sent), num_returns=1, timeout=_POLL)
                for ref in ready:
                    item = sent.pop(ref)
                    load[item.worker] -= 1
                    try:
                        work = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # raised by our code, not a death: no retry
                        problem = internal_error(item.plan.path, exc)
                        indexer.fail_unreadable(item.plan, problem)
                        report(FileResult(str(item.plan.path), "failed", problem))
                        continue
                    except ray.exceptions.RayError as exc:  # the worker died (or was lost with its node)
                        if item.tries < _RETRIES:
                            item.tries += 1
                            log.warning("a worker died on %s; trying again (%d of %d)", item.plan.path,
                                        item.tries, _RETRIES)
                            item.worker = load.index(min(load))
                            send(item)
                            continue
                        problem = f"the worker died {item.tries + 1} times on this file: {_first_line(exc)}"
                        indexer.fail_unreadable(item.plan, problem)
                        report(FileResult(str(item.plan.path), "failed", problem))
                        continue
                    del ref
                    try:
                        result = apply(indexer, item.plan, item.order, work)
                    except VidseekError:
                        raise  # the store or catalog itself failed: every file would
                    except Exception as exc:
                        result = FileResult(str(item.plan.path), "failed", internal_error(item.plan.path, exc))
                    for route, why in work.unavailable.items():
                        indexer.analyzers.note_unavailable(route, why)
                    report(indexer._embed_rest(result))
                if on_event is not None:
                    busy = ray.get(self._board.take.remote()) if sent else {}
                    running = sum(sizes.get(str(s.plan.path), 0) * busy.get(str(s.plan.path), 0.0)
                                  for s in sent.values())
                    on_event(IndexEvent(label, "cluster", min(finished + running, total), total))
        except BaseException:
            for ref in sent:
                try:
                    ray.cancel(ref)
                except Exception:  # already finished, or its worker is gone
                    pass
            raise
        return results


def _plan(indexer: VideoIndexer, path: Path, source: Callable[[Path], str | None] | None) -> Plan | FileResult:
    try:
        return indexer.plan(path, source(path) if source else None)
    except VidseekError:
        raise
    except Exception as exc:
        return FileResult(str(path), "failed", internal_error(path, exc))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
