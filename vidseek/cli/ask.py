"""`vidseek ask QUESTION`: a short answer from the library, every claim citing moments as [n].

Usage::

    vidseek ask "When does the night ferry leave pier seven?"
    vidseek ask "在视频harbour_notes中渡轮几点出发？" --verbose      # plus the plan and the searches
    vidseek ask "how do I tie a scarf the elegant way?" --json        # Answer.to_dict()

With VIDSEEK_LLM_BASE_URL set the answer is written by that LLM (streamed on a terminal); without
it (or with --no-llm) it is extractive: quoted sentences, voted on by independent videos.
Exit codes: 0 answered (found or not), 1 the question failed, 2 cannot run (data dir, settings).
Registered in vidseek/cli/commands.py as `app.command("ask")(ask_command)`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Optional

import typer

from vidseek.cli.common import DataDir, console, fail, one_line, open_engine, out
from vidseek.errors import VidseekError


def ask_command(
    question: Annotated[str, typer.Argument(help="A question about the videos, in Chinese or English")],
    data_dir: DataDir = None,
    library: Annotated[Optional[str], typer.Option("--library", "-l", help="Only this library")] = None,  # noqa: UP045
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Answer extractively even if an LLM is set")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the plan, searches and timings")] = False,
) -> None:
    """Answer a question from the library: a short answer citing moments [n] -> video, start-end."""
    from vidseek.answer.ask import Asker

    try:
        engine = open_engine(data_dir)
    except VidseekError as exc:
        fail(exc)
    try:
        with engine:
            tenant = engine.tenant()
            if not engine.catalog.done_count(tenant.name):
                console.print(f"nothing is indexed in {one_line(engine.settings.data_dir)} yet; "
                              "run `vidseek index <folder>` first")
            where = {"library_id": tenant.library(library).id} if library else None
            asker = Asker.from_settings(tenant, engine.settings, use_llm=not no_llm)
            live = asker.client is not None and not as_json and out.is_terminal
            answer = _stream(asker, question, where) if live else asker.ask(question, where).to_dict()
    except VidseekError as exc:
        fail(exc, 1)
    if as_json:
        out.print_json(json.dumps(answer, ensure_ascii=False))
        return
    print_answer(answer, verbose)


def _stream(asker: Any, question: str, where: dict | None) -> dict:
    """Show the answer as it is written, then hand back the final (checked, renumbered) one."""
    from rich.live import Live
    from rich.text import Text

    shown, final = "", {}
    with Live(Text(""), console=out, transient=True, refresh_per_second=12) as view:
        for event in asker.stream(question, where):
            if event["type"] == "delta":
                shown += event["text"]
                view.update(Text(shown))
            elif event["type"] == "reset":
                shown = ""
                view.update(Text(""))
            elif event["type"] == "done":
                final = event["answer"]
    return final


def print_answer(answer: dict, verbose: bool = False) -> None:
    """The answer, then one line per cited moment: `[n] name  m:ss–m:ss  (route: text)`."""
    from vidseek.answer.prompt import clock

    out.print(answer["text"], markup=False, highlight=False)
    if answer["citations"]:
        out.print()
    for c in answer["citations"]:
        out.print(f"[{c['n']}] {c['name']}  {clock(c['start'])}–{clock(c['end'])}  ({_evidence(c)})",
                  markup=False, highlight=False)
    for note in answer["notes"]:
        console.print(f"[yellow]![/yellow] {one_line(note)}")
    if verbose:
        _print_plan(answer)


def _evidence(c: dict, width: int = 160) -> str:
    """What the moment says, route by route ("ocr: ... ; speech: ..."); the title only if nothing else."""
    by_route: dict[str, list[str]] = {}
    for t in c["texts"]:
        by_route.setdefault(t["route"], []).append(t["text"].strip())
    if len(by_route) > 1:
        by_route.pop("title", None)
    parts = [f"{route}: {' '.join(texts)}" for route, texts in by_route.items()] or ["visual match"]
    text = re.sub(r"\s+", " ", "; ".join(parts))
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_plan(answer: dict) -> None:
    plan = answer["plan"]
    console.print(f"mode {answer['mode']}, plan by {plan['source']}, language {plan['language']}, "
                  f"{answer['seconds'] * 1000:.0f} ms", highlight=False)
    for q in plan["sub_queries"]:
        console.print(f"  search {one_line(repr(q['text']))} on {', '.join(q['routes'])}", highlight=False)
    if plan["filters"]:
        console.print(f"  filters {one_line(plan['filters'])}", highlight=False)
    for i, step in enumerate(answer["steps"], 1):
        console.print(f"  step {i}: {one_line(step['question'])} -> {one_line(step['text'])}", highlight=False)
    for line in plan["trace"]:
        console.print(f"  · {one_line(line)}", highlight=False)

