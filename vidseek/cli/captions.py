"""`vidseek captions estimate|run`: what captioning a library with a VLM costs, then caption it (resumable).

Usage::

    vidseek captions estimate [PATHS...] [--library NAME] [-d DATA] [--probe] [--price-per-1k-tokens 0.0002]
    vidseek captions run [PATHS...] [--library NAME] [-d DATA] [--yes]

`run` captions only the videos already indexed whose caption route is missing, failed or made by another
model, and touches no other route. It stops after 3 videos in a row fail (the endpoint is down); Ctrl-C keeps
every caption made so far. Running it again resumes. Registered in vidseek/cli/commands.py as
`app.add_typer(captions_app, name="captions")`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidseek.analyze.captions import MAX_FAILURES_IN_A_ROW, SETUP_HINT, TOKENS_PER_IMAGE, Captioner
from vidseek.cli.common import DataDir, console, fail, load_settings, one_line, open_engine, out
from vidseek.errors import VidseekError
from vidseek.index.captions import CaptionPlan, plan_captions
from vidseek.records import CAPTION

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

captions_app = typer.Typer(no_args_is_help=True, help="Captions of shot keyframes by a vision-language model "
                                                      "(optional route; needs VIDSEEK_VLM_BASE_URL).")

Paths = Annotated[Optional[list[Path]], typer.Argument(help="Only videos under these files/folders "  # noqa: UP045
                                                             "(default: the whole library)")]
Library = Annotated[str, typer.Option("--library", "-l", help="Library to caption")]
TokensPerImage = Annotated[int, typer.Option(min=1, help="Tokens one keyframe image costs the model")]
Price = Annotated[Optional[float], typer.Option(min=0, help="Price per 1000 tokens, to estimate the bill")]  # noqa: UP045
Probe = Annotated[bool, typer.Option("--probe", help="Time one real call to the endpoint to estimate the time")]




class _Stop(Exception):
    """The endpoint failed for several videos in a row: stop the run (it resumes next time)."""


@captions_app.command("estimate")
def estimate_command(paths: Paths = None, data_dir: DataDir = None, library: Library = "default",
                     tokens_per_image: TokensPerImage = TOKENS_PER_IMAGE, price_per_1k_tokens: Price = None,
                     probe: Probe = False,
                     as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """How many videos and keyframes still need captions, and the tokens, time and money that costs."""

    from vidseek.serve.client import running_server

    try:
        settings = load_settings(data_dir)
        if running_server(settings.data_dir):  # `vidseek serve` or the resident owns it: read its catalog
            plan = _plan_read_only(settings, library, paths, tokens_per_image, price_per_1k_tokens, probe)
        else:
            with open_engine(data_dir) as engine:
                plan = _plan(engine, library, paths, tokens_per_image, price_per_1k_tokens, probe)
    except VidseekError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(plan.to_dict()))
    else:
        for text in plan.lines():
            out.print(text, highlight=False)


@captions_app.command("run")
def run_command(paths: Paths = None, data_dir: DataDir = None, library: Library = "default",
                yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before running")] = False,
                tokens_per_image: TokensPerImage = TOKENS_PER_IMAGE, price_per_1k_tokens: Price = None,
                probe: Probe = False) -> None:
    """Caption the keyframes of indexed videos that have no (current) captions; other routes are not touched."""

    try:
        with open_engine(data_dir) as engine:
            if not engine.settings.vlm_base_url:
                raise VidseekError(f"captions need a vision model: {SETUP_HINT}")
            plan = _plan(engine, library, paths, tokens_per_image, price_per_1k_tokens, probe)
            for text in plan.lines():
                out.print(text, highlight=False)
            files = _runnable(plan)
            if not files:
                out.print("nothing to caption", highlight=False)
                raise typer.Exit(0)
            _confirm(yes, len(files), sum(v.keyframes for v in plan.indexed()))
            counts = _caption(engine, library, files, plan)
    except VidseekError as exc:
        fail(exc)
    except KeyboardInterrupt:
        console.print("interrupted: the captions made so far are kept; run `vidseek captions run` again to resume")
        raise typer.Exit(130) from None
    console.print(f"captioned {counts['done']} videos ({counts['rows']} captions), failed {counts['failed']}"
                  + (" (stopped: the endpoint kept failing; run again to resume)" if counts["stopped"] else ""))
    raise typer.Exit(1 if counts["failed"] else 0)


def _plan(engine: Any, library: str, paths: list[Path] | None, tokens_per_image: int, price: float | None,
          probe: bool) -> CaptionPlan:
    """The library's caption plan with the cost options applied (and one timed call with `probe`)."""
    handle = engine.tenant().library(library, create=library == "default")
    return _costed(engine.catalog, handle.videos(), engine.settings, paths, tokens_per_image, price, probe)


def _plan_read_only(settings: Any, library: str, paths: list[Path] | None, tokens_per_image: int,
                    price: float | None, probe: bool) -> CaptionPlan:
    """The same plan from the catalog of a data dir a running server owns, read-only (nothing is written)."""
    from vidseek.errors import NotFoundError
    from vidseek.store.catalog import DEFAULT_TENANT, open_catalog

    catalog = open_catalog(settings, read_only=True)
    try:
        try:
            rec = catalog.library_named(DEFAULT_TENANT, library)
        except NotFoundError:
            if library != "default":
                raise
            videos = []  # the default library is made with the first index
        else:
            videos = catalog.videos(DEFAULT_TENANT, rec.id)
        return _costed(catalog, videos, settings, paths, tokens_per_image, price, probe)
    finally:
        catalog.close()


