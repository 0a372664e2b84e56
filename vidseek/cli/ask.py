"""`vidseek ask QUESTION`: a short answer from the library, every claim citing moments as [n].

Usage::

    vidseek ask "When does the night ferry leave pier seven?"
    vidseek ask "在视频harbour_notes中渡轮几点出发？" --verbose      # plus the plan and the searches
    vidseek ask "how do I tie a scarf the elegant way?" --json        # Answer.to_dict()

With VIDSEEK_LLM_BASE_URL set the answer is written by that LLM (streamed on a terminal); without
it (or with --no-llm) it is extractive: quoted sentences, voted on by independent videos.
A running `vidseek serve` on the data dir, or the resident search process (started as `vidseek
search` starts it), answers it: the store and the models stay open between questions.
Exit codes: 0 answered (found or not), 1 the question failed, 2 cannot run (data dir, settings).
Registered in vidseek/cli/commands.py as `app.command("ask")(ask_command)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Optional

import typer

from vidseek.cli.common import DataDir, console, fail, load_settings, one_line, open_engine, out, through_server
from vidseek.cli.results import add_local_paths
from vidseek.errors import VidseekError


def ask_command(
    question: Annotated[str, typer.Argument(help="A question about the videos, in Chinese or English")],
    data_dir: DataDir = None,
    library: Annotated[Optional[str], typer.Option("--library", "-l", help="Only this library")] = None,  # noqa: UP045
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Answer extractively even if an LLM is set")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the plan, searches and timings")] = False,
    server: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_SERVER", help="Ask through this vidseek server URL")] = None,  # noqa: UP045, E501
    api_key: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_API_KEY", help="Key for --server")] = None,  # noqa: UP045
) -> None:
    """Answer a question from the library: a short answer citing moments [n] -> video, start-end."""
    live = not as_json and out.is_terminal
    try:
        settings = load_settings(data_dir)
    except VidseekError as exc:
        fail(exc)
    try:
        where = server or settings.data_dir
        answer = through_server(settings, server, api_key, start=True,
                                call=lambda c: _served(c, question, library, no_llm, live, where))
        if answer is None:
            answer = _local(data_dir, question, library, no_llm, live)
        elif server is None:  # a server on this data dir: its catalog has the paths a local answer shows
            from vidseek.store.catalog import catalog_target

            add_local_paths(catalog_target(settings), {"moments": answer["citations"]})
    except VidseekError as exc:
        fail(exc, 1)
    if as_json:
        out.print_json(json.dumps(answer, ensure_ascii=False))
        return
    print_answer(answer, verbose)


def _served(client: Any, question: str, library: str | None, no_llm: bool, live: bool, where: Any) -> dict:
    """The answer from a server (`POST /api/ask`), shown as it is written on a terminal."""
    body: dict[str, Any] = {"question": question, "llm": not no_llm}
    if library:
        body["library_id"] = client.library_id(library)
    events = client.ask(body)
    answer = _stream(events) if live else _final(events)
    if not answer["citations"] and not client.get("/api/status").get("videos"):
        _nothing_indexed(where)  # as a local run says it
    return answer


def _local(data_dir: Any, question: str, library: str | None, no_llm: bool, live: bool) -> dict:
    from vidseek.answer.ask import Asker

    try:
        engine = open_engine(data_dir)
    except VidseekError as exc:
        fail(exc)  # exit 2: cannot run
    with engine:
        tenant = engine.tenant()
        if not engine.catalog.done_count(tenant.name):
            _nothing_indexed(engine.settings.data_dir)
        where = {"library_id": tenant.library(library).id} if library else None
        asker = Asker.from_settings(tenant, engine.settings, use_llm=not no_llm)
        if live and asker.client is not None:
            return _stream(asker.stream(question, where))
        return asker.ask(question, where).to_dict()


def _nothing_indexed(where: Any) -> None:
    console.print(f"nothing is indexed in {one_line(where)} yet; run `vidseek index <folder>` first")


def _final(events: Iterable[dict]) -> dict:
    final: dict = {}
    for event in events:
        if event["type"] == "done":
            final = event["answer"]
    if not final:
        raise VidseekError("the answer stream ended without an answer")
    return final


def _stream(events: Iterable[dict]) -> dict:
    """Show the answer as it is written, then hand back the final (checked, renumbered) one."""
    from rich.live import Live
    from rich.text import Text

    shown, final = "", {}
    with Live(Text(""), console=out, transient=True, refresh_per_second=12) as view:
        for event in events:
            if event["type"] == "delta":
                shown += event["text"]
                view.update(Text(shown))
            elif event["type"] == "reset":
                shown = ""
                view.update(Text(""))
            elif event["type"] == "done":
                final = event["answer"]
    if not final:
        raise VidseekError("the answer stream ended without an answer")
    return final


def print_answer(answer: dict, verbose: bool = False) -> None:
    """The answer, then one line per cited moment: `[n] name  m:ss–m:ss  (route: text)`."""
    from vidseek.answer.prompt import clock

    out.print(answer["text"], markup=False, highlight=False)
    if answer["citations"]:
        out.print()
    for c in answer["citations"]:
        also = f"  (also in library {', '.join(c['also_in'])})" if c.get("also_in") else ""
        out.print(f"[{c['n']}] {c['name']}  {clock(c['start'])}–{clock(c['end'])}  ({_evidence(c)}){also}",
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

