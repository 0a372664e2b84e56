#!/usr/bin/env python
"""vidseek face and video-DNA benchmarks: face search at scale, people clustering, cost of the two stages.

    python benchmarks/faces_dna.py                                   # query, cluster, cost (~20 min)
    python benchmarks/faces_dna.py --only query --face-sizes 100000 --json out.json
    python benchmarks/faces_dna.py --only cost --json cost.json

Sections (pick with --only):
  query    Milvus Lite, a fresh data dir per size: the face collection (`MilvusStore.ensure_faces`) filled
           with N synthetic unit 128-d vectors (20 per "person" round a centre; see below), `insert_faces`
           rows, `wait_indexed`, then `store.search_faces(q, 50, "default")` for --queries queries (a new
           face of a stored person each) after --warmup: p50/p95 ms, insert rate, index build time, and
           recall@10/@50 against exact results (numpy, the same as FLAT). When AUTOINDEX misses the target
           (or with --variants all), the same rows also go into collections made here with the same schema
           and a FLAT or IVF_FLAT index (Lite accepts FLAT, IVF_FLAT and AUTOINDEX only), searched with
           several nprobe values. Milvus Lite 2.5 keeps a collection in one growing segment: AUTOINDEX and
           IVF_FLAT both search segcore's interim IVF index (its own nlist/nprobe: search params change
           nothing), FLAT is exact. Each collection is then reopened as a new process would (load time).
  cluster  `vidseek.index.people.cluster` on 100k synthetic face vectors (~5k people, 2 to hundreds of faces
           each, heavy-tailed), and `assign` of 10k new vectors (90 % of known people, 10 % new) against
           the 5k known people: seconds, peak memory (tracemalloc, and the process's peak RSS during the
           call), people found vs true, pairwise precision/recall.
  cost     the indexing cost of the face and dna stages: the bench video (benchmarks/_synthvideo.py, as
           bench.py builds and caches it) and the real clips in --clips, indexed into fresh data dirs in
           child processes, a = visual,speech,ocr,title and b = the same + face,dna, run a b a b;
           seconds per stage, x realtime, added share (b - a) / a.

Synthetic face vectors (query and cluster): the store's cost does not depend on the values, but ANN recall
and clustering do, so they are drawn like dlib's: unit vectors round a shared mean direction (different
people still meet at cosine ~0.84), a person's offset in a --face-subspace-dimensional subspace (32:
different-person cosine median 0.84, p99 0.90, 0.1 % of pairs above the 0.92 cutoff, as on the shared
clips), each face's own noise (same-person median 0.965, p1 0.91). The cluster section also runs worlds
with offsets in 64 and all 127 dimensions ('tight': p99 0.88, nothing above 0.92) to show how much the
tail of look-alikes matters: a few thousand real people may lie anywhere between these.
Numbers on a shared machine are noisy; the load average is printed with every section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import _visual as visual  # noqa: E402
from benchmarks._synthvideo import bench_video  # noqa: E402
from benchmarks.bench import (  # noqa: E402
    LoadSampler,
    Report,
    TreeRssSampler,
    dir_size,
    milvus_lite_version,
    pct,
    section,
    table,
    tree_rss,
)

TARGET_FACE_P50_MS = 100.0  # face query p50 at 1M face tracks
TARGET_FACE_SIZE = 1_000_000
TARGET_ADDED = 0.20  # (all default routes - without face, dna) / without
FACE_LIMIT = 50  # what a face search asks the store for
DIM = 128
ROUTES_A = ("visual", "speech", "ocr", "title")
ROUTES_B = ("visual", "speech", "ocr", "title", "face", "dna")
COST_STAGES = ("frames", "visual", "ocr", "speech", "embed", "face", "dna", "store")


# --------------------------------------------------------------------------------- synthetic faces


class FaceWorld:
    """Synthetic dlib-like face vectors. Person p's faces are unit(m + u_p + n): m a shared unit direction,
    u_p the person's offset (|u|^2 = t2, in a `subspace`-dim subspace orthogonal to m), n a face's isotropic
    noise (|n|^2 = s2 x lognormal(spread)). Same person: cos ~ (1+t2)/(1+t2+s2) = `within`; different
    people: ~ 1/(1+t2+s2) = `across` (medians); the smaller the subspace, the heavier the tail of look-alikes."""

    def __init__(self, people: int, rng: np.random.Generator, dim: int = DIM, within: float = 0.965,
                 across: float = 0.84, subspace: int = 32, spread: float = 0.5):
        self.t2 = within / across - 1.0
        self.s2 = 1.0 / across - 1.0 - self.t2
        self.dim, self.spread = dim, spread
        self.subspace = k = min(subspace, dim - 1)
        m = rng.standard_normal(dim)
        m /= np.linalg.norm(m)
        q, _ = np.linalg.qr(np.column_stack([m, rng.standard_normal((dim, k))]))
        basis = q[:, 1 : k + 1].T  # k orthonormal directions, all orthogonal to m
        self.centres = (m + (rng.standard_normal((people, k)) @ basis) * np.sqrt(self.t2 / k)).astype(np.float32)

    @property
    def people(self) -> int:
        return len(self.centres)

    def faces(self, persons: np.ndarray, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
        """Unit float32 vectors, one new face of each person in `persons`."""
        out = np.empty((len(persons), self.dim), np.float32)
        for lo in range(0, len(persons), chunk):
            p = persons[lo : lo + chunk]
            s = np.sqrt(self.s2 * np.exp(self.spread * rng.standard_normal(len(p)))).astype(np.float32)
            noise = rng.standard_normal((len(p), self.dim), dtype=np.float32) * (s / np.sqrt(self.dim))[:, None]
            x = self.centres[p] + noise
            out[lo : lo + len(p)] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def stats(self, rng: np.random.Generator, pairs: int = 20_000) -> dict[str, float]:
        """Measured cosines of this world: same-person and different-person face pairs, nearest other centroid."""
        p = rng.integers(self.people, size=2 * pairs)
        a, b = self.faces(p[:pairs], rng), self.faces(p[:pairs], rng)
        same = np.einsum("ij,ij->i", a, b)
        c = self.faces(p[pairs:], rng)
        other = np.einsum("ij,ij->i", a, c)[p[:pairs] != p[pairs:]]
        cn = self.centres / np.linalg.norm(self.centres, axis=1, keepdims=True)
        sample = cn[: min(500, self.people)]
        g = sample @ cn.T
        g[np.arange(len(sample)), np.arange(len(sample))] = -1.0
        near = g.max(axis=1)
        return {"same_median": float(np.median(same)), "same_p1": pct(same, 1), "same_min": float(same.min()),
                "other_median": float(np.median(other)), "other_p99": pct(other, 99), "other_max": float(other.max()),
                "other_above_0.92": float((other >= 0.92).mean()), "nearest_centroid_median": float(np.median(near)),
                "nearest_centroid_above_0.952": float((near >= 0.952).mean())}


def _world_line(name: str, w: FaceWorld, s: dict[str, float]) -> str:
    return (f"  {name} world ({w.people:,} people, offsets in {w.subspace} dims): same person cos median "
            f"{s['same_median']:.3f} p1 {s['same_p1']:.3f} min {s['same_min']:.3f}; different people median "
            f"{s['other_median']:.3f} p99 {s['other_p99']:.3f} max {s['other_max']:.3f}, "
            f"{s['other_above_0.92']:.2%} >= 0.92; nearest other person's centroid median "
            f"{s['nearest_centroid_median']:.3f}, {s['nearest_centroid_above_0.952']:.1%} of people >= 0.952")


def _stats(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "mean": statistics.fmean(ms),
            "max": max(ms)}


def _latencies(fn, items, warm) -> tuple[list[float], list[Any]]:
    for x in warm:
        fn(x)
    ms, out = [], []
    for x in items:
        t = time.perf_counter()
        out.append(fn(x))
        ms.append((time.perf_counter() - t) * 1000)
    return ms, out


# --------------------------------------------------------------------------------- 1. query


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and inner products of the k nearest rows per query (exact, as FLAT), best first."""
    best_i = np.zeros((len(queries), 0), np.int64)
    best_s = np.zeros((len(queries), 0), np.float32)
    for lo in range(0, len(vectors), chunk):
        s = queries @ vectors[lo : lo + chunk].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        best_i = np.concatenate([best_i, part + lo], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, axis=1), np.take_along_axis(best_i, keep, axis=1)
    return best_i, best_s


