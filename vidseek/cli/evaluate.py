"""`vidseek eval QUERIES`: search every query of a JSONL file, print and save the metrics.

Usage::

    vidseek eval queries.jsonl --index ~/Videos/bench --out eval-out --fail-under fused.R@1=0.8

Writes report.json, chart.png and misses.md to --out. Exit codes: 0 done (all floors hold),
1 a --fail-under floor failed, 2 cannot run (bad queries file, option or data dir).
Registered in vidseek/cli/commands.py as `app.command("eval")(eval_command)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidseek.cli.common import DataDir, console, fail, one_line, open_engine, out
from vidseek.errors import VidseekError


def eval_command(
    queries: Annotated[Path, typer.Argument(help="Queries file: JSONL, one {id, query, image, videos, start, end, "
                                                 "lang, routes} object per line")],
    data_dir: DataDir = None,
    index: Annotated[Optional[Path], typer.Option("--index", help="Index this folder first (incremental)")] = None,  # noqa: UP045
    media: Annotated[Optional[Path], typer.Option(help="Root the expected videos are relative to "  # noqa: UP045
                                                       "(default: the queries file's folder)")] = None,
    library: Annotated[Optional[str], typer.Option("--library", "-l", help="Only this library")] = None,  # noqa: UP045
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where report.json, chart.png, misses.md go")] = Path(
        "eval-out"),
    min_score: Annotated[Optional[float], typer.Option(help="Cutoff (default: the data dir's, 0.3)")] = None,  # noqa: UP045
    ablation: Annotated[bool, typer.Option("--ablation/--no-ablation", help="Also run each route alone")] = True,
    fail_under: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--fail-under", help="Floor KEY=VALUE, e.g. speech.R@1=0.8, fused.mR@1@0.5=0.5, fused.no_match=0.8 "
                             "(repeatable); exit 1 if one is not met")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON instead of tables")] = False,
) -> None:
    """Evaluate search quality: recall per route setting, moment IoU, no-match rate, latency, misses."""
    from vidseek.eval.queries import load_queries
    from vidseek.eval.report import parse_floors

    try:
        floors = parse_floors(fail_under or [])
        items = load_queries(queries)
        root = (media or queries.expanduser().resolve().parent).expanduser().resolve()
        if not root.is_dir():
            raise VidseekError(f"--media {root}: no such folder")
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise VidseekError(f"--min-score must be between 0 and 1, got {min_score}")
        report = _evaluate(data_dir, items, root, index, library, min_score, ablation)
        files = _write(report, out_dir)
    except VidseekError as exc:
        fail(exc)
    from vidseek.eval.report import TABLE_WIDTH, check_floors, print_misses, print_tables

    failed = check_floors(report, floors)
    if as_json:
        keep = ("settings", "metrics", "breakdown", "warnings")
        summary = {**{k: report[k] for k in keep}, "misses": len(report["misses"]), "floors_failed": failed,
                   "files": {k: str(v) for k, v in files.items()}}
        out.print_json(json.dumps(summary, ensure_ascii=False))
    else:
        out.width = max(out.width, TABLE_WIDTH)  # a CI log counts as 80 columns: keep the numbers whole
        print_tables(report, out)
        print_misses(report, out)
        out.print(f"wrote {', '.join(one_line(p) for p in files.values())}", highlight=False)
    for line in failed:
        console.print(f"[red]floor failed:[/red] {one_line(line)}")
    raise typer.Exit(1 if failed else 0)


def _evaluate(data_dir: Path | None, items, root: Path, index: Path | None, library: str | None,
              min_score: float | None, ablation: bool) -> dict:
    from vidseek.eval.report import build_report
    from vidseek.eval.runner import run_eval

    with open_engine(data_dir) as engine:
        if index is not None:
            _index(engine, index, library)
        columns = [TextColumn("searching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("searching", total=None)
            run = run_eval(engine, items, root, library=library, min_score=min_score, ablation=ablation,
                           on_progress=lambda done, total: bar.update(task, completed=done, total=total))
        return build_report(run)


def _index(engine, folder: Path, library: str | None) -> None:
    """Index a folder into the library (incremental), one progress line per file that changed."""
    if not folder.expanduser().is_dir():
        raise VidseekError(f"--index {folder}: no such folder")
    handle = engine.tenant().library(library or "default", create=True)
    seen = {"n": 0, "total": 0}

    def on_scan(files: list[Path]) -> None:
        seen["total"] = len(files)
        console.print(f"index: {len(files)} video files in {one_line(folder)}")

    def on_file(r) -> None:
        seen["n"] += 1
        if r.status == "failed":
            console.print(f"[red]✗[/red] [{seen['n']}/{seen['total']}] {one_line(r.path)}: {one_line(r.error)}")
        elif r.status != "skipped":
            console.print(f"[green]✓[/green] [{seen['n']}/{seen['total']}] {one_line(r.path)} ({r.status}, "
                          f"{r.seconds:.1f} s)")

    report = handle.index([folder], on_file=on_file, on_scan=on_scan)
    for path, problem in report.problems:
        console.print(f"[red]✗[/red] {one_line(path)}: {one_line(problem)}")
    for route, reason in report.unavailable.items():
        console.print(f"[yellow]![/yellow] {route} route unavailable, indexed without it: {one_line(reason)}")
    console.print(f"index: {report.count('indexed')} indexed, {report.count('updated')} updated, "
                  f"{report.count('skipped')} unchanged, {len(report.failed)} failed")


def _write(report: dict, out_dir: Path) -> dict[str, Path]:
    from vidseek.eval.chart import draw_chart
    from vidseek.eval.report import write_json, write_misses_md

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return {
            "report": write_json(report, out_dir / "report.json"),
            "chart": draw_chart(report, out_dir / "chart.png"),
            "misses": write_misses_md(report, out_dir / "misses.md"),
        }
    except OSError as exc:
        raise VidseekError(f"cannot write the report to {out_dir}: {exc}") from None
