#!/usr/bin/env python
"""Load check for the REST server: N concurrent clients search while a video is being indexed.

    python benchmarks/load.py                                     # 100k segments, 1/4/8 clients, 30 s each
    python benchmarks/load.py --segments 2000 --clients 1,2 --seconds 5   # quick smoke run
    python benchmarks/load.py --no-index --json /tmp/load-idle.json       # the same without indexing, to compare

Target (issue): 0 errors, and p95 <= 500 ms at 8 concurrent clients with 100k segments on this machine.

A data dir is filled once with synthetic segments and the random-weight ViT-B/32 visual model, exactly
as `bench.py --only query` does (cached in --cache, so a second run starts in seconds). `vidseek serve`
runs on it; for each client count a fresh copy of a generated speech video is queued through the API,
and once its job is running, C threads (one keep-alive httpx.Client each) send `POST /api/search` with
bench.py's mixed English/Chinese queries for --seconds. Latency is measured per request on the client;
the server's own `seconds` (search time) is shown next to it. The job is then cancelled (or, with
--after wait, waited for) so every level starts alike. Not a test: numbers depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _corpus as corpus  # noqa: E402
from benchmarks import _visual as visual  # noqa: E402
from benchmarks._synthvideo import bench_video  # noqa: E402
from benchmarks.bench import ALL_ROUTES, FILL_MARKER, _quote, fill, table  # noqa: E402

TARGET_CLIENTS, TARGET_P95_MS = 8, 500.0
LIBRARY = "load"
KEEP_ERRORS = 5


# --------------------------------------------------------------------------------- preparation


def prepare_data(cache: Path, size: int, model: Path) -> tuple[Path, dict[str, Any]]:
    """The filled data dir (reused when its fill marker is there) and the fill figures."""
    import vidseek
    from vidseek.records import VISUAL

    data = cache / f"load-{size}"
    marker = data / FILL_MARKER
    if marker.exists():
        return data, json.loads(marker.read_text())
    shutil.rmtree(data, ignore_errors=True)
    print(f"filling {data} with {size:,} synthetic segments (once; cached) ...", flush=True)
    with vidseek.open(data, routes=list(ALL_ROUTES), visual_model=str(model)) as engine:
        encoder = engine.analyzers.get(VISUAL)
        if encoder is None:
            raise RuntimeError(f"visual model did not load: {engine.analyzers.reason(VISUAL)}")
        info = fill(engine, size, encoder, int(getattr(encoder, "dim", 512)), seed=size)
    marker.write_text(json.dumps(info))
    print(f"  filled in {info['total_s']:.0f} s", flush=True)
    return data, info


def query_list(size: int, samples: list[str], n: int = 100, warmup: int = 5) -> tuple[list[str], list[str]]:
    """(warm-up, queries) as bench.py's query section builds them; every 4th quotes a stored row."""
    words, weights = corpus.vocabulary(np.random.default_rng(1234))
    qs = corpus.queries(np.random.default_rng(11), words, weights, n + warmup)
    warm, qs = qs[:warmup], qs[warmup:]
    rng = np.random.default_rng(size)
    return warm, [_quote(rng, samples[int(rng.integers(len(samples)))]) if i % 4 == 0 else q for i, q in enumerate(qs)]


# --------------------------------------------------------------------------------- server