def _match_recall(found: list[list[int]], exact: np.ndarray, scores: np.ndarray, cutoff: float) -> float:
    """Of the exact top-k rows at or above the same-person cutoff (what a face search shows), the share found."""
    shares = []
    for f, e, s in zip(found, exact, scores):
        matches = set(e[s >= cutoff].tolist())
        if matches:
            shares.append(len(matches & set(f)) / len(matches))
    return statistics.fmean(shares) if shares else 1.0


def _recall(found: list[list[int]], exact: np.ndarray, k: int) -> float:
    return statistics.fmean(len(set(f[:k]) & set(e[:k].tolist())) / k for f, e in zip(found, exact))


def _own_recall(found: list[list[int]], owner: np.ndarray, query_people: np.ndarray, per_person: int = 20) -> float:
    """Share of the query person's stored faces (per_person of them) among the hits."""
    return statistics.fmean(float(np.sum(owner[np.asarray(f, np.int64)] == p)) / per_person if f else 0.0
                            for f, p in zip(found, query_people))


def _same_person(found: list[list[int]], owner: np.ndarray, query_people: np.ndarray, k: int) -> float:
    """Share of the first k hits that are faces of the query's own person (20 exist per person)."""
    return statistics.fmean(float(np.mean(owner[np.asarray(f[:k], np.int64)] == p)) if f else 0.0
                            for f, p in zip(found, query_people))


def _faces_collection(store, name: str, index_type: str, params: dict[str, Any]) -> None:
    """A face collection with `MilvusStore.ensure_faces`'s schema and another index."""
    from pymilvus import DataType, MilvusClient

    client = store.client
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    store._scope_fields(schema)
    schema.add_field("start", DataType.FLOAT)
    schema.add_field("end", DataType.FLOAT)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="IP", params=params)
    client.create_collection(name, schema=schema, index_params=index)


def _fill_faces(store, vectors: np.ndarray, budget: float, chunk: int = 20_000) -> dict[str, Any]:
    """insert_faces in rounds of `chunk` rows (it sends 500 a call, as indexing does), then wait_indexed.
    Stops early (and says so) when the inserts pass `budget` seconds."""
    t_ins = 0.0
    n = 0
    stopped = None
    for lo in range(0, len(vectors), chunk):
        part = vectors[lo : lo + chunk]
        rows = [{"id": lo + i + 1, "tenant": "default", "library_id": 1, "video_id": (lo + i) // 200 + 1,
                 "start": float((lo + i) % 200 * 3.0), "end": float((lo + i) % 200 * 3.0 + 2.5), "vector": v}
                for i, v in enumerate(part)]
        t = time.perf_counter()
        n += store.insert_faces(rows)
        t_ins += time.perf_counter() - t
        if t_ins > budget and n < len(vectors):
            stopped = f"inserts passed --fill-budget {budget:g} s at {n:,} rows"
            break
    t = time.perf_counter()
    store.wait_indexed(timeout=1800)
    t_wait = time.perf_counter() - t
    desc = store.client.describe_index(store.faces_name, "vector")
    return {"rows": n, "insert_s": t_ins, "rows_per_s": n / t_ins if t_ins else 0.0, "wait_indexed_s": t_wait,
            "stopped": stopped, "index": {k: v for k, v in desc.items() if k not in ("field_name", "index_name")}}


def _search_variant(store, name: str, queries: np.ndarray, warm: np.ndarray, nprobe: int | None):
    """`search_faces` itself when nprobe is None; else the same request with search params."""
    from vidseek.store.milvus import scoped

    if nprobe is None:
        def fn(q):
            return [i for i, _ in store.search_faces(q, FACE_LIMIT, "default")]
    else:
        params = {"metric_type": "IP", "params": {"nprobe": nprobe}}

        def fn(q):
            res = store.client.search(name, data=[np.asarray(q, np.float32).tolist()], anns_field="vector",
                                      limit=FACE_LIMIT, filter=scoped("default"), output_fields=["video_id"],
                                      search_params=params)
            return [int(h["id"]) for h in res[0]]
    ms, ids = _latencies(fn, list(queries), list(warm))
    return ms, [[i - 1 for i in r] for r in ids]  # row ids are index + 1