def _costed(catalog: Any, videos: list, settings: Any, paths: list[Path] | None, tokens_per_image: int,
            price: float | None, probe: bool) -> CaptionPlan:
    version = Captioner(settings).version if settings.vlm_base_url else None
    plan = plan_captions(catalog, videos, settings.data_dir, paths, version)
    plan.tokens_per_image = tokens_per_image
    plan.price_per_1k_tokens = price
    if probe:
        plan.seconds_per_call = _probe(catalog, settings, plan)
    return plan


def _probe(catalog: Any, settings: Any, plan: CaptionPlan) -> float | None:
    """Seconds one caption takes, measured on a stored thumbnail (or a grey frame); None if the call failed."""
    from vidseek.analyze.llm import LLMError
    from vidseek.errors import ModelUnavailableError

    captioner = Captioner(settings)
    try:
        captioner.load()
    except ModelUnavailableError as exc:
        raise VidseekError(f"--probe: {exc}") from None
    image = _sample_image(catalog, plan)
    t = time.perf_counter()
    try:
        text = captioner.caption(image)
    except LLMError as exc:
        console.print(f"[yellow]![/yellow] the probe call failed: {one_line(exc)}")
        return None
    finally:
        captioner.close()
    seconds = time.perf_counter() - t
    console.print(f"probe: one caption in {seconds:.2f} s: {one_line(text)}", highlight=False)
    return seconds


def _sample_image(catalog: Any, plan: CaptionPlan) -> np.ndarray:
    """A stored keyframe thumbnail of a video in the plan, else a grey frame."""
    import numpy as np

    ids = [v.video_id for v in plan.videos if v.video_id is not None][:20]
    for shots in catalog.segments_for(ids).values():
        for shot in shots:
            if shot.thumbnail and Path(shot.thumbnail).is_file():
                from PIL import Image

                with Image.open(shot.thumbnail) as picture:
                    return np.asarray(picture.convert("RGB"))
    return np.full((288, 512, 3), 128, np.uint8)


def _runnable(plan: CaptionPlan) -> list[Path]:
    """Indexed videos whose file is as it was when indexed; the others need `vidseek index` first."""
    waiting = len(plan.videos) - len(plan.indexed())
    if waiting:
        console.print(f"[yellow]![/yellow] {waiting} videos are not indexed yet: run `vidseek index` on them first "
                      "(with --routes visual,speech,ocr,title,caption to caption them while indexing)")
    return [Path(v.path) for v in plan.indexed()]


def _confirm(yes: bool, videos: int, keyframes: int) -> None:
    """Ask before spending, unless --yes; without a terminal, refuse instead of hanging."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise VidseekError("not asking without a terminal: pass --yes to caption without a prompt")
    if not typer.confirm(f"Caption {keyframes} keyframes of {videos} videos?", default=False):
        raise typer.Exit(1)


def _caption(engine: Any, library: str, files: list[Path], plan: CaptionPlan) -> dict:
    """Index `files` with the caption route alone (this run only), one progress tick per caption."""
    from vidseek.engine import LibraryHandle

    tenant = engine.tenant()
    handle = tenant.library(library)
    record = replace(handle.record, settings={**handle.record.settings, "routes": [CAPTION]})
    captions_only = LibraryHandle(tenant, record)  # the library's stored settings stay as they are
    files = _unchanged(handle, files)
    counts: dict = {"done": 0, "rows": 0, "failed": 0, "stopped": False, "in_a_row": 0}
    columns = [TextColumn("captions"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("captions", total=sum(v.keyframes for v in plan.indexed()))

        def on_event(event: Any) -> None:
            if event.stage == CAPTION:
                bar.advance(task)

        def on_file(result: Any) -> None:
            _report_file(bar.console, result, counts)
            if counts["in_a_row"] >= MAX_FAILURES_IN_A_ROW:
                raise _Stop

        try:
            captions_only.index(files, on_event=on_event, on_file=on_file)
        except _Stop:
            counts["stopped"] = True
    return counts


def _report_file(con: Console, result: Any, counts: dict) -> None:
    """One line per captioned or failed video; counts failures in a row for the stop rule."""
    state = result.routes.get(CAPTION, {}) if result.routes else {}
    if result.status in ("failed", "cancelled"):
        counts["failed"] += 1
        con.print(f"[red]✗[/red] {one_line(result.path)}: {one_line(result.error)}")
    elif state.get("state") == "failed":
        counts["failed"] += 1
        counts["in_a_row"] += 1
        con.print(f"[red]✗[/red] {one_line(result.path)}: {one_line(state.get('note'))}")
    elif result.status != "skipped" and state.get("state") == "done":
        counts["done"] += 1
        rows = int(state.get("rows") or 0)
        counts["rows"] += rows
        counts["in_a_row"] = 0
        con.print(f"[green]✓[/green] {one_line(result.path)} ({rows} caption{'' if rows == 1 else 's'}, "
                  f"{result.seconds:.1f} s)")


def _unchanged(handle: Any, files: list[Path]) -> list[Path]:
    """Files whose size and mtime are as indexed; a changed file must be re-indexed as a whole first."""
    known = {v.path: v for v in handle.videos()}
    keep = []
    for path in files:
        rec = known.get(str(path))
        try:
            st = path.stat()
        except OSError as exc:
            console.print(f"[red]✗[/red] {one_line(path)}: cannot read file: {one_line(exc.strerror or exc)}")
            continue
        if rec is None or (rec.size, rec.mtime) != (st.st_size, st.st_mtime):
            console.print(f"[yellow]![/yellow] {one_line(path)}: changed since it was indexed; "
                          "run `vidseek index` first")
            continue
        keep.append(path)
    return keep
