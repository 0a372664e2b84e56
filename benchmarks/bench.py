#!/usr/bin/env python
"""vidseek benchmarks: indexing throughput and query latency on this machine.

    python benchmarks/bench.py                          # everything: ~4 min on 2 cores with milvus-lite 2.5
                                                        # (+~1.5 min the first time: video and model are built)
    python benchmarks/bench.py --only query --sizes 10000
    python benchmarks/bench.py --only index --visual-model ~/models/siglip2-base --json out.json

Sections (pick with --only):
  index  a generated 10-minute 640x360 video (English narration, captions every ~20 s in English
         and Chinese, scene changes; cached in --work) indexed with all routes in a child process:
         per-stage seconds and x realtime, peak RSS, bytes stored per video hour; then the same
         video with the visual route alone; then a second, incremental run of the unchanged video.
  query  a fresh data dir filled directly with synthetic rows (10k and 100k segments; one visual
         row and ~3 text rows per segment, catalog entries to match), then end-to-end
         `lib.search(q).limit(10).to_list()` latency per route set, raw store call latency, insert
         rate, and a cProfile breakdown when the target is missed.

Without --visual-model the visual route uses a random-weight ViT-B/32 CLIP exported int8 by
`vidseek.analyze.export.export_model` (cached in --work): same cost as a real one, no download.
Numbers on a shared machine are noisy; the load average is printed with every section.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import logging
import os
import platform
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import _corpus as corpus  # noqa: E402
from benchmarks import _visual as visual  # noqa: E402
from benchmarks._synthvideo import bench_video  # noqa: E402

TARGET_ALL_X = 5.0  # all routes, x realtime
TARGET_VISUAL_X = 40.0  # visual route alone, x realtime
TARGET_INCREMENTAL = 0.10  # second run / first run
TARGET_P50_MS = 150.0  # query p50 at 100k segments
TARGET_SIZE = 100_000
SEGMENTS_PER_VIDEO = 100
FILL_MARKER = "bench-fill.json"
TEXT_ROUTES = ("speech", "ocr", "title")
ALL_ROUTES = ("visual", "speech", "ocr", "title")
STAGES = ("frames", "visual", "ocr", "speech", "embed", "store")


# --------------------------------------------------------------------------------- reporting


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average every few seconds while a section runs."""

    def __init__(self, every: float = 3.0):
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        return {"mean": round(statistics.fmean(self.samples), 2), "max": round(max(self.samples), 2),
                "end": [round(x, 2) for x in os.getloadavg()]}


