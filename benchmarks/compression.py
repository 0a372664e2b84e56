#!/usr/bin/env python
"""How much recall compressed text vectors keep, and what they save (issue 13 §4), on real vectors.

    python benchmarks/compression.py                          # 6,000 passages, 300 queries
    python benchmarks/compression.py --passages 20000 --json /tmp/compression.json

The vectors are the shipped semantic text embedder's (VIDSEEK_TEXT_MODEL, default e5-small-q4+use-m3,
896 dimensions) of real sentences, not random ones: Chinese from the five seed articles in
../shared/seeds, English from the docstrings of this interpreter's standard library (the only large
body of real English prose on this machine; technical in tone). Sentences are split, cleaned,
de-duplicated and shuffled with a fixed seed; a held-out part, in both languages, are the queries.

Each scheme answers every query's top 10 by inner product (what the store's dense search does), and
is scored against float32's exact top 10:
* float16, int8 (one symmetric scale per dimension) and binary (sign bits, Hamming distance) alone;
* binary as a coarse first stage, its best R candidates re-ranked exactly with float32 or float16
  (R = 20 ... 400): the memory-resident index is the bits, the floats are read for R rows a query.
Also on benchmarks/data/text_retrieval.jsonl, the labelled bilingual set that chose the text model:
raw R@1 of the right passage per scheme (small: 100 passages; it says whether ranking changes).

Bytes per video hour use the text rows per hour that real indexing produced (the catalog of a data
dir given with --data, e.g. benchmarks/noop_reindex.py's index of ../shared/media), times each
scheme's bytes per vector. Milvus Lite 2.5.1 is checked for the binary stage: the codes go into a
BINARY_VECTOR field with BIN_FLAT/HAMMING and its top-R candidates are compared with numpy's; then
the vectors go through vidseek's own store (VIDSEEK_TEXT_COMPRESSION=none, then binary at several
re-rank depths) for recall@10 and time per query as search sees them.
Not a test: it prints numbers (and writes --json).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import re
import sqlite3
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidseek.analyze.registry import load_text_model  # noqa: E402
from vidseek.settings import Settings  # noqa: E402

SEEDS = REPO.parent / "shared" / "seeds"
LABELLED = Path(__file__).parent / "data" / "text_retrieval.jsonl"
K = 10
RERANK = (20, 50, 100, 200, 400)


# sentences ------------------------------------------------------------------------------------
def chinese_sentences() -> list[str]:
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        for piece in re.split(r"[。！？!?\n]+", path.read_text(encoding="utf-8")):
            piece = piece.strip()
            if 8 <= len(piece) <= 120 and len(re.findall(r"[\u4e00-\u9fff]", piece)) >= 6:
                out.append(piece)
    return out


def english_sentences() -> list[str]:
    out = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                for piece in re.split(r"(?<=[.!?])\s+|\n\s*\n", doc):
                    piece = " ".join(piece.split())
                    words = re.findall(r"[A-Za-z]{2,}", piece)
                    if 6 <= len(words) <= 40 and not re.search(r"[{}<>=\[\]|]|>>>|::", piece):
                        out.append(piece)
    return out


def corpus(passages: int, queries: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    zh, en = (list(dict.fromkeys(s)) for s in (chinese_sentences(), english_sentences()))
    rng.shuffle(zh)
    rng.shuffle(en)
    qz = min(queries // 2, len(zh) // 5)
    qe = queries - qz
    pz = min(len(zh) - qz, passages // 3)  # the seeds hold a few thousand Chinese sentences
    pe = passages - pz
    if len(en) < qe + pe:
        raise SystemExit(f"only {len(en)} English sentences found; ask for fewer --passages")
    return zh[qz : qz + pz] + en[qe : qe + pe], zh[:qz] + en[:qe]


def embed(texts: list[str], settings: Settings, cache: Path, queries: bool) -> np.ndarray:
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = f"{settings.text_model}-{'q' if queries else 'p'}-{len(texts)}-{digest}"
    path = cache / f"{re.sub(r'[^A-Za-z0-9_.+-]', '_', key)}.npy"
    if path.exists():
        return np.load(path)
    embedder = load_text_model(settings)
    embedder.load()
    if queries:
        vectors = np.stack([embedder.encode_query(t) for t in texts])
    else:
        vectors = np.concatenate([embedder.encode_passages(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float32))
    return vectors.astype(np.float32)


# schemes --------------------------------------------------------------------------------------
def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Row-wise indices of the k largest, best first."""
    part = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def int8_codes(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x / scale), -127, 127).astype(np.int8)


def bits(x: np.ndarray) -> np.ndarray:
    return np.packbits(x > 0, axis=1)


_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(q: np.ndarray, db: np.ndarray) -> np.ndarray:
    """(Q, N) Hamming distances between packed codes."""
    out = np.empty((len(q), len(db)), dtype=np.int32)
    for i, row in enumerate(q):
        out[i] = _POP[np.bitwise_xor(db, row)].sum(axis=1, dtype=np.int32)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K]) & set(t[:K])) / K for f, t in zip(found, truth)]))