class Server:
    """`vidseek serve` in its own process group; `stop()` sends SIGINT, then kills after `grace` s."""

    def __init__(self, data: Path, model: Path, media: Path, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("vidseek")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from vidseek.cli import main; main()"]
        env = dict(os.environ, VIDSEEK_VISUAL_MODEL=str(model), VIDSEEK_MEDIA_ROOTS=str(media),
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # All clients share one loopback address and no key: the per-key rate limit (20/s by default)
        # would answer most of them 429. This measures capacity, so it is off unless set.
        env.setdefault("VIDSEEK_RATE_LIMIT", "0")
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen([*cmd, "serve", "-d", str(data), "--host", "127.0.0.1", "--port",
                                          str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

    def wait_healthy(self, timeout: float = 300.0) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); log {self.log}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not healthy after {timeout:.0f} s; log {self.log}:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, grace: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group: Milvus Lite's own server process too
            self.proc.wait()


def api(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    r = client.request(method, "/api" + path, **kw)
    if r.status_code >= 400:
        raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


def fresh_library(client: httpx.Client) -> int:
    """The `load` library, emptied: one left by an interrupted run is deleted (its jobs cancelled)."""
    for lib in api(client, "GET", "/libraries"):
        if lib["name"] == LIBRARY:
            api(client, "DELETE", f"/libraries/{lib['id']}")
    return api(client, "POST", "/libraries", json={"name": LIBRARY})["id"]


def start_indexing(client: httpx.Client, lib_id: int, media: Path, video: Path, level: int) -> dict:
    """Queue a fresh copy of the video; return the job once it runs and its first stage has begun."""
    name = f"load-{level}c-{time.time_ns()}.mp4"
    shutil.copyfile(video, media / name)
    root = api(client, "GET", "/roots")[0]["name"]
    job = api(client, "POST", f"/libraries/{lib_id}/videos", json={"root": root, "path": name})["jobs"][0]
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 180:
        job = api(client, "GET", f"/jobs/{job['id']}")
        if job["state"] not in ("queued", "running") or (job["state"] == "running" and job["stage"]):
            break
        time.sleep(0.5)
    if job["state"] != "running":
        raise RuntimeError(f"indexing job did not start: {job}")
    return job


def settle(client: httpx.Client, job: dict, after: str) -> dict:
    """Cancel the job (or wait for it) and wait until it has finished either way."""
    if after == "cancel":
        api(client, "POST", f"/jobs/{job['id']}/cancel")
    t0 = time.perf_counter()
    while job["state"] in ("queued", "running") and time.perf_counter() - t0 < 900:
        time.sleep(1.0)
        job = api(client, "GET", f"/jobs/{job['id']}")
    return job


class JobWatch(threading.Thread):
    """Polls the job every second during a window: was it running the whole time?"""

    def __init__(self, url: str, job_id: int):
        super().__init__(daemon=True)
        self.url, self.job_id, self.states = url, job_id, []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while True:
                try:
                    job = api(c, "GET", f"/jobs/{self.job_id}")
                    self.states.append((job["state"], job["stage"], job["percent"]))
                except Exception as exc:  # counted as "not seen running"
                    self.states.append((f"poll failed: {exc}", None, None))
                if self.done.wait(1.0):
                    return


# --------------------------------------------------------------------------------- load


def client_loop(url: str, queries: list[str], seed: int, deadline: float, out: dict[str, list]) -> None:
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, timeout=60) as c:
        while time.perf_counter() < deadline:
            q = queries[int(rng.integers(len(queries)))]
            t = time.perf_counter()
            try:
                r = c.post("/api/search", json={"q": q, "limit": 10})
                ms = (time.perf_counter() - t) * 1000
                if r.status_code == 200:
                    out["ms"].append(ms)
                    out["server_ms"].append(r.json()["seconds"] * 1000)
                else:
                    out["errors"].append(f"HTTP {r.status_code} for {q!r}: {r.text[:200]}")
            except Exception as exc:  # a refused/reset/timed-out request is an error to count, not a crash
                out["errors"].append(f"{type(exc).__name__} for {q!r}: {exc}")


def run_level(url: str, clients: int, seconds: float, queries: list[str]) -> dict[str, Any]:
    out: dict[str, list] = {"ms": [], "server_ms": [], "errors": []}  # list.append is atomic across threads
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, queries, 1000 + i, deadline, out), daemon=True)
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms, srv = np.asarray(out["ms"] or [np.nan]), np.asarray(out["server_ms"] or [np.nan])
    n = len(out["ms"]) + len(out["errors"])
    return {"clients": clients, "requests": n, "ok": len(out["ms"]), "wall_s": round(wall, 2), "qps": n / wall,
            **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)}, "max_ms": float(ms.max()),
            "server_p50_ms": float(np.percentile(srv, 50)), "server_p95_ms": float(np.percentile(srv, 95)),
            "errors": len(out["errors"]), "first_errors": out["errors"][:KEEP_ERRORS]}


def level(args: argparse.Namespace, server: Server, ctl: httpx.Client, lib_id: int, media: Path, video: Path,
          clients: int, queries: list[str]) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)
    job = watch = None
    if not args.no_index:
        job = start_indexing(ctl, lib_id, media, video, clients)
        watch = JobWatch(server.url, job["id"])
        watch.start()
    print(f"[{clients} clients] {args.seconds:g} s" + (f", job {job['id']} running ({job['stage']})" if job else ""),
          flush=True)
    res = run_level(server.url, clients, args.seconds, queries)
    res["loadavg_before"] = load_before
    if job is None:
        res["indexing"] = "no (--no-index)"
        print(f"  {res['requests']} requests, p95 {res['p95_ms']:.0f} ms, {res['errors']} errors", flush=True)
        return res
    watch.done.set()
    watch.join()
    end = api(ctl, "GET", f"/jobs/{job['id']}")
    during = all(s[0] == "running" for s in watch.states) and end["state"] == "running"
    res["indexing"] = "yes" if during else f"no (job {end['state']} before the end)"
    res["job"] = {"id": job["id"], "state_at_end": end["state"], "stage_at_end": end["stage"],
                  "percent_start": job["percent"], "percent_end": end["percent"], "polls": len(watch.states)}
    final = settle(ctl, end, args.after)
    res["job"]["after"] = f"{'cancelled' if args.after == 'cancel' else 'waited for'}: {final['state']}"
    print(f"  {res['requests']} requests, p95 {res['p95_ms']:.0f} ms, {res['errors']} errors; job was "
          f"{end['state']} at {end['percent']}% ({end['stage']}) at the end, then {res['job']['after']}", flush=True)
    return res