class Report:
    def __init__(self, args: argparse.Namespace):
        self.summary: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {
            "command": shlex.join([sys.executable, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
            "args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
            "sections": {},
        }

    def figure(self, name: str, value: float | None, unit: str, target: str = "", ok: bool | None = None) -> None:
        self.summary.append({"figure": name, "value": value, "unit": unit, "target": target, "ok": ok})

    def finish(self, t0: float, failures: list[str], json_path: Path | None) -> int:
        """The run's end, shared by the benchmark scripts: summary table, time, failed sections, JSON;
        the exit code (1 when a section failed)."""
        self.data["summary"] = self.summary
        self.data["seconds"] = round(time.perf_counter() - t0, 1)
        self.data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        self.print_summary()
        print(f"\nfinished in {self.data['seconds']:.0f} s; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for f in failures:
            print(f"SECTION FAILED - {f}")
        if json_path:
            json_path.write_text(json.dumps(self.data, indent=1, default=str))
            print(f"wrote {json_path}")
        return 1 if failures else 0

    def print_summary(self) -> None:
        rows = []
        for f in self.summary:
            value = "n/a" if f["value"] is None else f"{_num(f['value'])} {f['unit']}".strip()
            verdict = "" if f["ok"] is None else ("PASS" if f["ok"] else "FAIL")
            rows.append([f["figure"], value, f["target"], verdict])
        print()
        print("SUMMARY")
        table(["figure", "value", "target", "result"], rows)


def _num(x: float) -> str:
    if isinstance(x, int) or float(x).is_integer() and abs(x) >= 100:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            print(line)


def section(title: str, params: dict[str, Any]) -> None:
    print()
    print("=" * 100)
    print(title)
    print("  params: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    print(f"  loadavg: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cpus)")
    print("=" * 100)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def dir_size(path: Path) -> int:
    """Bytes under `path` (a folder, or a single file such as Milvus Lite 2.5's milvus.db)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree_rss(pid: int | None = None) -> dict[int, int]:
    """Resident bytes of a process and all its descendants (e.g. the Milvus Lite 2.5 server), by pid."""
    root = pid or os.getpid()
    kids, out, todo = _children_map(), {}, [root]
    while todo:
        p = todo.pop()
        todo.extend(kids.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[p] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return out


class TreeRssSampler(threading.Thread):
    """Peak of the summed RSS of this process and its descendants, sampled every `every` s."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.every, self.peak, self.peak_parts = every, 0, {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            parts = tree_rss()
            if sum(parts.values()) > self.peak:
                self.peak, self.peak_parts = sum(parts.values()), parts
            if self._stop_event.wait(self.every):
                return

    def stop(self) -> tuple[int, dict[int, int]]:
        self._stop_event.set()
        self.join()
        return self.peak, self.peak_parts


def milvus_lite_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("milvus-lite")
    except metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------- indexing


def child_index(spec_path: str) -> int:
    """Runs in a child process so its peak RSS is the indexer's alone. Writes a JSON result."""
    spec = json.loads(Path(spec_path).read_text())
    rss = TreeRssSampler()
    rss.start()
    t0 = time.perf_counter()
    import vidseek

    out: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    t = time.perf_counter()
    lib = vidseek.open(spec["data"], **spec["overrides"])
    out["open_s"] = time.perf_counter() - t
    loads = {}
    if spec.get("preload"):
        t = time.perf_counter()
        lib.store  # noqa: B018 - opens Milvus Lite (pymilvus import, server thread, collections)
        loads["store open"] = {"seconds": time.perf_counter() - t, "ok": True, "reason": None}
        for route in [r for r in lib.settings.routes if r != "title"]:
            t = time.perf_counter()
            model = lib.analyzers.get(route)
            ok = model is not None
            if route == "visual" and ok:  # sessions open on first use: count that as loading too
                model.encode_images([np.zeros((360, 640, 3), np.uint8)])
            loads[route] = {"seconds": time.perf_counter() - t, "ok": ok, "reason": lib.analyzers.reason(route)}
        t = time.perf_counter()
        embedder = lib.analyzers.embedder() if hasattr(lib.analyzers, "embedder") else None
        if embedder is not None:  # the text embedder (semantic text route): weights, then its calibration
            embedder.background()
            loads["text embedder"] = {"seconds": time.perf_counter() - t, "ok": True, "reason": None}
    out["model_load"] = loads
    t = time.perf_counter()
    report = lib.index([spec["video"]])
    out["index_s"] = time.perf_counter() - t
    out["unavailable"] = report.unavailable
    r = report.results[0] if report.results else None
    out["result"] = None if r is None else {
        "status": r.status, "error": r.error, "duration": r.duration, "seconds": r.seconds, "routes": r.routes,
        "stage_seconds": r.stage_seconds,
    }
    out["problems"] = report.problems
    t = time.perf_counter()
    lib.close()
    out["close_s"] = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - t0
    out["ru_maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak, parts = rss.stop()
    out["tree_rss_peak"] = peak  # this process + its children (Milvus Lite 2.5 runs as a child), sampled
    out["tree_rss_peak_parts"] = {str(k): v for k, v in parts.items()}
    Path(spec["out"]).write_text(json.dumps(out))
    return 0


def run_child(work: Path, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Start `bench.py --child-index`, wait with wait4 for its own peak RSS, return its result."""
    spec = dict(spec, out=str(work / f"{name}.result.json"))
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / f"{name}.log"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, __file__, "--child-index", str(spec_path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not Path(spec["out"]).exists():
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"index child {name} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    out = json.loads(Path(spec["out"]).read_text())
    out["process_wall_s"] = wall
    out["peak_rss"] = usage.ru_maxrss * 1024  # Linux: KiB
    return out


def available_routes(model: Path | None) -> tuple[list[str], dict[str, str]]:
    routes, skipped = ["speech", "title"], {}
    if model is not None:
        routes.insert(0, "visual")
    else:
        skipped["visual"] = "no visual model (see above)"
    gone = visual.missing_modules("vidseek.analyze.ocr")
    if gone:
        skipped["ocr"] = f"{gone[0]} is not present yet"
    else:
        routes.insert(1 if model is not None else 0, "ocr")
    return routes, skipped


def bench_index(args: argparse.Namespace, rep: Report, model: Path | None, model_note: str) -> None:
    work = args.work
    section("1. INDEXING THROUGHPUT", {"milvus-lite": milvus_lite_version(), "work": work, "minutes": args.minutes,
                                       "visual_model": model or model_note,
                                       "threads": "all cores (VIDSEEK_THREADS unset)"})
    sampler = LoadSampler()
    sampler.start()
    video, manifest = bench_video(work, args.minutes, log=print)
    duration = manifest["seconds"]
    print(f"video: {video} ({video.stat().st_size / 1e6:.1f} MB, {duration:.0f} s, {manifest['scenes']} scenes, "
          f"{len(manifest['captions'])} captions, {len(manifest['narration'])} narration sentences = "
          f"{manifest['speech_seconds']:.0f} s of speech; built in {manifest['build_seconds']} s, cached)")
    routes, skipped = available_routes(model)
    for route, why in skipped.items():
        print(f"  route {route}: SKIPPED - {why}")
    overrides: dict[str, Any] = {"routes": routes}
    if model is not None:
        overrides["visual_model"] = str(model)
    out: dict[str, Any] = {"video": str(video), "duration": duration, "routes": routes, "skipped": skipped,
                           "visual_model": str(model) if model else model_note}

    data = work / "index-all"
    shutil.rmtree(data, ignore_errors=True)
    print(f"\n[all routes: {','.join(routes)}] indexing into fresh {data} (child process) ...")
    first = run_child(work, "index-all", {"data": str(data), "video": str(video), "overrides": overrides,
                                          "preload": True})
    _check(first)
    out["all"] = first
    sizes = {"milvus.db": dir_size(data / "milvus.db"),
             "catalog": sum(p.stat().st_size for p in data.glob("catalog.sqlite*")),
             "thumbnails": dir_size(data / "thumbnails")}
    sizes["total"] = dir_size(data)
    out["bytes"] = sizes
    _print_index_run(first, duration, "all routes")
    load_s = sum(v["seconds"] for v in first["model_load"].values())  # models + store open
    all_x = duration / first["index_s"]
    all_x_cold = duration / (first["index_s"] + load_s)
    per_hour = {k: v * 3600 / duration for k, v in sizes.items()}
    print(f"\n  model load + store open (once per process): {load_s:.1f} s  "
          + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in first["model_load"].items()))
    print(f"  index wall (models loaded): {first['index_s']:.1f} s = {all_x:.1f}x realtime "
          f"(target >= {TARGET_ALL_X:g}x); with model load {all_x_cold:.1f}x")
    print(f"  child process wall: {first['process_wall_s']:.1f} s (import {first['import_s']:.1f} s, open "
          f"{first['open_s']:.1f} s, close {first['close_s']:.1f} s)")
    print(f"  peak RSS of the indexing process: {first['peak_rss'] / 2**20:.0f} MiB (wait4 ru_maxrss); process tree "
          f"incl. the Milvus Lite server, sampled every 0.5 s: {first['tree_rss_peak'] / 2**20:.0f} MiB")
    print("  data dir per hour of video: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in per_hour.items()))
    rep.figure(f"index all routes ({'+'.join(routes)}) x realtime", all_x, "x", f">= {TARGET_ALL_X:g}x",
               all_x >= TARGET_ALL_X)
    rep.figure("index all routes incl. model load", all_x_cold, "x", "", None)
    for stage in STAGES:
        s = first["result"]["stage_seconds"].get(stage)
        if s:
            rep.figure(f"  stage {stage} x realtime", duration / s, "x", "", None)
    rep.figure("peak RSS while indexing (indexer process)", first["peak_rss"] / 2**20, "MiB", "", None)
    rep.figure("peak RSS while indexing (+ Milvus Lite server)", first["tree_rss_peak"] / 2**20, "MiB", "", None)
    rep.figure("data dir per video hour", per_hour["total"] / 2**20, "MiB", "", None)

    # incremental: the same video again, in a new process, as `vidseek index` would be re-run
    print(f"\n[incremental] second index of the unchanged video into {data} ...")
    second = run_child(work, "index-again", {"data": str(data), "video": str(video), "overrides": overrides,
                                             "preload": False})
    out["incremental"] = second
    ratio = second["index_s"] / (first["index_s"] + load_s)
    ratio_proc = second["process_wall_s"] / first["process_wall_s"]
    print(f"  status {second['result']['status']}: lib.index {second['index_s']:.2f} s vs first "
          f"{first['index_s'] + load_s:.1f} s (incl. model load) = {ratio:.1%} (target < {TARGET_INCREMENTAL:.0%}); "
          f"process wall {second['process_wall_s']:.1f} s vs {first['process_wall_s']:.1f} s = {ratio_proc:.1%}")
    rep.figure("incremental re-index / first index", ratio * 100, "%", f"< {TARGET_INCREMENTAL:.0%}",
               ratio < TARGET_INCREMENTAL)
    rep.figure("  same, whole process wall", ratio_proc * 100, "%", "", None)

    if model is not None:
        vdata = work / "index-visual"
        shutil.rmtree(vdata, ignore_errors=True)
        print(f"\n[visual route alone] indexing into fresh {vdata} ...")
        vis = run_child(work, "index-visual", {"data": str(vdata), "video": str(video),
                                                "overrides": dict(overrides, routes=["visual"]), "preload": True})
        _check(vis)
        out["visual_alone"] = vis
        _print_index_run(vis, duration, "visual alone")
        st = vis["result"]["stage_seconds"]
        route_s = sum(st.get(k, 0.0) for k in ("frames", "visual", "store"))
        vis_x = duration / route_s
        print(f"  frames+visual+store {route_s:.1f} s = {vis_x:.1f}x realtime (target >= {TARGET_VISUAL_X:g}x); "
              f"lib.index wall {vis['index_s']:.1f} s = {duration / vis['index_s']:.1f}x")
        rep.figure("index visual alone x realtime", vis_x, "x", f">= {TARGET_VISUAL_X:g}x", vis_x >= TARGET_VISUAL_X)
    else:
        rep.figure("index visual alone x realtime", None, "", f">= {TARGET_VISUAL_X:g}x", None)
    out["load"] = sampler.stop()
    print(f"\n  load average during section: mean {out['load']['mean']}, max {out['load']['max']}")
    rep.data["sections"]["index"] = out


def _check(run: dict[str, Any]) -> None:
    r = run["result"]
    if r is None or r["status"] not in ("indexed", "updated"):
        raise RuntimeError(f"indexing did not succeed: {r} problems={run.get('problems')}")


def _print_index_run(run: dict[str, Any], duration: float, label: str) -> None:
    st = run["result"]["stage_seconds"]
    rows = []
    for stage in STAGES:
        s = st.get(stage)
        rows.append([stage, f"{s:.2f}" if s else "-", f"{duration / s:.1f}x" if s else "-"])
    other = run["index_s"] - sum(st.values())
    rows.append(["other (probe, hash, audio decode, catalog)", f"{other:.2f}", ""])
    rows.append(["total lib.index()", f"{run['index_s']:.2f}", f"{duration / run['index_s']:.1f}x"])
    print(f"\n  {label}: status {run['result']['status']}, rows per route: "
          + ", ".join(f"{k}={v.get('rows', v.get('state'))}" for k, v in run["result"]["routes"].items()))
    table(["stage", "seconds", "x realtime"], rows)


# --------------------------------------------------------------------------------- queries


class ServerProfile:
    """cProfile of the Milvus Lite server side (it answers on its own gRPC threads, in-process)."""

    def __init__(self) -> None:
        self.profile: cProfile.Profile | None = None
        self.available = False

    def install(self) -> None:
        try:  # only the pure-Python Milvus Lite 3.x serves in-process; 2.5 is a separate C++ server
            from milvus_lite.adapter.grpc.servicer import MilvusServicer
        except ImportError:
            self.available = False
            return
        self.available = True
        if getattr(MilvusServicer.Search, "_bench_wrapped", False):
            return
        original = MilvusServicer.Search
        holder = self

        def search(servicer, request, context):
            prof = holder.profile
            if prof is None:
                return original(servicer, request, context)
            prof.enable()
            try:
                return original(servicer, request, context)
            finally:
                prof.disable()

        search._bench_wrapped = True  # type: ignore[attr-defined]
        MilvusServicer.Search = search  # bound at server start: install before the store opens


SERVER_PROFILE = ServerProfile()


class _DropNotImplemented(logging.Filter):
    """pymilvus 3 asks Milvus Lite for AllocTimestamp, which Lite does not implement; harmless noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], NotImplementedError))


logging.getLogger("grpc._server").addFilter(_DropNotImplemented())


def _segments(rng: np.random.Generator, video_id: int) -> list[tuple[float, float]]:
    lengths = rng.uniform(2.0, 10.0, SEGMENTS_PER_VIDEO)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return [(float(round(s, 2)), float(round(e, 2))) for s, e in zip(starts, ends)]


def fill(lib, size: int, encoder, dim: int, seed: int) -> dict[str, Any]:
    """Fill catalog + store with `size` segments: 1 visual row and 3 text rows per segment."""
    from vidseek.store.catalog import SegmentRecord

    rng = np.random.default_rng(seed)
    words, weights = corpus.vocabulary(rng)
    # Visual rows lean towards one of 64 "concepts" (cosine ~0.3, like CLIP image-text pairs), so
    # a query near a concept finds a realistic number of well-scored candidates.
    phrases = [f"a {corpus.ADJECTIVES[i % len(corpus.ADJECTIVES)]} {corpus.NOUNS[(7 * i) % len(corpus.NOUNS)]}"
               for i in range(64)]
    concepts = np.asarray(encoder.encode_texts(phrases), dtype=np.float32)
    concepts /= np.linalg.norm(concepts, axis=1, keepdims=True)
    # Text rows get random unit vectors from the configured text model's width and tag: dense search
    # costs the same for any values (embedding 300k word-salad rows for real would take hours here).
    embedder = lib.analyzers.embedder()
    store = lib.store
    store.ensure_visual(dim)
    n_videos = size // SEGMENTS_PER_VIDEO
    t_cat = t_vis = t_txt = 0.0
    n_vis = n_txt = 0
    chunk = 20  # videos per insert round: 2,000 visual + 6,000 text rows
    vrows: list[dict] = []
    trows: list[dict] = []
    samples: list[str] = []

    def flush() -> None:
        nonlocal t_vis, t_txt, n_vis, n_txt, vrows, trows
        t = time.perf_counter()
        n_vis += store.insert_visual(vrows)
        t_vis += time.perf_counter() - t
        if embedder is not None:
            dense = rng.standard_normal((len(trows), store.text_dim)).astype(np.float32)
            dense /= np.linalg.norm(dense, axis=1, keepdims=True)
            trows = [dict(r, dense=d, ev=embedder.tag) for r, d in zip(trows, dense)]
        t = time.perf_counter()
        n_txt += store.insert_text(trows)
        t_txt += time.perf_counter() - t
        vrows, trows = [], []

    library = lib.catalog.library_named("default", "default", create=True)
    t_all = time.perf_counter()
    for v in range(n_videos):
        t = time.perf_counter()
        path = f"/bench/library/{v // 100:03d}/video_{v:05d}.mp4"
        rec = lib.catalog.start_video(library, path, 10_000_000 + v, 1.7e9 + v, f"{v:016x}")
        segs = _segments(rng, rec.id)
        duration = segs[-1][1]
        lib.catalog.set_duration(rec.id, duration)
        lib.catalog.replace_segments(rec.id, [SegmentRecord(rec.id, i, s, e, f"/bench/thumbs/{rec.id}/{i:05d}.jpg")
                                              for i, (s, e) in enumerate(segs)])
        rows = {"visual": len(segs), "speech": 2 * len(segs), "ocr": len(segs) - 1, "title": 1}
        routes = {r: {"state": "done", "version": "bench", "rows": rows[r]} for r in ALL_ROUTES}
        lib.catalog.finish_video(rec.id, routes, embedder.tag if embedder is not None else None)
        t_cat += time.perf_counter() - t
        which = rng.integers(len(concepts), size=len(segs))
        noise = rng.standard_normal((len(segs), dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        vecs = 0.3 * concepts[which] + 0.954 * noise
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for i, (s, e) in enumerate(segs):
            base = {"tenant": rec.tenant, "library_id": rec.library_id, "video_id": rec.id}
            vrows.append(dict(base, start=s, end=e, vector=vecs[i]))
            mid = round((s + e) / 2, 2)
            trows.append(dict(base, route="speech", start=s, end=mid, text=corpus.text_row(rng, words, weights, 8, 16)))
            trows.append(dict(base, route="speech", start=mid, end=e, text=corpus.text_row(rng, words, weights, 8, 16)))
            if i:
                trows.append(dict(base, route="ocr", start=s, end=e, text=corpus.text_row(rng, words, weights, 2, 6)))
        trows.append(dict(base, route="title", start=0.0, end=duration,
                          text=f"video {v:05d} " + corpus.text_row(rng, words, weights, 3, 6)))
        samples.append(trows[int(rng.integers(len(trows)))]["text"])
        if (v + 1) % chunk == 0:
            flush()
    if vrows:
        flush()
    t = time.perf_counter()
    store.wait_indexed(timeout=1800)
    t_wait = time.perf_counter() - t
    total = time.perf_counter() - t_all
    return {"videos": n_videos, "segments": n_videos * SEGMENTS_PER_VIDEO, "visual_rows": n_vis, "text_rows": n_txt,
            "catalog_s": t_cat, "insert_visual_s": t_vis, "insert_text_s": t_txt, "wait_indexed_s": t_wait,
            "total_s": total, "visual_rows_per_s": n_vis / t_vis, "text_rows_per_s": n_txt / t_txt,
            "rows_per_s": (n_vis + n_txt) / (t_vis + t_txt + t_wait), "samples": samples}


def _quote(rng: np.random.Generator, text: str) -> str:
    words = text.split()
    n = min(len(words), int(rng.integers(2, 4)))
    start = int(rng.integers(len(words) - n + 1))
    return " ".join(words[start : start + n])


def _latencies(fn, items: list, warm: list) -> list[float]:
    for x in warm:
        fn(x)
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _stats(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "mean": statistics.fmean(ms),
            "max": max(ms)}


def bench_query(args: argparse.Namespace, rep: Report, model: Path | None, model_note: str) -> None:
    import vidseek
    from vidseek.text import normalize

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    section("2. QUERY LATENCY", {"milvus-lite": milvus_lite_version(), "sizes": sizes, "queries": args.queries,
                                 "warmup": args.warmup, "limit": 10,
                                 "visual_model": model or f"stub text encoder ({model_note})",
                                 "segments/video": SEGMENTS_PER_VIDEO, "text rows/segment": 3})
    sampler = LoadSampler()
    sampler.start()
    SERVER_PROFILE.install()
    out: dict[str, Any] = {"sizes": {}}
    rng = np.random.default_rng(11)
    words, weights = corpus.vocabulary(np.random.default_rng(1234))
    qs = corpus.queries(rng, words, weights, args.queries + args.warmup)
    warm, qs = qs[: args.warmup], qs[args.warmup :]
    print("sample queries: " + " | ".join(qs[:7]))
    last_rate = None
    for size in sizes:
        if last_rate and size * 4 / last_rate > args.fill_budget:
            est = size * 4 / last_rate
            print(f"\n[{size:,} segments] SKIPPED: filling would take ~{est:.0f} s at {last_rate:.0f} rows/s "
                  f"(> --fill-budget {args.fill_budget} s)")
            out["sizes"][str(size)] = {"skipped": f"estimated fill {est:.0f} s"}
            continue
        data = args.work / f"query-{size}"
        if not (args.reuse and (data / FILL_MARKER).exists()):
            shutil.rmtree(data, ignore_errors=True)
        overrides: dict[str, Any] = {"routes": list(ALL_ROUTES)}
        if model is not None:
            overrides["visual_model"] = str(model)
        lib = vidseek.open(data, **overrides)
        try:
            res = _query_size(args, lib, size, model, warm, qs, normalize)
        finally:
            lib.close()
        res["data_dir_bytes"] = dir_size(data)
        out["sizes"][str(size)] = res
        last_rate = res["fill"]["rows_per_s"]
        ok_size = size >= TARGET_SIZE
        for mode in ("text", "visual", "all"):
            p50 = res["e2e"][mode]["p50"]
            rep.figure(f"query p50 {mode} @ {size:,} segs", p50, "ms", f"<= {TARGET_P50_MS:g} ms" if ok_size else "",
                       (p50 <= TARGET_P50_MS) if ok_size else None)
        rep.figure(f"query p95 all @ {size:,} segs", res["e2e"]["all"]["p95"], "ms", "", None)
        rep.figure(f"insert rate @ {size:,} segs", res["fill"]["rows_per_s"], "rows/s", "", None)
        if not (args.keep or args.reuse):
            shutil.rmtree(data, ignore_errors=True)
    out["load"] = sampler.stop()
    print(f"\n  load average during section: mean {out['load']['mean']}, max {out['load']['max']}")
    rep.data["sections"]["query"] = out


def _query_size(args, lib, size: int, model: Path | None, warm: list[str], qs: list[str], normalize) -> dict:
    from vidseek.records import VISUAL
    from vidseek.search.query import _dense_k  # the dense request exactly as a search sends it

    if model is None:
        lib.analyzers._models[VISUAL] = visual.StubTextEncoder(512)  # no visual model layer: measure the rest
    t = time.perf_counter()
    encoder = lib.analyzers.get(VISUAL)
    load_s = time.perf_counter() - t
    if encoder is None:
        raise RuntimeError(f"visual model did not load: {lib.analyzers.reason(VISUAL)}")
    dim = int(getattr(encoder, "dim", 512))
    print(f"\n[{size:,} segments] filling {lib.settings.data_dir} "
          f"({size // SEGMENTS_PER_VIDEO:,} videos x {SEGMENTS_PER_VIDEO} segments, {dim}-d vectors) ...")
    marker = lib.settings.data_dir / FILL_MARKER
    if marker.exists():
        f = json.loads(marker.read_text())
        counts = lib.store.count()
        print(f"  --reuse: kept the rows filled earlier (fill figures below are from that run); "
              f"store holds {counts['visual']:,} visual + {counts['text']:,} text rows")
        if counts["visual"] != f["visual_rows"] or counts["text"] != f["text_rows"]:
            raise RuntimeError(f"{lib.settings.data_dir} does not hold the rows its fill recorded; drop --reuse")
        f["reused"] = True
    else:
        f = fill(lib, size, encoder, dim, seed=size)
        marker.write_text(json.dumps(f))
    print(f"  inserted {f['visual_rows']:,} visual + {f['text_rows']:,} text rows in {f['total_s']:.1f} s: "
          f"visual {f['visual_rows_per_s']:,.0f} rows/s, text {f['text_rows_per_s']:,.0f} rows/s, "
          f"wait_indexed {f['wait_indexed_s']:.1f} s, catalog {f['catalog_s']:.1f} s "
          f"-> {f['rows_per_s']:,.0f} rows/s overall (loadavg {os.getloadavg()[0]:.2f})")
    samples = f.pop("samples")
    res: dict[str, Any] = {"fill": f, "visual_model_load_s": load_s}
    parts = tree_rss()
    own = parts.get(os.getpid(), 0)
    res["rss"] = {"this_process": own, "children": sum(parts.values()) - own}
    print(f"  RSS now: bench process {res['rss']['this_process'] / 2**20:.0f} MiB, child processes (Milvus Lite "
          f"server if 2.5.x) {res['rss']['children'] / 2**20:.0f} MiB")
    # every 4th query quotes 2-3 words of a stored row, so the text route has real matches to fuse
    rng = np.random.default_rng(size)
    qs = [_quote(rng, samples[int(rng.integers(len(samples)))]) if i % 4 == 0 else q for i, q in enumerate(qs)]

    # raw store calls, as the search path makes them
    store, k = lib.store, lib.settings.recall_k
    route_flt = f"route in {list(TEXT_ROUTES)}"
    t_enc = []
    vecs = {}
    for q in warm + qs:
        t = time.perf_counter()
        vecs[q] = encoder.encode_texts([normalize(q)])[0]
        t_enc.append((time.perf_counter() - t) * 1000)
    raw = {
        "encode_text": _stats(t_enc[len(warm):]),
        "search_text": _stats(_latencies(lambda q: store.search_text(normalize(q), k, "default", route_flt), qs, warm)),
        "search_visual": _stats(_latencies(lambda q: store.search_visual(vecs[q], k, "default"), qs, warm)),
    }
    if "fuzzy" in inspect.signature(store.search_text).parameters:
        fuzzy = lambda q: store.search_text(q, k, "default", route_flt, fuzzy=True)  # noqa: E731
        raw["search_text_fuzzy"] = _stats(_latencies(fuzzy, qs[:40], warm[:2]))
    embedder = lib.analyzers.embedder() if hasattr(lib.analyzers, "embedder") else None
    if embedder is not None:  # the semantic side of the text routes: query encoding, then the hybrid request
        qvec = {}
        enc = _latencies(lambda q: qvec.setdefault(q, embedder.encode_query(q)), qs, warm)
        raw["encode_query_text"] = _stats(enc)
        dense = lambda q: store.search_text_dense(qvec[q], _dense_k(k), "default")  # noqa: E731
        raw["search_text_dense"] = _stats(_latencies(dense, qs, warm))
    t_cat = _latencies(lambda _: lib.catalog.videos("default", status="done"), qs[:20], warm[:1])
    raw["catalog_videos"] = _stats(t_cat)
    res["raw"] = raw

    modes = {"text": TEXT_ROUTES, "visual": (VISUAL,), "all": ALL_ROUTES}
    e2e, found = {}, {}
    for mode, routes in modes.items():
        counts = []

        def run(q, routes=routes, counts=counts):
            if embedder is not None:
                embedder._queries.clear()  # each search pays for encoding its query, as a new query would
            counts.append(len(lib.search(q).routes(*routes).limit(10).to_list()))

        e2e[mode] = _stats(_latencies(run, qs, warm))
        found[mode] = statistics.fmean(counts[len(warm):])
    res["e2e"] = e2e
    rows = [[f"lib.search().routes({mode}).limit(10)", f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['mean']:.1f}",
             f"{found[mode]:.1f} results"] for mode, s in e2e.items()]
    labels = {"encode_text": "encoder.encode_texts (1 query)",
              "encode_query_text": "text embedder.encode_query (1 query, first time)",
              "search_text_dense": f"store.search_text_dense(limit={_dense_k(k)}, with vectors, no route filter)",
              "search_text": f"store.search_text(limit={k}, {route_flt})",
              "search_text_fuzzy": "store.search_text(..., fuzzy=True) (40 queries)",
              "search_visual": f"store.search_visual(limit={k})", "catalog_videos": "catalog.videos(status='done')"}
    rows += [[labels[name], f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['mean']:.1f}", ""] for name, s in raw.items()]
    print(f"  latency over {len(qs)} queries after {len(warm)} warm-up (ms; loadavg {os.getloadavg()[0]:.2f}):")
    table(["call", "p50", "p95", "mean", ""], rows)

    res["breakdown"] = _breakdown(lib, encoder, qs[:30])
    if args.profile or (size >= TARGET_SIZE and e2e["all"]["p50"] > TARGET_P50_MS) or args.profile_all:
        res["variants"] = _variants(lib, qs[:20], vecs, k, normalize)
        res["profile"] = _profile(lib, qs[:15], args.profile_lines)
    return res


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


def _breakdown(lib, encoder, qs: list[str]) -> dict[str, Any]:
    """Where an all-route search spends its time: each collaborator of the search path is wrapped
    with a timer (instance/module attributes, restored afterwards) while `qs` are run."""
    import vidseek.search.query as query_mod

    timer = _Timer()
    targets = [("store.search_text", lib.store, "search_text"), ("store.search_visual", lib.store, "search_visual"),
               ("encoder.encode_texts", encoder, "encode_texts"), ("catalog.videos", lib.catalog, "videos"),
               ("catalog.has_route", lib.catalog, "has_route"), ("catalog.done_count", lib.catalog, "done_count"),
               ("catalog.videos_by_ids", lib.catalog, "videos_by_ids"),
               ("catalog.shots_for", lib.catalog, "shots_for"),
               ("text_score (re-scoring)", query_mod, "text_score"), ("fuse", query_mod, "fuse")]
    saved = []
    for label, obj, name in targets:
        if not hasattr(obj, name):
            continue
        own = name in vars(obj)
        saved.append((obj, name, own, getattr(obj, name)))
        setattr(obj, name, timer.wrap(label, getattr(obj, name)))
    try:
        t = time.perf_counter()
        for q in qs:
            lib.search(q).limit(10).to_list()
        total = time.perf_counter() - t
    finally:
        for obj, name, own, original in reversed(saved):
            if own:
                setattr(obj, name, original)
            else:
                delattr(obj, name)
    per = {k: v * 1000 / len(qs) for k, v in timer.seconds.items()}
    per["rest (query parsing, normalise, filters, Python glue)"] = total * 1000 / len(qs) - sum(per.values())
    rows = [[k, f"{v:.1f}", f"{v * len(qs) / (total * 1000):.0%}", f"{timer.calls.get(k, 0) / len(qs):.1f}"]
            for k, v in sorted(per.items(), key=lambda kv: -kv[1])]
    print(f"  where an all-route search spends its time (mean over {len(qs)} queries, "
          f"{total * 1000 / len(qs):.0f} ms each; loadavg {os.getloadavg()[0]:.2f}):")
    table(["part", "ms/query", "share", "calls/query"], rows)
    return {"ms_per_query": per, "total_ms": total * 1000 / len(qs),
            "calls_per_query": {k: v / len(qs) for k, v in timer.calls.items()}}


def _variants(lib, qs: list[str], vecs: dict, k: int, normalize) -> dict[str, dict]:
    """The same store calls with one knob changed each, to see what would make them cheaper."""
    store = lib.store
    client = store.client
    text_fields = ["video_id", "route", "start", "end", "text"]
    flt = f"route in {list(TEXT_ROUTES)}"

    try:
        from vidseek.text import search_terms  # text + character trigrams, what a fuzzy search sends

        def trigrams(q: str) -> str:
            return search_terms(q, fuzzy=True)
    except ImportError:
        trigrams = normalize

    def ts(limit=k, fields=text_fields, expr=flt, prep=normalize):
        return lambda q: client.search(store.text_name, data=[prep(q)], anns_field="sparse", limit=limit,
                                       filter=expr, output_fields=fields, search_params={"metric_type": "BM25"})

    def vs(limit=k, fields=("video_id", "start", "end")):
        return lambda q: client.search(store.visual_name, data=[np.asarray(vecs[q]).tolist()], anns_field="vector",
                                       limit=limit, filter="", output_fields=list(fields),
                                       search_params={"metric_type": "IP"})

    cases = {
        "text: words (limit 200, route filter, 5 fields)": ts(),
        "text: no route filter": ts(expr=""),
        "text: no output fields": ts(fields=[]),
        "text: no text field": ts(fields=["video_id", "route", "start", "end"]),
        "text: limit 50": ts(limit=50),
        "text: limit 50, no filter": ts(limit=50, expr=""),
        "text: query with trigram terms (fuzzy fallback)": ts(prep=trigrams),
        "visual: as used (limit 200, 3 fields)": vs(),
        "visual: no output fields": vs(fields=()),
        "visual: limit 50": vs(limit=50),
    }
    out = {}
    rows = []
    for name, fn in cases.items():
        s = _stats(_latencies(fn, qs, qs[:2]))
        out[name] = s
        rows.append([name, f"{s['p50']:.1f}", f"{s['p95']:.1f}"])
    print("  store call variants (ms, client.search directly):")
    table(["variant", "p50", "p95"], rows)
    return out


def _profile(lib, qs: list[str], lines: int) -> dict[str, str]:
    """cProfile of end-to-end all-route searches: the calling thread and the Milvus Lite server threads."""
    client = cProfile.Profile()
    SERVER_PROFILE.profile = cProfile.Profile() if SERVER_PROFILE.available else None
    client.enable()
    for q in qs:
        lib.search(q).limit(10).to_list()
    client.disable()
    server, SERVER_PROFILE.profile = SERVER_PROFILE.profile, None
    out = {}
    profiles = [("client (search path, main thread)", client)]
    if server is not None:
        profiles.append(("milvus-lite server (Search handler)", server))
    else:
        print(f"\n  (milvus-lite {milvus_lite_version()} answers from a separate native process: the server side is "
              "not profiled; its time shows as grpc _blocking in the client profile)")
    for name, prof in profiles:
        for key in ("cumulative", "tottime"):
            buf = io.StringIO()
            try:
                pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(lines)
            except TypeError:  # nothing recorded: the server runs out of process (Milvus Lite 2.5)
                continue
            text = buf.getvalue()
            start = text.find("   ncalls")
            text = text[start:] if start >= 0 else text
            out[f"{name} by {key}"] = text
            print(f"\n  cProfile, {len(qs)} all-route queries: {name}, top {lines} by {key}")
            print("\n".join("    " + ln[:160] for ln in text.rstrip().splitlines()))
    return out


# --------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default="index,query", help="comma list of sections: index, query (default both)")
    p.add_argument("--work", type=Path, default=Path("/tmp/vidseek-bench"), help="cache + data dirs")
    p.add_argument("--visual-model", type=Path, default=None,
                   help="exported visual model folder; default: random ViT-B/32 CLIP, int8, built once")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the indexing video")
    p.add_argument("--sizes", default="10000,100000", help="segment counts for the query benchmark")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--fill-budget", type=float, default=900.0,
                   help="skip a query size whose fill is estimated (from the previous size) to take longer (s)")
    p.add_argument("--profile", action="store_true", help="cProfile the largest query size even if on target")
    p.add_argument("--profile-all", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--profile-lines", type=int, default=18)
    p.add_argument("--keep", action="store_true", help="keep the query data dirs")
    p.add_argument("--reuse", action="store_true",
                   help="reuse query data dirs kept by an earlier --keep/--reuse run (skips the fill)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    p.add_argument("--child-index", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child_index:
        return child_index(args.child_index)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {"index", "query"}
    if unknown:
        print(f"unknown section(s) {sorted(unknown)}; choose from index, query", file=sys.stderr)
        return 2
    args.work = args.work.expanduser().resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    rep = Report(args)
    t0 = time.perf_counter()
    print(f"vidseek bench: {rep.data['command']}")
    print(f"machine: {os.cpu_count()} cpus, python {platform.python_version()}, loadavg "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine: numbers are noisy)")
    if args.visual_model is not None:
        model, note = args.visual_model.expanduser().resolve(), "given with --visual-model"
    else:
        try:
            model, note = visual.random_vitb32(args.work)
        except Exception as exc:  # the export code is new; report it and measure the rest
            model, note = None, f"random ViT-B/32 export failed: {type(exc).__name__}: {exc}"
    print(f"visual model: {model or '-'} ({note})")
    rep.data["visual_model"] = {"path": str(model) if model else None, "note": note}
    failures = []
    for name, fn in (("index", bench_index), ("query", bench_query)):
        if name not in only:
            continue
        try:
            fn(args, rep, model, note)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            rep.data["sections"][name] = {"error": failures[-1]}
    return rep.finish(t0, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