def schemes(db: np.ndarray, q: np.ndarray) -> dict[str, dict]:
    """Every scheme's top-K (and its bytes per vector) for the queries q over db."""
    d = db.shape[1]
    exact = q @ db.T
    out: dict[str, dict] = {"float32": {"bytes": 4 * d, "top": top(exact, K)}}
    half = db.astype(np.float16)
    q16 = q.astype(np.float16).astype(np.float32)
    out["float16"] = {"bytes": 2 * d, "top": top(q16 @ half.astype(np.float32).T, K)}
    scale = np.abs(db).max(axis=0) / 127.0 + 1e-12
    codes = int8_codes(db, scale).astype(np.float32) * scale
    out["int8 (per-dimension scale)"] = {"bytes": d, "top": top(q @ codes.T, K)}
    bq, bdb = bits(q), bits(db)
    dist = hamming(bq, bdb)
    out["binary alone (Hamming)"] = {"bytes": d // 8, "top": top(-dist.astype(np.float32), K)}
    coarse = top(-dist.astype(np.float32), max(RERANK))
    for r in RERANK:
        cand = coarse[:, :r]
        for name, table, extra in (("float32", db, 4 * d), ("float16", half.astype(np.float32), 2 * d)):
            scores = np.einsum("qd,qrd->qr", q, table[cand])
            best = np.take_along_axis(cand, top(scores, K), axis=1)
            out[f"binary top {r} -> {name} re-rank"] = {"bytes": d // 8, "rerank_bytes": extra, "top": best}
    return out


def labelled_r1(settings: Settings, cache: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    passages = [r for r in rows if r["kind"] == "passage"]
    queries = [r for r in rows if r["kind"] == "query" and r.get("relevant")]
    db = embed([p["text"] for p in passages], settings, cache, queries=False)
    q = embed([r["text"] for r in queries], settings, cache, queries=True)
    ids = [p["id"] for p in passages]
    want = [{ids.index(x) for x in r["relevant"]} for r in queries]
    return {name: float(np.mean([t in w for t, w in zip(s["top"][:, 0], want)])) for name, s in schemes(db, q).items()}


def rows_per_hour(data: Path | None) -> tuple[float | None, str]:
    if data is None or not (data / "catalog.sqlite").exists():
        return None, f"no indexed --data dir ({data}): bytes per hour not computed"
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    seconds, text_rows = 0.0, 0
    for duration, routes in con.execute("SELECT duration, routes FROM videos WHERE status = 'done'"):
        seconds += duration or 0.0
        for route, state in (json.loads(routes or "{}") or {}).items():
            if route in ("speech", "ocr", "title", "caption"):
                text_rows += int(state.get("rows") or 0)
    con.close()
    if not seconds:
        return None, f"{data}: no indexed video"
    return text_rows / (seconds / 3600), f"{data}: {text_rows} text rows over {seconds / 60:.1f} min of media"


def milvus_binary_check(db: np.ndarray, q: np.ndarray, r: int) -> dict:
    """The same binary codes in Milvus Lite (BINARY_VECTOR, BIN_FLAT, HAMMING): does it return numpy's candidates?"""
    from pymilvus import DataType, MilvusClient

    folder = Path(tempfile.mkdtemp(prefix="vidseek-compress-"))
    client = MilvusClient(str(folder / "lite.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("code", DataType.BINARY_VECTOR, dim=db.shape[1] // 8 * 8)
    index = client.prepare_index_params()
    index.add_index("code", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_collection("codes", schema=schema, index_params=index)
    codes = bits(db)
    for i in range(0, len(codes), 2000):
        client.insert("codes", [{"id": j, "code": codes[j].tobytes()} for j in range(i, min(i + 2000, len(codes)))])
    client.flush("codes")
    client.load_collection("codes")
    qcodes = bits(q)
    t = time.perf_counter()
    res = client.search("codes", data=[c.tobytes() for c in qcodes], anns_field="code", limit=r,
                        search_params={"metric_type": "HAMMING"})
    ms = (time.perf_counter() - t) / len(q) * 1000
    dist = hamming(qcodes, codes)
    agree = []
    for row, hits in zip(dist, res):
        got = [h["distance"] for h in hits]
        agree.append(np.allclose(sorted(got), np.sort(row)[:r]))  # same distances (ties may swap ids)
    client.close()
    return {"queries_equal": int(sum(agree)), "queries": len(q), "ms_per_query_batched": ms}


def store_check(db: np.ndarray, q: np.ndarray, truth: np.ndarray, depths: tuple[int, ...]) -> list[dict]:
    """The same vectors through vidseek's store on a real Milvus Lite file: VIDSEEK_TEXT_COMPRESSION=none,
    then binary at each re-rank depth (the first binary open migrates the rows, timed). Recall@K of
    `search_text_dense` against numpy's exact top K, and its median time, one query per request."""
    from vidseek.store.milvus import MilvusStore

    folder = Path(tempfile.mkdtemp(prefix="vidseek-compress-store-"))
    rows = [{"tenant": "default", "library_id": 1, "video_id": i + 1, "route": "speech", "start": 0.0, "end": 1.0,
             "text": f"p{i}", "dense": v, "ev": "bench"} for i, v in enumerate(db)]
    runs = [("float32 (none)", {})] + [(f"binary, re-rank {d}", {"text_compression": "binary",
                                                                  "text_rerank_depth": d}) for d in depths]
    out = []
    for n, (label, kw) in enumerate(runs):
        t = time.perf_counter()
        store = MilvusStore(Settings(data_dir=folder, **kw), text_dim=db.shape[1])
        opened = time.perf_counter() - t
        if n == 0:
            store.insert_text(rows)
            store.wait_indexed()
        for v in q[:10]:
            store.search_text_dense(v, K, "default")  # warm
        times, found = [], []
        for v in q:
            t = time.perf_counter()
            hits = store.search_text_dense(v, K, "default")
            times.append(time.perf_counter() - t)
            found.append([int(h.text[1:]) for h in hits])
        store.close()
        out.append({"mode": label, "recall_at_10": recall(np.array(found), truth),
                    "p50_ms": statistics.median(times) * 1000,
                    "p95_ms": float(np.percentile(times, 95)) * 1000, "open_s": opened})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--passages", type=int, default=6000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=Path("~/.cache/vidseek-bench/noop-shared"),
                   help="an indexed data dir whose catalog gives the text rows per hour")
    p.add_argument("--cache", type=Path, default=Path("/tmp/vidseek-bench/compression"), help="embedded vectors")
    p.add_argument("--no-milvus", action="store_true", help="skip the Milvus Lite BINARY_VECTOR check")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    settings = Settings()
    cache = args.cache.expanduser()
    t0 = time.perf_counter()
    passages, queries = corpus(args.passages, args.queries, args.seed)
    zh = sum(1 for s in passages if re.search(r"[\u4e00-\u9fff]", s))
    print(f"compression: {' '.join(sys.argv)}\ntext model {settings.text_model}; {len(passages)} passages "
          f"({zh} Chinese, {len(passages) - zh} English), {len(queries)} queries")
    db = embed(passages, settings, cache, queries=False)
    q = embed(queries, settings, cache, queries=True)
    print(f"vectors: {db.shape[1]} dimensions, embedded in {time.perf_counter() - t0:.0f} s (cached in {cache})")
    found = schemes(db, q)
    truth = found["float32"]["top"]
    per_hour, source = rows_per_hour(args.data.expanduser() if args.data else None)
    labelled = labelled_r1(settings, cache)
    results = []
    print(f"\nrows per hour: {source}" + (f" -> {per_hour:.0f} text rows an hour" if per_hour else ""))
    print(f"\n| scheme | recall@{K} vs float32 | bytes/vector in the index | MB per 1,000 video hours | "
          "labelled set raw R@1 |")
    print("|---|---|---|---|---|")
    for name, s in found.items():
        rec = recall(s["top"], truth)
        mb = per_hour * 1000 * s["bytes"] / 1e6 if per_hour else None
        extra = f" (+{s['rerank_bytes']} for re-rank, read for R rows a query)" if "rerank_bytes" in s else ""
        print(f"| {name} | {rec:.3f} | {s['bytes']}{extra} | {'—' if mb is None else f'{mb:,.0f}'} | "
              f"{labelled[name]:.2f} |")
        results.append({"scheme": name, "recall_at_10": rec, "bytes": s["bytes"], "mb_per_1000h": mb,
                        "labelled_r1": labelled[name]})
    milvus = None
    if not args.no_milvus:
        milvus = milvus_binary_check(db, q, 100)
        print(f"\nMilvus Lite BINARY_VECTOR/BIN_FLAT/HAMMING, top 100: numpy's distances for "
              f"{milvus['queries_equal']} of {milvus['queries']} queries; {milvus['ms_per_query_batched']:.1f} ms "
              f"a query ({len(q)} in one request, {len(db)} rows)")
    store = None
    if not args.no_milvus:
        store = store_check(db, q, truth, (50, 100, 200, 400))
        print(f"\nthrough vidseek's store (MilvusStore.search_text_dense, Milvus Lite, {len(db)} rows, one query a "
              "request):\n\n| VIDSEEK_TEXT_COMPRESSION | recall@10 | p50 / p95 ms | store open s |\n|---|---|---|---|")
        for r in store:
            print(f"| {r['mode']} | {r['recall_at_10']:.3f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} | "
                  f"{r['open_s']:.1f} |")
    print(f"\ntook {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"passages": len(passages), "queries": len(queries), "dim": db.shape[1],
                                         "rows_per_hour": per_hour, "results": results, "milvus": milvus,
                                         "store": store,
                                         "median_sentence_chars": statistics.median(map(len, passages))},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