# --------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--segments", type=int, default=100_000, help="synthetic segments in the data dir")
    p.add_argument("--clients", default="1,4,8", help="comma list of concurrency levels")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each level")
    p.add_argument("--video-minutes", type=float, default=6.0,
                   help="length of the speech video indexed during each level (long enough to outlast it)")
    p.add_argument("--after", choices=("cancel", "wait"), default="cancel",
                   help="after a level, cancel the indexing job (default) or wait for it to finish")
    p.add_argument("--no-index", action="store_true", help="no concurrent indexing (for comparison)")
    p.add_argument("--cache", type=Path, default=Path("~/.cache/vidseek-bench"), help="model, video, data dirs")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    cache = args.cache.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, *sys.argv])
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    print(f"vidseek load check: {command}\nmachine: {machine['cpus']} cpus, loadavg before "
          f"{' '.join(map(str, machine['loadavg_before']))}", flush=True)
    model, note = visual.random_vitb32(cache)
    if model is None:
        raise SystemExit(f"no visual model: {note}")
    data, info = prepare_data(cache, args.segments, model)
    warm, queries = query_list(args.segments, info["samples"])
    video = None if args.no_index else bench_video(cache, args.video_minutes, log=print)[0]
    media = Path(tempfile.mkdtemp(prefix="vidseek-load-media-"))
    server = Server(data, model, media, cache / f"load-{args.segments}.server.log")
    results: list[dict[str, Any]] = []
    try:
        print(f"server {server.url} healthy after {server.wait_healthy():.1f} s (log {server.log})", flush=True)
        with httpx.Client(base_url=server.url, timeout=60) as ctl:
            for q in warm:  # loads the text encoder and tokenizers; not measured
                api(ctl, "POST", "/search", json={"q": q, "limit": 10})
            lib_id = fresh_library(ctl)
            for clients in levels:
                results.append(level(args, server, ctl, lib_id, media, video, clients, queries))
            api(ctl, "DELETE", f"/libraries/{lib_id}")
    finally:
        server.stop()
        shutil.rmtree(media, ignore_errors=True)
    report(args, command, machine, info, model, results)
    return 0 if all(r["errors"] == 0 for r in results) else 1


def report(args, command: str, machine: dict, info: dict, model: Path, results: list[dict[str, Any]]) -> None:
    print(f"\nLOAD CHECK: {info['segments']:,} segments ({info['visual_rows']:,} visual + {info['text_rows']:,} text "
          f"rows), visual model {model}\n{machine['cpus']} cpus, loadavg before {machine['loadavg_before']}; "
          f"{args.seconds:g} s per level; indexing: "
          + ("none (--no-index)" if args.no_index else f"a {args.video_minutes:g}-min speech video, all routes; "
             f"job {'cancelled' if args.after == 'cancel' else 'waited for'} after each level"))
    rows = [[r["clients"], r["requests"], f"{r['qps']:.1f}", *(f"{r[k]:.0f}" for k in
             ("p50_ms", "p95_ms", "p99_ms", "max_ms", "server_p50_ms", "server_p95_ms")), r["errors"],
             r["indexing"], r["loadavg_before"]] for r in results]
    table(["clients", "requests", "QPS", "p50 ms", "p95 ms", "p99 ms", "max ms", "server p50", "server p95",
           "errors", "indexing during run", "load1 before"], rows)
    for r in results:
        for e in r["first_errors"]:
            print(f"  error at {r['clients']} clients: {e}")
    target = next((r for r in results if r["clients"] == TARGET_CLIENTS), None)
    if target is not None:
        ok = target["errors"] == 0 and target["p95_ms"] <= TARGET_P95_MS
        print(f"target at {TARGET_CLIENTS} clients: 0 errors and p95 <= {TARGET_P95_MS:g} ms -> "
              f"{'PASS' if ok else 'FAIL'} ({target['errors']} errors, p95 {target['p95_ms']:.0f} ms)"
              + ("" if args.segments >= 100_000 else f" [only {args.segments:,} segments]"))
    print(f"command: {command}")
    if args.json:
        fill_info = {k: v for k, v in info.items() if k != "samples"}
        out = {"command": command, "machine": machine, "args": vars(args), "fill": fill_info, "levels": results}
        args.json.write_text(json.dumps(dict(out, visual_model=str(model)), indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # main's finally has stopped the server
        sys.exit("interrupted; server stopped")