def bench_query(args: argparse.Namespace, rep: Report) -> None:
    sizes = [int(s) for s in args.face_sizes.split(",") if s.strip()]
    section("1. FACE SEARCH AT SCALE (Milvus Lite)", {
        "milvus-lite": milvus_lite_version(), "sizes": sizes, "queries": args.queries, "warmup": args.warmup,
        "limit": FACE_LIMIT, "faces/person": 20, "dim": DIM, "variants": args.variants,
        "fill_budget_s": args.fill_budget})
    print("  SYNTHETIC vectors (see the module docstring): store and search costs are real, recall is on "
          "vectors drawn like dlib's, not on real faces")
    sampler = LoadSampler()
    sampler.start()
    out: dict[str, Any] = {"sizes": {}, "synthetic": True}
    rep.data["sections"]["query"] = out
    for size in sizes:
        res = out["sizes"][str(size)] = _query_size(args, size)
        reached = res["fill"]["rows"]
        at_target = reached >= TARGET_FACE_SIZE
        label = f"{reached:,}"
        p50 = res["variants"][AS_SHIPPED]["latency"]["p50"]
        rep.figure(f"face query p50 as shipped @ {label}", p50, "ms",
                   f"<= {TARGET_FACE_P50_MS:g} ms @ 1M" if at_target else "",
                   (p50 <= TARGET_FACE_P50_MS) if at_target else None)
        rep.figure(f"  as shipped recall@10 @ {label}", res["variants"][AS_SHIPPED]["recall@10"], "", "", None)
        for name, r in res["variants"].items():
            if name.startswith("IVF_FLAT") and "nprobe=" in name:
                rep.figure(f"  {name} @ {label}: p50", r["latency"]["p50"], "ms",
                           f"recall@10 {r['recall@10']:.3f}", (r["latency"]["p50"] <= TARGET_FACE_P50_MS)
                           if at_target else None)
        rep.figure(f"face insert rate @ {label}", res["fill"]["rows_per_s"], "rows/s", "", None)
        rep.figure(f"face index build (wait_indexed) @ {label}", res["fill"]["wait_indexed_s"], "s", "", None)
    out["load"] = sampler.stop()
    print(f"\n  load average during section: mean {out['load']['mean']}, max {out['load']['max']}")


AS_SHIPPED = "store.ensure_faces + search_faces (as shipped: FLAT on Lite)"


