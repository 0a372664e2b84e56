"""`vidseek corpus make` and `vidseek corpus import`: evaluation corpora (the work is in `vidseek.eval`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vidseek.errors import VidseekError
from vidseek.eval.formats import FORMATS, charades_sta_queries, msrvtt_queries, write_jsonl


def corpus_make_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the corpus into (new, empty, or an older corpus)")],
    size: Annotated[str, typer.Option(help="tiny (CI: 10 short videos), small (~10 min) or bench (~2 h)")] = "tiny",
    seed: Annotated[int, typer.Option(help="Same seed, same videos and queries")] = 0,
) -> None:
    """Generate a seeded video corpus with known ground truth and queries.jsonl (`vidseek corpus make OUT`)."""
    from vidseek.eval.corpus import make_corpus  # numpy, PIL and the video synthesiser: only when making one

    try:
        info = make_corpus(out, size, seed, on_progress=lambda i, n, name: typer.echo(f"[{i}/{n}] {name}", err=True))
    except (ValueError, RuntimeError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{info.videos} videos ({info.seconds / 60:.1f} min), {info.queries} queries "
               f"({info.out_of_library} out of library) in {info.folder}, built in {info.build_seconds:.0f} s")


def import_command(
    format_: Annotated[str, typer.Argument(metavar="FORMAT", help=f"One of: {', '.join(FORMATS)}")],
    annotations: Annotated[list[Path], typer.Argument(help="Annotation file(s): MSRVTT_JSFUSION_test.csv and/or "
                                                           "a caption JSON; charades_sta_test.txt")],
    videos: Annotated[Path, typer.Option("--videos", help="The benchmark's video folder")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Queries file to write")] = Path("queries.jsonl"),
    max_queries: Annotated[Optional[int], typer.Option(help="Keep only the first N queries")] = None,  # noqa: UP045
) -> None:
    """Convert MSR-VTT 1k-A or Charades-STA annotations into a `vidseek eval` queries file."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True)
    convert = {"msrvtt": msrvtt_queries, "charades-sta": charades_sta_queries}.get(format_.lower())
    try:
        if convert is None:
            raise VidseekError(f"unknown format {format_!r}; choose from {', '.join(FORMATS)}")
        conv = convert(videos, annotations, relative_to=output.expanduser().resolve().parent,
                       max_queries=max_queries)
        path = write_jsonl(conv.queries, output.expanduser())
    except (VidseekError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(' '.join(str(exc).split()))}", highlight=False)
        raise typer.Exit(2) from None
    for line in conv.skipped_lines[:5]:
        console.print(f"skipped {line}", markup=False, highlight=False)
    if conv.missing_videos:
        console.print(f"{len(conv.missing_videos)} annotated videos are not in {videos} and were left out "
                      f"(first: {conv.missing_videos[0]})", markup=False, highlight=False)
    console.print(f"wrote {len(conv.queries)} queries to {path}", markup=False, highlight=False)
