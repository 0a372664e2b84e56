"""How far Milvus Lite goes: insert rate and query latency as the store grows, up to a time budget.

The store is filled as bench.py fills it, segment by segment: one visual row (512-d) and three text
rows (word-salad text for BM25, and a dense vector of the default text model's width, 896). At each
checkpoint (100k, 250k, 500k, 1M segments, ...) it waits for the indexes, then times 100 queries of
each store call a search makes. It stops at the last checkpoint or when the budget is spent, and
reports how far it got.

Random vectors cost what real ones cost to store and search. Their recall says nothing; recall on
real vectors is benchmarks/compression.py.

`--binary-too` also fills a second text collection with VIDSEEK_TEXT_COMPRESSION=binary (another
collection prefix in the same Lite file, the same rows) and times its dense search beside the float
one at each checkpoint.

    python benchmarks/lite_scale.py --checkpoints 100000,250000,500000,1000000 --budget 2700 --json /tmp/scale.json
    python benchmarks/lite_scale.py --checkpoints 100000,250000 --binary-too --json /tmp/scale-binary.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _corpus as corpus  # noqa: E402
from vidseek.settings import Settings  # noqa: E402
from vidseek.store.milvus import MilvusStore  # noqa: E402

VISUAL_DIM, TEXT_DIM = 512, 896
VIDEO_SEGMENTS = 100  # segments per video id (bench.py's SEGMENTS_PER_VIDEO)
BATCH = 2000  # segments per insert round: 2,000 visual and 6,000 text rows


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _rss_mib() -> dict[str, float]:
    """RSS of this process and of its children (the Milvus Lite server), from /proc."""
    import os

    def rss(pid: int) -> float:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    me = os.getpid()
    kids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and _ppid(int(p.name)) == me]
    return {"bench": round(rss(me), 1), "lite": round(sum(rss(k) for k in kids), 1)}


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50": round(statistics.median(s), 1), "p95": round(s[int(0.95 * (len(s) - 1))], 1)}


def measure(store: MilvusStore, rng: np.random.Generator, queries: list[str], n: int,
            binary: MilvusStore | None = None) -> dict[str, dict]:
    calls = {
        "search_text (BM25)": lambda q, v, w: store.search_text(q, 50, "default"),
        "search_text_dense": lambda q, v, w: store.search_text_dense(v, 50, "default"),
        "search_visual": lambda q, v, w: store.search_visual(w, 50, "default"),
    }
    if binary is not None:
        name = f"search_text_dense, binary + re-rank {binary.settings.text_rerank_depth}"
        calls[name] = lambda q, v, w: binary.search_text_dense(v, 50, "default")
    out = {}
    for name, call in calls.items():
        tv, vv = _unit(rng, n + 5, TEXT_DIM), _unit(rng, n + 5, VISUAL_DIM)
        for i in range(5):
            call(queries[i], tv[i], vv[i])
        times = []
        for i in range(5, n + 5):
            t = time.perf_counter()
            call(queries[i % len(queries)], tv[i], vv[i])
            times.append(1000 * (time.perf_counter() - t))
        out[name] = _ms(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", default="100000,250000,500000,1000000", help="segment counts")
    ap.add_argument("--budget", type=float, default=2700, help="seconds of filling before it stops")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--work", type=Path, default=None, help="data dir (default: a temporary one, removed)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--binary-too", action="store_true", help="also a binary-coded text collection, timed beside")
    ap.add_argument("--depth", type=int, default=200, help="its re-rank depth (VIDSEEK_TEXT_RERANK_DEPTH)")
    args = ap.parse_args()
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="vidseek-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    words, weights = corpus.vocabulary(rng)
    queries = corpus.queries(rng, words, weights, args.queries + 5)
    store = MilvusStore(Settings(data_dir=work), text_dim=TEXT_DIM)
    store.ensure_visual(VISUAL_DIM)
    binary = None
    if args.binary_too:
        binary = MilvusStore(Settings(data_dir=work, collection_prefix="vidseekbin", text_compression="binary",
                                      text_rerank_depth=args.depth), text_dim=TEXT_DIM)
    report: dict = {"checkpoints": [], "budget_s": args.budget}
    done, started, fill_s, binary_s = 0, time.perf_counter(), 0.0, 0.0
    try:
        for target in checkpoints:
            while done < target:
                if fill_s > args.budget:
                    break
                n = min(BATCH, target - done)
                t0 = time.perf_counter()
                vis, txt = [], []
                dense = _unit(rng, 3 * n, TEXT_DIM)
                vectors = _unit(rng, n, VISUAL_DIM)
                for i in range(n):
                    seg = done + i
                    base = {"tenant": "default", "library_id": 1, "video_id": seg // VIDEO_SEGMENTS}
                    start = float(2 * (seg % VIDEO_SEGMENTS))
                    vis.append(dict(base, start=start, end=start + 2, vector=vectors[i]))
                    for k, route in enumerate(("speech", "speech", "ocr")):
                        txt.append(dict(base, route=route, start=start, end=start + 2, ev="bench",
                                        text=corpus.text_row(rng, words, weights, 4, 14), dense=dense[3 * i + k]))
                store.insert_visual(vis)
                store.insert_text(txt)
                fill_s += time.perf_counter() - t0
                if binary is not None:
                    t0 = time.perf_counter()
                    binary.insert_text(txt)
                    binary_s += time.perf_counter() - t0
                done += n
                if done % 50_000 == 0:
                    print(f"  {done:,} segments, {4 * done / fill_s:,.0f} rows/s so far, {fill_s:.0f} s", flush=True)
            if done < target:
                print(f"budget spent at {done:,} segments: {target:,} not reached", flush=True)
                report["stopped_at_segments"] = done
                break
            t0 = time.perf_counter()
            store.wait_indexed(timeout=3600)
            if binary is not None:
                binary.wait_indexed(timeout=3600)
            wait_s = time.perf_counter() - t0
            last = report["checkpoints"][-1] if report["checkpoints"] else {"segments": 0, "fill_s": 0.0}
            point = {"segments": done, "rows": 4 * done, "fill_s": round(fill_s, 1),
                     "rows_per_s_overall": round(4 * done / fill_s, 1),
                     "rows_per_s_since_last": round(4 * (done - last["segments"]) / (fill_s - last["fill_s"]), 1),
                     "wait_indexed_s": round(wait_s, 1),
                     "data_dir_mib": round(_dir_bytes(work) / 2**20, 1), "rss_mib": _rss_mib(),
                     "query_ms": measure(store, rng, queries, args.queries, binary)}
            if binary is not None:
                point["binary_text_rows_per_s"] = round(3 * done / binary_s, 1)
            report["checkpoints"].append(point)
            print(json.dumps(point), flush=True)
    finally:
        if binary is not None:
            binary.close()
        store.close()
        report["wall_s"] = round(time.perf_counter() - started, 1)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
