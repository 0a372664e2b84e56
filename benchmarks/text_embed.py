"""Choose and check the semantic text route: text models side by side on a bilingual retrieval set.

    python benchmarks/text_embed.py                       # every candidate, markdown tables on stdout
    python benchmarks/text_embed.py --models e5-small-q4+use-m3 --json out.json

The set is benchmarks/data/text_retrieval.jsonl (see its README): 100 passages (speech sentences,
on-screen text, titles; English and Chinese, with same-topic distractors), paraphrased queries in the
passage's language, cross-lingual queries (zh -> en, en -> zh), and out-of-library queries.

For each model it reports, per query type:
* `raw R@1`: the passage with the highest plain cosine is the right one (how the model ranks alone);
* `R@1`: vidseek's real scoring (`TextEmbedder.score` + the lexical coverage, noisy-OR as in search)
  puts the right passage first *and* above the 0.3 cutoff;
* `no-match`: out-of-library queries whose best passage stays under the cutoff;
and encoding speed (passages/s in batches of 32, ms per query) on this machine.
`--split dev` is what the constants in vidseek/analyze/embed.py were chosen on; `test` is held out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidseek.analyze.registry import get_text_spec, load_text_model  # noqa: E402
from vidseek.search.scoring import QueryTerms, hybrid_score, text_score  # noqa: E402
from vidseek.settings import Settings  # noqa: E402

DATA = Path(__file__).parent / "data" / "text_retrieval.jsonl"
CANDIDATES = ("e5-small-q4", "use-m3", "e5-small-q4+use-m3")
TYPES = (("paraphrase", "en"), ("paraphrase", "zh"), ("crosslingual", "zh"), ("crosslingual", "en"))
CUTOFF = 0.3


def load_set() -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["kind"] == "passage"], [r for r in rows if r["kind"] == "query"]


def measure(name: str, passages: list[dict], queries: list[dict], settings: Settings) -> dict:
    settings = settings.model_copy(update={"text_model": name})
    embedder = load_text_model(settings)
    embedder.load()
    embedder.background()  # computed (or read from the cache) before the clock starts
    texts = [p["text"] for p in passages]
    t = time.perf_counter()
    rows = np.concatenate([embedder.encode_passages(texts[i : i + 32]) for i in range(0, len(texts), 32)])
    passages_per_s = len(texts) / (time.perf_counter() - t)
    t = time.perf_counter()
    qvecs = [embedder.encode_query(q["text"]) for q in queries]
    query_ms = (time.perf_counter() - t) / len(queries) * 1000
    ids = [p["id"] for p in passages]
    per_query = []
    for q, v in zip(queries, qvecs):
        semantic = embedder.score(v, rows, texts, q["text"])
        terms = QueryTerms.parse(q["text"])
        fused = [hybrid_score(text_score(terms, text), float(s))[0] for text, s in zip(texts, semantic)]
        best, raw_best = int(np.argmax(fused)), int(np.argmax(rows @ v))
        per_query.append({"id": q["id"], "type": q["type"], "lang": q["lang"], "split": q["split"],
                          "relevant": q["relevant"], "top": ids[best], "score": round(float(fused[best]), 4),
                          "raw_top": ids[raw_best]})
    return {"model": name, "version": embedder.version, "dim": embedder.dim,
            "passages_per_s": round(passages_per_s, 1), "query_ms": round(query_ms, 1), "queries": per_query}


def summarise(result: dict, split: str | None) -> dict:
    chosen = [q for q in result["queries"] if split is None or q["split"] == split]
    out: dict[str, float] = {}
    for kind, lang in TYPES:
        qs = [q for q in chosen if q["type"] == kind and q["lang"] == lang]
        out[f"{kind} {lang}->"] = np.mean([q["top"] in q["relevant"] and q["score"] >= CUTOFF for q in qs])
        out[f"raw {kind} {lang}->"] = np.mean([q["raw_top"] in q["relevant"] for q in qs])
    none = [q for q in chosen if not q["relevant"]]
    out["no-match"] = np.mean([q["score"] < CUTOFF for q in none])
    return out


def lexical_only(passages: list[dict], queries: list[dict]) -> dict:
    texts, ids = [p["text"] for p in passages], [p["id"] for p in passages]
    per_query = []
    for q in queries:
        terms = QueryTerms.parse(q["text"])
        scores = [text_score(terms, t) for t in texts]
        best = int(np.argmax(scores))
        per_query.append({"id": q["id"], "type": q["type"], "lang": q["lang"], "split": q["split"],
                          "relevant": q["relevant"], "top": ids[best], "score": scores[best], "raw_top": ids[best]})
    return {"model": "lexical only (today's text routes)", "queries": per_query}


def table(results: list[dict], split: str | None) -> str:
    heads = [f"{k} {lang}->{'zh' if (k == 'crosslingual') == (lang == 'en') else 'en'}" for k, lang in TYPES]
    lines = ["| model | dim | passages/s | query ms | " + " | ".join(f"R@1 {h}" for h in heads)
             + " | no-match | raw R@1 (cosine alone) |", "|" + "---|" * (len(heads) + 6)]
    for r in results:
        s = summarise(r, split)
        raw = " / ".join(f"{s[f'raw {k} {lang}->']:.2f}" for k, lang in TYPES)
        cells = " | ".join(f"{s[f'{k} {lang}->']:.2f}" for k, lang in TYPES)
        lines.append(f"| {r['model']} | {r.get('dim', '')} | {r.get('passages_per_s', '')} | "
                     f"{r.get('query_ms', '')} | {cells} | {s['no-match']:.2f} | {raw} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    passages, queries = load_set()
    settings = Settings()
    results = [lexical_only(passages, queries)]
    for name in args.models:
        get_text_spec(name)  # an unknown name fails before anything loads
        results.append(measure(name, passages, queries, settings))
    counts = {t: sum(1 for q in queries if q["type"] == t) for t in ("paraphrase", "crosslingual", "none")}
    print(f"{len(passages)} passages, queries: {counts}; cutoff {CUTOFF}\n")
    for split in ("dev", "test", None):
        print(f"### split: {split or 'all'}\n\n{table(results, split)}\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
