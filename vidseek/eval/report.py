"""Turn an EvalRun into metrics, a terminal table, misses and floors (report.json / misses.md).

Usage::

    report = build_report(run)                 # plain dict, what report.json holds
    print_tables(report, Console())            # one row per route setting, then fused by lang / tag
    print_misses(report, Console(), first=10)
    failed = check_floors(report, parse_floors(["fused.R@1=0.8"]))   # lines, empty when all floors hold
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vidseek.errors import VidseekError
from vidseek.eval.metrics import FLOOR_METRICS, IOU_THRESHOLDS, RECALL_KS, summarize
from vidseek.eval.runner import FUSED, SETTINGS, EvalRun, Outcome, QueryResult

COLUMNS: tuple[tuple[str, str], ...] = (
    *((f"R@{k}", f"R@{k}") for k in RECALL_KS), ("MRR", "MRR"), ("medR", "medR"),
    *((f"mR@1@{t}", f"mR@1 .{str(t).split('.')[1]}") for t in IOU_THRESHOLDS),
    ("mIoU", "mIoU"), ("no_match", "no-match"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("N", "N"),
)

TABLE_WIDTH = 150


def setting_metrics(results: Sequence[QueryResult], setting: str) -> dict[str, Any]:
    """Metrics of one route setting over the given results ("n/a" outcomes are left out; errors are misses)."""
    ranks: list[int | None] = []
    ious: list[float] = []
    out_of_library: list[int] = []
    latencies: list[float] = []
    counted = not_applicable = errors = 0
    for r in results:
        o = r.outcomes.get(setting)
        if o is None:
            continue
        if o.status == "n/a":
            not_applicable += 1
            continue
        counted += 1
        errors += o.status == "error"
        if o.latency_ms is not None:
            latencies.append(o.latency_ms)
        if r.query.in_library:
            ranks.append(o.rank)
        else:
            out_of_library.append(o.total if o.status == "ok" else 1)  # a failed search is no correct answer
        if r.query.has_moment:
            ious.append(o.iou or 0.0)
    metrics = summarize(ranks, ious, out_of_library, latencies)
    metrics.update(N=counted, n_a=not_applicable, errors=errors)
    return metrics


def build_report(run: EvalRun) -> dict[str, Any]:
    """The whole report as JSON-ready data: config, metrics per setting, fused breakdowns, misses, queries."""
    by_lang = _groups(run.results, lambda r: [r.query.lang or "unspecified"])
    by_tag = _groups(run.results, lambda r: r.query.tags or ["untagged"])
    return {
        "settings": run.config,
        "metrics": {s: setting_metrics(run.results, s) for s in run.settings},
        "breakdown": {
            "lang": {k: setting_metrics(v, FUSED) for k, v in by_lang.items()},
            "routes": {k: setting_metrics(v, FUSED) for k, v in by_tag.items()},
            # every setting on the queries of each routes tag: "speech alone on speech queries" vs fused
            "by_tag": {s: {k: setting_metrics(v, s) for k, v in by_tag.items() if k != "untagged"}
                       for s in run.settings},
        },
        "warnings": run.warnings,
        "misses": misses(run.results),
        "queries": [_query_record(r) for r in run.results],
    }


def _groups(results: Sequence[QueryResult], keys) -> dict[str, list[QueryResult]]:
    out: dict[str, list[QueryResult]] = {}
    for r in results:
        for key in keys(r):
            out.setdefault(key, []).append(r)
    return dict(sorted(out.items()))


def _outcome(o: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"status": o.status}
    if o.note:
        data["note"] = o.note
    if o.status == "n/a":
        return data
    latency = round(o.latency_ms, 2) if o.latency_ms is not None else None
    data.update(rank=o.rank, iou=None if o.iou is None else round(o.iou, 4), latency_ms=latency, total=o.total,
                returned=[vars(h) for h in o.returned])
    return data


def _query_record(r: QueryResult) -> dict[str, Any]:
    return {**r.query.to_dict(), "missing_videos": r.missing_videos,
            "results": {s: _outcome(o) for s, o in r.outcomes.items()}}


def misses(results: Sequence[QueryResult]) -> list[dict[str, Any]]:
    """Fused queries whose first relevant video is not rank 1, or out-of-library queries that got an answer."""
    out = []
    for r in results:
        o, q = r.outcomes.get(FUSED), r.query
        if o is None or (o.rank == 1 if q.in_library else (o.status == "ok" and o.total == 0)):
            continue
        expected: Any = {"videos": q.videos, "start": q.start, "end": q.end} if q.in_library else "no match"
        top = [{"name": h.name, "path": h.path, "start": h.start, "end": h.end, "score": h.score,
                "routes": h.routes, "evidence": [_evidence(e) for e in h.evidence]} for h in o.returned[:3]]
        out.append({"id": q.id, "query": q.text, "image": str(q.image) if q.image else None, "lang": q.lang,
                    "expected": expected, "rank": o.rank, "iou": o.iou, "note": o.note, "top": top})
    return out


def _evidence(e: dict[str, Any]) -> str:
    how = f" ({e['match']})" if e.get("match") else ""
    return f"{e['route']} {e['score']:.2f}{how}" + (f": {e['text']}" if e.get("text") else "")


# output ------------------------------------------------------------------------------------
def fmt(key: str, value: Any) -> str:
    """A metric for the table: fractions with 2 decimals, ranks and ms compact, None as an em dash."""
    if value is None:
        return "—"
    if key in ("N",):
        return str(value)
    if key == "medR":
        return f"{value:g}"
    if key.endswith("_ms"):
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
    return f"{value:.2f}"


def metrics_table(title: str, rows: dict[str, dict[str, Any]], first: str = "setting") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    for _, header in COLUMNS:
        table.add_column(header, justify="right")
    for name, m in rows.items():
        table.add_row(escape(name), *(fmt(key, m.get(key)) for key, _ in COLUMNS))
    return table


def print_tables(report: dict[str, Any], console: Console) -> None:
    """The route-setting table, then the fused run by `lang` and by `routes` tag, then warnings.

    Give a console at least TABLE_WIDTH wide, or rich squeezes the numbers into "1.…"."""
    cfg = report["settings"]
    console.print(metrics_table(f"vidseek eval: {cfg['videos']} videos, min_score {cfg['min_score']}",
                                report["metrics"]))
    groups = {f"lang {k}": v for k, v in report["breakdown"]["lang"].items()}
    groups.update({f"tag {k}": v for k, v in report["breakdown"]["routes"].items()})
    console.print(metrics_table("fused, by lang and by routes tag", groups, first="group"))
    by_tag = report["breakdown"].get("by_tag", {})
    own = {f"{route} alone": by_tag[route][route] for route in by_tag if route in by_tag.get(route, {})}
    if own:
        console.print(metrics_table("each route alone, on the queries tagged for it", own, first="route"))
    if "lexical" in by_tag:
        rows = {}
        for tag in by_tag[FUSED]:
            for setting, label in ((FUSED, "hybrid"), ("lexical", "words only"), ("semantic", "meaning only")):
                rows[f"{tag}: {label}"] = by_tag[setting][tag]
        console.print(metrics_table("text matching ablation (all routes fused), by tag", rows, first="tag: text match"))
    for line in report["warnings"]:
        console.print(f"[yellow]![/yellow] {escape(line)}")


def print_misses(report: dict[str, Any], console: Console, first: int = 10) -> None:
    rows = report["misses"]
    n = sum(1 for q in report["queries"] if FUSED in q["results"])
    console.print(f"misses (fused): {len(rows)} of {n} queries" + (f"; first {first} below" if len(rows) > first
                                                                     else ""))
    for m in rows[:first]:
        for line in _miss_lines(m):
            console.print(line, markup=False, highlight=False)


def _miss_lines(m: dict[str, Any]) -> list[str]:
    what = m["query"] or ""
    if m["image"]:
        what = f"{what} [image {Path(m['image']).name}]".strip()
    exp = m["expected"]
    if exp == "no match":
        expected = "no match"
    else:
        span = f" {_ts(exp['start'])}–{_ts(exp['end'])}" if exp["start"] is not None else ""
        expected = ", ".join(exp["videos"]) + span
    got = "rank " + str(m["rank"]) if m["rank"] else ("returned moments" if exp == "no match" else "not found")
    lines = [f"- {m['id']}: {what!r}  expected {expected}  -> {got}"]
    if m.get("note"):
        lines.append(f"    error: {m['note']}")
    for i, t in enumerate(m["top"], 1):
        lines.append(f"    {i}. {t['name']} {_ts(t['start'])}–{_ts(t['end'])} score {t['score']:.2f}"
                     f"  {' | '.join(t['evidence'])}")
    return lines


def _ts(seconds: float) -> str:
    minutes, s = divmod(float(seconds), 60)
    return f"{int(minutes)}:{s:04.1f}"


def write_misses_md(report: dict[str, Any], path: Path) -> Path:
    """All misses as Markdown: the query, what was expected, the top 3 returned with their evidence."""
    rows = report["misses"]
    text = [f"# Misses (fused): {len(rows)}\n",
            "Queries whose first relevant video is not rank 1, and out-of-library queries that got an answer.\n"]
    for m in rows:
        head, *rest = _miss_lines(m)
        text.append(f"## {head[2:]}\n")
        text += [f"{line.strip()}  " for line in rest] or ["nothing returned"]
        text.append("")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


# floors --------------------------------------------------------------------------------------
def parse_floors(specs: Sequence[str]) -> list[tuple[str, str, float]]:
    """`["speech.R@1=0.8", "speech@speech.R@1=0.8"]` -> [("speech", "R@1", 0.8), ("speech@speech", ...)].

    `SETTING@TAG` measures the setting only on the queries whose routes tag is TAG (e.g. the speech
    route alone on the sentences that are spoken). Raises VidseekError on a bad spec."""
    out = []
    for spec in specs:
        key, sep, raw = spec.partition("=")
        scope, dot, metric = key.strip().partition(".")
        setting = scope.partition("@")[0]
        if not sep or not dot:
            raise VidseekError(f"--fail-under {spec!r}: write SETTING[@TAG].METRIC=VALUE, e.g. fused.R@1=0.8")
        if setting not in SETTINGS:
            raise VidseekError(f"--fail-under {spec!r}: unknown setting {setting!r}; choose from {', '.join(SETTINGS)}")
        if metric not in FLOOR_METRICS:
            raise VidseekError(f"--fail-under {spec!r}: unknown metric {metric!r} (higher must be better); "
                               f"choose from {', '.join(FLOOR_METRICS)}")
        try:
            value = float(raw)
        except ValueError:
            raise VidseekError(f"--fail-under {spec!r}: {raw!r} is not a number") from None
        out.append((scope, metric, value))
    return out


def check_floors(report: dict[str, Any], floors: Sequence[tuple[str, str, float]]) -> list[str]:
    """One line per floor that does not hold (a metric that was not measured fails too)."""
    failed = []
    for scope, metric, floor in floors:
        key = f"{scope}.{metric}"
        setting, _, tag = scope.partition("@")
        metrics = report["metrics"].get(setting)
        if metrics is None:
            failed.append(f"{key}: not measured (the {setting} route is not indexed) — floor {floor:g}")
            continue
        if tag:
            metrics = report["breakdown"]["by_tag"].get(setting, {}).get(tag, {})
        value = metrics.get(metric)
        if value is None:
            failed.append(f"{key}: not measured (no query of that kind) — floor {floor:g}")
        elif value < floor:
            failed.append(f"{key} = {value:.3f}, below the floor {floor:g}")
    return failed