def _query_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    from vidseek.settings import Settings
    from vidseek.store.milvus import MilvusStore

    rng = np.random.default_rng(size)
    world = FaceWorld(size // 20, rng, subspace=args.face_subspace)
    owner = np.repeat(np.arange(world.people), 20)
    t = time.perf_counter()
    vectors = world.faces(owner, rng)
    gen_s = time.perf_counter() - t
    qp = rng.integers(world.people, size=args.queries + args.warmup)
    allq = world.faces(qp, rng)
    warm, queries, qpeople = allq[: args.warmup], allq[args.warmup :], qp[args.warmup :]
    ws = world.stats(rng)
    print(f"\n[{size:,} face vectors] generated in {gen_s:.1f} s")
    print(_world_line("query", world, ws))
    data = args.work / f"faces-query-{size}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    store = MilvusStore(Settings(data_dir=data, routes=["face"]))
    res: dict[str, Any] = {"world": ws, "variants": {}}
    rows: list[list[str]] = []
    from vidseek.analyze.faces import SAME_PERSON

    exact = np.zeros((0, FACE_LIMIT), np.int64)
    exact_s = np.zeros((0, FACE_LIMIT), np.float32)
    closed = False
    names: list[tuple[str, str]] = []

    def measure(label: str, name: str, nprobe: int | None, build: dict[str, Any] | None) -> dict[str, Any]:
        ms, ids = _search_variant(store, name, queries, warm, nprobe)
        r = {"latency": _stats(ms), "recall@10": _recall(ids, exact, 10), "recall@50": _recall(ids, exact, 50),
             "match_recall": _match_recall(ids, exact, exact_s, SAME_PERSON),
             "same_person@10": _same_person(ids, owner, qpeople, 10), "own_recall": _own_recall(ids, owner, qpeople),
             "build": build}
        rows.append([label, f"{r['latency']['p50']:.1f}", f"{r['latency']['p95']:.1f}",
                     f"{r['recall@10']:.3f}", f"{r['recall@50']:.3f}", f"{r['match_recall']:.3f}",
                     f"{r['own_recall']:.3f}", f"{r['same_person@10']:.2f}",
                     f"{build['rows_per_s']:,.0f}" if build else "",
                     f"{build['wait_indexed_s']:.1f}" if build else ""])
        res["variants"][label] = r
        return r

    try:
        store.ensure_faces(DIM)
        base = store.faces_name
        res["fill"] = fill = _fill_faces(store, vectors, args.fill_budget)
        n = fill["rows"]
        print(f"  ensure_faces as shipped (FLAT on Lite): inserted {n:,} rows in {fill['insert_s']:.1f} s = "
              f"{fill['rows_per_s']:,.0f} rows/s; wait_indexed {fill['wait_indexed_s']:.1f} s; index "
              f"{fill['index']} (loadavg {os.getloadavg()[0]:.2f})")
        if fill["stopped"]:
            print(f"  FILL STOPPED: {fill['stopped']}")
        exact, exact_s = exact_top(vectors[:n], queries, FACE_LIMIT)
        res["exact_matches_per_query"] = float((exact_s >= SAME_PERSON).sum(axis=1).mean())
        t = time.perf_counter()
        store._ready(base)  # load once (a reopened Lite file starts released); timed separately
        res["load_s"] = time.perf_counter() - t
        auto = measure(AS_SHIPPED, base, None, fill)
        exact_ids = [e.tolist() for e in exact]
        res["exact"] = {"same_person@10": _same_person(exact_ids, owner, qpeople, 10),
                        "own_recall": _own_recall(exact_ids, owner, qpeople)}
        rows.append(["exact (numpy, = FLAT)", "", "", "1.000", "1.000", "1.000", f"{res['exact']['own_recall']:.3f}",
                     f"{res['exact']['same_person@10']:.2f}", "", ""])
        run_variants = args.variants == "all" or (args.variants == "auto"
                                                  and auto["latency"]["p50"] > TARGET_FACE_P50_MS)
        if run_variants:
            for index_type, params, probes in (("FLAT", {}, [None]),
                                               ("IVF_FLAT", {"nlist": args.nlist}, [None, *args.nprobes])):
                name = f"{base}_{index_type.lower()}"
                _faces_collection(store, name, index_type, params)
                store.faces_name = name  # insert_faces / wait_indexed / search_faces on this collection
                try:
                    f = _fill_faces(store, vectors[:n], args.fill_budget)
                    print(f"  {index_type} {params}: inserted {f['rows']:,} rows at {f['rows_per_s']:,.0f} rows/s; "
                          f"wait_indexed {f['wait_indexed_s']:.1f} s (loadavg {os.getloadavg()[0]:.2f})")
                    store._ready(name)
                    for nprobe in probes:
                        how = f" nprobe={nprobe}" if nprobe else " via store.search_faces (default params)"
                        measure(f"{index_type} {params}{how}", name, nprobe, f)
                    ivf = [res["variants"][k] for k in res["variants"] if k.startswith("IVF_FLAT")]
                    same = len({(round(v["recall@10"], 4), round(v["recall@50"], 4)) for v in ivf}) == 1
                    if len(ivf) > 1 and same and ivf[0]["recall@50"] < 0.999:
                        res["nprobe_ignored"] = True
                    names.append((index_type, name))
                finally:
                    store.faces_name = base
                    store.client.release_collection(name)  # frees the Lite server's memory for the next
                    store._loaded.discard(name)
        parts = tree_rss()
        own = parts.get(os.getpid(), 0)
        res["rss"] = {"this_process": own, "children": sum(parts.values()) - own}
        res["data_dir_bytes"] = dir_size(data)
        print(f"  latency of {len(queries)} queries after {len(warm)} warm-ups (limit {FACE_LIMIT}, tenant "
              f"filter), recall against exact top-k (loadavg {os.getloadavg()[0]:.2f}):")
        table(["index / call", "p50 ms", "p95 ms", "recall@10", "recall@50", "match recall", "own faces found",
               "own person@10", "insert rows/s", "wait_indexed s"], rows)
        print(f"  match recall: of the exact top-{FACE_LIMIT} rows with cosine >= {SAME_PERSON} (what a face search "
              f"shows; {res['exact_matches_per_query']:.1f} per query on average, look-alikes included), the share "
              f"returned; own faces found: of the query person's 20 stored faces, the share among the {FACE_LIMIT} "
              "hits; own person@10: share of the first 10 hits that are the query person's")
        print(f"  RSS: this process {own / 2**20:.0f} MiB (holds the vectors), Milvus Lite server "
              f"{res['rss']['children'] / 2**20:.0f} MiB; data dir {res['data_dir_bytes'] / 2**20:.0f} MiB")
        if res.get("nprobe_ignored"):
            print(f"  NOTE: every IVF_FLAT nprobe gave the same hits, and the same as AUTOINDEX: milvus-lite "
                  f"{milvus_lite_version()} keeps a collection in one growing segment and searches it through "
                  "segcore's interim IVF index (fixed nlist/nprobe), whatever index type and search params are given")
        if not run_variants:
            print(f"  (FLAT / IVF_FLAT not tried: AUTOINDEX met the {TARGET_FACE_P50_MS:g} ms target; "
                  "--variants all to try them anyway)")
        store.close()
        closed = True
        res["reopen"] = _reopen(data, [("AUTOINDEX", base), *names], warm, queries[:20])
        print("  reopened, as a new CLI or server process does (Lite loads a collection on its first search):")
        table(["collection", "MilvusStore() s", "load_collection s", "first search ms", "then p50 ms"],
              [[k, f"{v['open_s']:.1f}", f"{v['load_s']:.1f}", f"{v['first_ms']:.0f}", f"{v['p50_ms']:.1f}"]
               for k, v in res["reopen"].items()])
    finally:
        if not closed:
            store.close()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return res


def _reopen(data: Path, names: list[tuple[str, str]], warm: np.ndarray, queries: np.ndarray) -> dict[str, dict]:
    """Open the filled data dir again, as a new process would, and time each face collection's load and
    first searches (one collection loaded at a time)."""
    from vidseek.settings import Settings
    from vidseek.store.milvus import MilvusStore

    out: dict[str, dict] = {}
    for label, name in names:
        t = time.perf_counter()
        store = MilvusStore(Settings(data_dir=data, routes=["face"]))
        r = out[label] = {"open_s": time.perf_counter() - t}
        store.faces_name = name
        try:
            t = time.perf_counter()
            store._ready(name)
            r["load_s"] = time.perf_counter() - t
            t = time.perf_counter()
            store.search_faces(warm[0], FACE_LIMIT, "default")
            r["first_ms"] = (time.perf_counter() - t) * 1000
            ms, _ = _latencies(lambda q, s=store: s.search_faces(q, FACE_LIMIT, "default"), list(queries), [])
            r["p50_ms"] = pct(ms, 50)
        finally:
            store.close()
    return out


# --------------------------------------------------------------------------------- 2. cluster


def _person_sizes(rng: np.random.Generator, people: int, total: int, low: int = 2, high: int = 500) -> np.ndarray:
    """Faces per person: lognormal (a few people on screen a lot, most briefly), in [low, high], summing to total."""
    raw = np.exp(rng.normal(0.0, 1.1, people))
    sizes = np.clip(np.round(raw * total / raw.sum()), low, high).astype(np.int64)
    while sizes.sum() != total:
        diff = int(total - sizes.sum())
        pick = rng.integers(people, size=abs(diff))
        np.add.at(sizes, pick, 1 if diff > 0 else -1)
        sizes = np.clip(sizes, low, high)
    return sizes


def _hwm_reset() -> bool:
    """Reset this process's peak RSS (VmHWM), so the next reading is the peak of what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _measured(fn, repeats: int) -> tuple[Any, dict[str, Any]]:
    """Run fn `repeats` times timed (peak RSS over the calls), then once under tracemalloc (peak allocated)."""
    seconds, hwm = [], []
    result = None
    for _ in range(repeats):
        before = _rss()
        reset = _hwm_reset()
        t = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t)
        hwm.append((_hwm() - before) if reset else None)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    fn()
    traced_s = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return result, {"seconds": seconds, "median_s": statistics.median(seconds), "rss_peak_above_start": hwm,
                    "tracemalloc_peak": peak, "tracemalloc_run_s": traced_s}


def _pairs(counts: np.ndarray) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1) / 2).sum())


def _quality(true: np.ndarray, found: np.ndarray) -> dict[str, Any]:
    """People found vs true, and pairwise precision/recall (pairs of faces put together / that belong together)."""
    _, joint = np.unique(true * (int(found.max()) + 1) + found, return_counts=True)
    tp = _pairs(joint)
    found_pairs = _pairs(np.bincount(found))
    true_pairs = _pairs(np.bincount(true))
    # purity: faces in the majority true person of their found group; completeness: in their person's largest group
    order = np.lexsort((true, found))
    f_sorted, t_sorted = found[order], true[order]
    keys = f_sorted.astype(np.int64) * (int(true.max()) + 1) + t_sorted
    uniq, counts = np.unique(keys, return_counts=True)
    groups = uniq // (int(true.max()) + 1)
    persons = uniq % (int(true.max()) + 1)
    best_per_group = np.zeros(int(found.max()) + 1, np.int64)
    np.maximum.at(best_per_group, groups, counts)
    best_per_person = np.zeros(int(true.max()) + 1, np.int64)
    np.maximum.at(best_per_person, persons, counts)
    groups_per_person = np.bincount(persons, minlength=int(true.max()) + 1)
    people_per_group = np.bincount(groups, minlength=int(found.max()) + 1)
    return {"true_people": int(len(np.unique(true))), "found_people": int(len(np.unique(found))),
            "pair_precision": tp / found_pairs if found_pairs else 1.0,
            "pair_recall": tp / true_pairs if true_pairs else 1.0,
            "purity": float(best_per_group.sum() / len(true)), "completeness": float(best_per_person.sum() / len(true)),
            "people_split": int((groups_per_person > 1).sum()), "groups_mixed": int((people_per_group > 1).sum())}


def bench_cluster(args: argparse.Namespace, rep: Report) -> None:
    from vidseek.analyze.faces import SAME_PERSON
    from vidseek.index import people

    n, k, n_new = args.cluster_faces, args.cluster_people, args.assign_faces
    section("2. PEOPLE: cluster and assign (vidseek.index.people)", {
        "faces": n, "people": k, "assign_faces": n_new, "assign_new_share": 0.1, "cutoff": SAME_PERSON,
        "group_cutoff": round(people.group_cutoff(), 3), "repeats": args.repeats,
        "blas_threads": os.environ.get("OMP_NUM_THREADS", "default (all cores)")})
    print("  SYNTHETIC face vectors (see the module docstring); labels are known, so quality is exact")
    sampler = LoadSampler()
    sampler.start()
    out: dict[str, Any] = {"worlds": {}, "synthetic": True}
    rows, qrows = [], []
    for subspace in args.cluster_worlds:
        subspace = min(subspace, DIM - 1)
        wname = {args.face_subspace: "matched", DIM - 1: "tight"}.get(subspace, f"{subspace}-dim")
        rng = np.random.default_rng(42)
        world = FaceWorld(k + n_new // 20, rng, subspace=subspace)
        sizes = _person_sizes(rng, k, n)
        true = np.repeat(np.arange(k), sizes)
        rng.shuffle(true)  # tracks arrive in no particular order (video by video, people mixed)
        vectors = world.faces(true, rng)
        ws = world.stats(rng)
        print(_world_line(wname, world, ws) + f"; faces per person {sizes.min()}-{sizes.max()}, median "
              f"{int(np.median(sizes))}")
        res: dict[str, Any] = {"world": ws, "subspace": subspace, "sizes": {"min": int(sizes.min()),
                               "median": float(np.median(sizes)), "max": int(sizes.max())}}
        labels, m = _measured(lambda v=vectors: people.cluster(v), args.repeats)
        q = _quality(true, labels)
        res["cluster"] = {**m, **q}
        rows.append([f"cluster {n:,} faces ({wname})", f"{m['median_s']:.2f}",
                     " / ".join(f"{s:.2f}" for s in m["seconds"]),
                     _mib(max(x for x in m["rss_peak_above_start"] if x is not None) if any(
                         x is not None for x in m["rss_peak_above_start"]) else None),
                     _mib(m["tracemalloc_peak"])])
        qrows.append([f"cluster ({wname})", f"{q['true_people']:,}", f"{q['found_people']:,}",
                      f"{q['pair_precision']:.3f}", f"{q['pair_recall']:.3f}", f"{q['purity']:.3f}",
                      f"{q['completeness']:.3f}", f"{q['people_split']:,}", f"{q['groups_mixed']:,}"])
        # assign: 10k new vectors against the k known people (centroids and counts of the true people)
        centroids = people.normalise(people._sums(vectors, true, k))
        counts = np.bincount(true, minlength=k)
        new_true = np.where(rng.random(n_new) < 0.9, rng.choice(k, size=n_new, p=sizes / sizes.sum()),
                            k + rng.integers(n_new // 20, size=n_new))
        new_vectors = world.faces(new_true, rng)
        r, m2 = _measured(lambda v=new_vectors, c=centroids, n=counts: people.assign(v, c, n), args.repeats)
        known = new_true < k
        aq = {"known_faces": int(known.sum()), "to_own_person": float(np.mean(r.labels[known] == new_true[known])),
              "to_other_known": float(np.mean((r.labels[known] < k) & (r.labels[known] != new_true[known]))),
              "known_made_new": float(np.mean(r.labels[known] >= k)),
              "new_faces": int((~known).sum()), "new_people_true": int(len(np.unique(new_true[~known]))),
              "new_people_made": int(len(r.centroids) - k),
              "new_joined_known": float(np.mean(r.labels[~known] < k)) if (~known).any() else 0.0}
        if (~known).any() and (r.labels[~known] >= k).any():
            aq["new_quality"] = _quality(new_true[~known] - k, np.unique(r.labels[~known], return_inverse=True)[1])
        res["assign"] = {**m2, **aq}
        rows.append([f"assign {n_new:,} to {k:,} people ({wname})", f"{m2['median_s']:.2f}",
                     " / ".join(f"{s:.2f}" for s in m2["seconds"]),
                     _mib(max(x for x in m2["rss_peak_above_start"] if x is not None) if any(
                         x is not None for x in m2["rss_peak_above_start"]) else None),
                     _mib(m2["tracemalloc_peak"])])
        print(f"  assign ({wname}): {aq['to_own_person']:.1%} of {aq['known_faces']:,} known-person faces joined "
              f"their person, {aq['to_other_known']:.2%} another known person, {aq['known_made_new']:.2%} a new one; "
              f"{aq['new_faces']:,} faces of {aq['new_people_true']} new people -> {aq['new_people_made']} new people "
              f"made, {aq['new_joined_known']:.2%} of them filed under a known person")
        out["worlds"][wname] = res
        rep.figure(f"cluster {n:,} faces / {k:,} people ({wname}) seconds", m["median_s"], "s", "", None)
        rep.figure(f"  people found ({wname})", q["found_people"], f"of {q['true_people']:,}", "", None)
        rep.figure(f"assign {n_new:,} to {k:,} people ({wname}) seconds", m2["median_s"], "s", "", None)
    print(f"\n  time and memory (peak RSS above the RSS at the call's start, /proc VmHWM; tracemalloc = peak bytes "
          f"allocated during a separate traced run; loadavg {os.getloadavg()[0]:.2f}):")
    table(["call", "median s", "runs s", "peak RSS +", "tracemalloc peak"], rows)
    print("\n  quality (pairs: of face pairs put in one group, share that are one person = precision; of pairs "
          "of one person, share put together = recall):")
    table(["", "true people", "found", "pair precision", "pair recall", "purity", "completeness", "people split",
           "groups mixed"], qrows)
    out["load"] = sampler.stop()
    print(f"\n  load average during section: mean {out['load']['mean']}, max {out['load']['max']}")
    rep.data["sections"]["cluster"] = out


def _mib(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 2**20:.0f} MiB"


# --------------------------------------------------------------------------------- 3. cost


def child_index(spec_path: str) -> int:
    """Runs in a child process (VIDSEEK_ROUTES set by the parent): load models, index the files, write JSON."""
    spec = json.loads(Path(spec_path).read_text())
    rss = TreeRssSampler()
    rss.start()
    t0 = time.perf_counter()
    import vidseek

    taps: dict[str, float] = {"face_add": 0.0, "dna_add": 0.0, "search_dna": 0.0, "search_dna_codes": 0}
    scans: list[dict[str, Any]] = []
    try:  # benchmark-only timers round the frame taps: they run inside the 'frames' stage's clock as well
        from vidseek.index import dna as dna_mod
        from vidseek.index import faces as faces_mod

        def timed(cls, attr: str, key: str) -> None:
            original = getattr(cls, attr)

            def wrapper(self, *a, **k):
                t = time.perf_counter()
                try:
                    return original(self, *a, **k)
                finally:
                    taps[key] += time.perf_counter() - t

            setattr(cls, attr, wrapper)

        timed(faces_mod.FaceSink, "add", "face_add")
        timed(dna_mod.DnaSink, "add", "dna_add")
        from vidseek.store.milvus import MilvusStore

        timed(MilvusStore, "search_dna", "search_dna")  # the copy check's Hamming kNN requests (dna stage)
        search_dna = MilvusStore.search_dna

        def counted(self, codes, *a, **k):
            taps["search_dna_codes"] += len(codes)
            return search_dna(self, codes, *a, **k)

        MilvusStore.search_dna = counted
        finish = faces_mod.FaceSink.finish

        def finish_and_count(self):
            rows = finish(self)
            s = self.scanner.stats
            scans.append({"frames": s.frames, "scanned": s.scanned, "faces": s.faces, "descriptors": s.descriptors,
                          "detect_s": s.detect_seconds, "describe_s": s.describe_seconds, "tracks": len(rows)})
            return rows

        faces_mod.FaceSink.finish = finish_and_count
    except ImportError:
        pass
    out: dict[str, Any] = {"import_s": time.perf_counter() - t0, "routes_env": os.environ.get("VIDSEEK_ROUTES")}
    lib = vidseek.open(spec["data"], visual_model=spec["visual_model"])
    out["routes"] = list(lib.settings.routes)
    loads = {}
    t = time.perf_counter()
    lib.store  # noqa: B018 - opens Milvus Lite
    loads["store open"] = time.perf_counter() - t
    for route in [r for r in lib.settings.routes if r != "title"]:
        t = time.perf_counter()
        model = lib.analyzers.get(route)
        if model is not None and route == "visual":
            model.encode_images([np.zeros((360, 640, 3), np.uint8)])
        if model is not None and route == "face":
            model.detect(np.zeros((360, 640, 3), np.uint8))  # dlib loads on first use
        loads[route] = time.perf_counter() - t
        if model is None:
            loads[route + " unavailable"] = lib.analyzers.reason(route)
    t = time.perf_counter()
    embedder = lib.analyzers.embedder()
    if embedder is not None:
        embedder.background()
        loads["text embedder"] = time.perf_counter() - t
    out["model_load"] = loads
    t = time.perf_counter()
    report = lib.index(spec["files"])
    out["index_s"] = time.perf_counter() - t
    out["results"] = [{"path": r.path, "status": r.status, "error": r.error, "duration": r.duration,
                       "seconds": r.seconds, "stage_seconds": r.stage_seconds,
                       "routes": {k: {kk: vv for kk, vv in v.items() if kk in ("state", "rows", "note")}
                                  for k, v in r.routes.items()}} for r in report.results]
    out["problems"] = report.problems
    out["unavailable"] = report.unavailable
    out["taps"] = taps
    out["face_scans"] = scans
    lib.close()
    out["total_s"] = time.perf_counter() - t0
    out["ru_maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["tree_rss_peak"] = rss.stop()[0]
    Path(spec["out"]).write_text(json.dumps(out, default=str))
    return 0


def run_child(work: Path, name: str, spec: dict[str, Any], routes: tuple[str, ...]) -> dict[str, Any]:
    spec = dict(spec, out=str(work / f"{name}.result.json"))
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["out"]).unlink(missing_ok=True)
    log_path = work / f"{name}.log"
    env = dict(os.environ, VIDSEEK_ROUTES=",".join(routes),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, __file__, "--child-index", str(spec_path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
    if code != 0 or not Path(spec["out"]).exists():
        raise RuntimeError(f"index child {name} failed (exit {code}); log {log_path}:\n{log_path.read_text()[-3000:]}")
    out = json.loads(Path(spec["out"]).read_text())
    out["process_wall_s"] = time.perf_counter() - t
    out["peak_rss"] = usage.ru_maxrss * 1024
    return out


def _sum_stages(results: list[dict[str, Any]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for r in results:
        for k, v in r["stage_seconds"].items():
            total[k] = total.get(k, 0.0) + v
    return total


def bench_cost(args: argparse.Namespace, rep: Report, model: Path | None, model_note: str) -> None:
    work = args.work
    section("3. INDEXING COST OF THE FACE AND DNA STAGES", {
        "a": ",".join(ROUTES_A), "b": ",".join(ROUTES_B), "order": "a b a b", "visual_model": model or model_note,
        "clips": args.clips, "minutes": args.minutes})
    out: dict[str, Any] = {}
    if model is None:
        raise RuntimeError(f"no visual model: {model_note}")
    sampler = LoadSampler()
    sampler.start()
    video, manifest = bench_video(work, args.minutes, log=print)
    clips_dir = work / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for src in sorted(Path(args.clips).glob("*.mp4")):
        dst = clips_dir / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
        clips.append(dst)
    files = [str(video), *map(str, clips)]
    print(f"  files: {video.name} ({manifest['seconds']:.0f} s, synthetic shapes and captions: no faces) + "
          f"{len(clips)} clips from {args.clips} (copied to {clips_dir})")
    runs: list[dict[str, Any]] = []
    for i, (variant, routes) in enumerate([("a", ROUTES_A), ("b", ROUTES_B)] * args.pairs):
        data = work / f"cost-{variant}{i // 2 + 1}"
        shutil.rmtree(data, ignore_errors=True)
        print(f"\n[{variant}{i // 2 + 1}: {','.join(routes)}] indexing {len(files)} files into fresh {data} "
              f"(child process; loadavg {os.getloadavg()[0]:.2f}) ...", flush=True)
        r = run_child(work, f"cost-{variant}{i // 2 + 1}", {"data": str(data), "files": files,
                                                             "visual_model": str(model)}, routes)
        bad = [x for x in r["results"] if x["status"] not in ("indexed", "updated")]
        if bad or r["problems"]:
            raise RuntimeError(f"indexing failed: {bad} {r['problems']}")
        if variant == "b" and r["unavailable"]:
            raise RuntimeError(f"routes unavailable in b: {r['unavailable']}")
        r["variant"], r["run"] = variant, i // 2 + 1
        r["duration"] = sum(x["duration"] for x in r["results"])
        r["stages"] = _sum_stages(r["results"])
        r["stages_video"] = _sum_stages([x for x in r["results"] if x["path"] == str(video)])
        r["stages_clips"] = _sum_stages([x for x in r["results"] if x["path"] != str(video)])
        r["seconds_video"] = sum(x["seconds"] for x in r["results"] if x["path"] == str(video))
        r["seconds_clips"] = sum(x["seconds"] for x in r["results"] if x["path"] != str(video))
        r["loadavg_end"] = os.getloadavg()[0]
        loads = ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k}: {v}" for k, v in r["model_load"].items())
        print(f"  lib.index {r['index_s']:.1f} s for {r['duration']:.0f} s of media = "
              f"{r['duration'] / r['index_s']:.1f}x realtime (bench video {r['seconds_video']:.1f} s, clips "
              f"{r['seconds_clips']:.1f} s); model load {loads}")
        shutil.rmtree(data, ignore_errors=True)
        runs.append(r)
    out["runs"] = runs
    out["files"] = files
    duration = runs[0]["duration"]
    names = [f"{r['variant']}{r['run']}" for r in runs]
    rows = []
    for stage in COST_STAGES:
        vals = [r["stages"].get(stage) for r in runs]
        if any(vals):
            rows.append([stage] + [f"{v:.1f}" if v else "-" for v in vals])
    # the face/dna taps run while the frames stage pulls frames; the pipeline charges them to face and dna only
    taps = [r["taps"]["face_add"] + r["taps"]["dna_add"] for r in runs]
    rows.append(["  (face+dna work on each frame)"] + [f"{x:.1f}" for x in taps])
    rows.append(["other (probe, hash, audio decode, catalog)"] + [f"{r['index_s'] - sum(r['stages'].values()):.1f}"
                                                                   for r in runs])
    rows.append(["lib.index() total s"] + [f"{r['index_s']:.1f}" for r in runs])
    rows.append(["x realtime"] + [f"{duration / r['index_s']:.1f}x" for r in runs])
    rows.append(["  bench video s / clips s"] + [f"{r['seconds_video']:.1f} / {r['seconds_clips']:.1f}" for r in runs])
    rows.append(["peak RSS indexer MiB"] + [f"{r['peak_rss'] / 2**20:.0f}" for r in runs])
    rows.append(["loadavg at end"] + [f"{r['loadavg_end']:.2f}" for r in runs])
    print(f"\n  seconds per stage, summed over {len(files)} files ({duration:.0f} s of media):")
    table(["stage"] + names, rows)
    a = [r["index_s"] for r in runs if r["variant"] == "a"]
    b = [r["index_s"] for r in runs if r["variant"] == "b"]
    pairs = [(y - x) / x for x, y in zip(a, b)]
    added = (statistics.fmean(b) - statistics.fmean(a)) / statistics.fmean(a)
    parts = {"video": [], "clips": []}
    for part in parts:
        pa = [r[f"seconds_{part}"] for r in runs if r["variant"] == "a"]
        pb = [r[f"seconds_{part}"] for r in runs if r["variant"] == "b"]
        parts[part] = [(statistics.fmean(pb) - statistics.fmean(pa)) / statistics.fmean(pa), pa, pb]
    fb = [r for r in runs if r["variant"] == "b"]
    face_s = statistics.fmean(r["stages"].get("face", 0.0) for r in fb)
    dna_s = statistics.fmean(r["stages"].get("dna", 0.0) for r in fb)
    scans = fb[-1]["face_scans"]
    print(f"\n  added share (b - a) / a: {added:+.1%} on the means ({statistics.fmean(a):.1f} -> "
          f"{statistics.fmean(b):.1f} s); per pair " + ", ".join(f"{p:+.1%}" for p in pairs)
          + f" (target <= {TARGET_ADDED:.0%}); bench video alone {parts['video'][0]:+.1%}, clips alone "
          f"{parts['clips'][0]:+.1%}")
    print(f"  face stage {face_s:.1f} s, dna stage {dna_s:.1f} s (means of the b runs; store time of both is in "
          f"'store'); face scanner, last b run: {sum(s['frames'] for s in scans)} frames, "
          f"{sum(s['scanned'] for s in scans)} scanned, {sum(s['faces'] for s in scans)} faces, "
          f"{sum(s['descriptors'] for s in scans)} descriptors, {sum(s['tracks'] for s in scans)} tracks; "
          f"detect {sum(s['detect_s'] for s in scans):.1f} s, describe {sum(s['describe_s'] for s in scans):.1f} s")
    copy_s = statistics.fmean(r["taps"].get("search_dna", 0.0) for r in fb)
    codes = statistics.fmean(r["taps"].get("search_dna_codes", 0) for r in fb)
    print(f"  of the dna stage, the copy check's store.search_dna took {copy_s:.1f} s for {codes:,.0f} probe codes "
          f"({1000 * copy_s / max(codes, 1):.2f} ms a code; each textured second x every crop/mirror variant)")
    out["copy_check_search_s"], out["copy_check_codes"] = copy_s, codes
    out["added_share"] = added
    out["added_share_pairs"] = pairs
    out["added_share_video"], out["added_share_clips"] = parts["video"][0], parts["clips"][0]
    rep.figure("index a (no face/dna) x realtime", duration / statistics.fmean(a), "x", "", None)
    rep.figure("index b (all default routes) x realtime", duration / statistics.fmean(b), "x", "", None)
    rep.figure("added by face + dna, (b - a) / a", added * 100, "%", f"<= {TARGET_ADDED:.0%}", added <= TARGET_ADDED)
    rep.figure("  face stage / dna stage (b mean)", face_s, "s", f"dna {dna_s:.1f} s", None)
    out["load"] = sampler.stop()
    print(f"\n  load average during section: mean {out['load']['mean']}, max {out['load']['max']}")
    rep.data["sections"]["cost"] = out


# --------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default="query,cluster,cost", help="comma list of sections: query, cluster, cost")
    p.add_argument("--work", type=Path, default=Path("/tmp/vidseek-bench"),
                   help="cache (bench video, random CLIP) + data dirs; the same default as bench.py")
    p.add_argument("--visual-model", type=Path, default=None,
                   help="exported visual model folder; default: bench.py's random ViT-B/32 CLIP (int8, in --work)")
    p.add_argument("--face-sizes", default="100000,1000000", help="face vectors in the store, per query run")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--fill-budget", type=float, default=600.0, help="stop inserting into a collection after this (s)")
    p.add_argument("--variants", choices=("auto", "all", "none"), default="auto",
                   help="FLAT + IVF_FLAT collections too: auto = where AUTOINDEX misses the p50 target")
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobes", default="8,16,32,64", help="IVF_FLAT nprobe values to search with")
    p.add_argument("--face-subspace", type=int, default=32,
                   help="dims of the person offsets (32: different-person tail as on the shared clips)")
    p.add_argument("--cluster-worlds", default="32,64,127",
                   help="person-offset dims of the cluster worlds (= --face-subspace: 'matched'; 127: 'tight')")
    p.add_argument("--cluster-faces", type=int, default=100_000)
    p.add_argument("--cluster-people", type=int, default=5_000)
    p.add_argument("--assign-faces", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2, help="timed runs of cluster / assign")
    p.add_argument("--clips", type=Path, default=REPO.parent / "shared" / "media" / "demo",
                   help="real clips (*.mp4) for the cost section; copied into --work")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the bench video")
    p.add_argument("--pairs", type=int, default=2, help="a/b pairs in the cost section")
    p.add_argument("--keep", action="store_true", help="keep the face query data dirs")
    p.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    p.add_argument("--child-index", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.nprobes = [int(x) for x in args.nprobes.split(",") if x.strip()]
    args.cluster_worlds = [int(x) for x in args.cluster_worlds.split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child_index:
        return child_index(args.child_index)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - {"query", "cluster", "cost"}
    if unknown:
        print(f"unknown section(s) {sorted(unknown)}; choose from query, cluster, cost", file=sys.stderr)
        return 2
    args.work = args.work.expanduser().resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    rep = Report(args)
    t0 = time.perf_counter()
    print(f"vidseek faces/dna bench: {rep.data['command']}")
    print(f"machine: {os.cpu_count()} cpus, python {platform.python_version()}, loadavg "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine: numbers are noisy)")
    model, note = None, "not needed"
    if "cost" in only:
        if args.visual_model is not None:
            model, note = args.visual_model.expanduser().resolve(), "given with --visual-model"
        else:
            try:
                model, note = visual.random_vitb32(args.work)
            except Exception as exc:
                model, note = None, f"random ViT-B/32 export failed: {type(exc).__name__}: {exc}"
        print(f"visual model: {model or '-'} ({note})")
        rep.data["visual_model"] = {"path": str(model) if model else None, "note": note}
    failures = []
    sections = {"query": lambda: bench_query(args, rep), "cluster": lambda: bench_cluster(args, rep),
                "cost": lambda: bench_cost(args, rep, model, note)}
    for name in ("query", "cluster", "cost"):
        if name not in only:
            continue
        try:
            sections[name]()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            rep.data["sections"][name] = {"error": failures[-1]}
        if args.json:  # written after every section, so a long run's early figures survive a later failure
            rep.data["summary"] = rep.summary
            args.json.write_text(json.dumps(rep.data, indent=1, default=str))
    return rep.finish(t0, failures, args.json)


if __name__ == "__main__":
    sys.exit(main())
