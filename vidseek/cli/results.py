"""How search results are printed, and kept for `vidseek cut N` / `vidseek open N`, with no typer
or settings import: the quick search path (`quick.py`) prints through here too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidseek.cli.output import console, one_line, out

LAST_SEARCH = "last-search.json"


def remember(data_dir: Path, query: str | None, moments: list[dict[str, Any]]) -> None:
    """Keep a search's results for `cut` and `open` (best effort: a read-only data dir just skips it)."""
    rows = [{"n": i, "video_id": m.get("video_id"), "name": m.get("name"), "path": m.get("path"),
             "start": m["start"], "end": m["end"]} for i, m in enumerate(moments, 1)]
    try:
        (data_dir / LAST_SEARCH).write_text(json.dumps({"query": query, "moments": rows}, ensure_ascii=False))
    except OSError:
        pass


def add_local_paths(catalog: Path | str, result: dict) -> None:
    """A server on this machine's data dir lists names and URLs; its catalog has the paths a local
    search prints (the file, and the shot's thumbnail), so they are filled in from there.

    `catalog`: the server's catalog, `catalog_target(settings)`."""
    moments = [m for m in result.get("moments", []) if not m.get("path") and m.get("video_id") is not None]
    if not moments:
        return
    from vidseek.store.catalog import read_paths

    shots = {}
    for m in moments:
        parts = str(m.get("thumbnail_url") or "").split("/")
        if len(parts) == 6 and parts[:4] == ["", "api", "videos", str(m["video_id"])] and parts[5].isdigit():
            shots[id(m)] = (int(m["video_id"]), int(parts[5]))
    files, thumbs = read_paths(catalog, (m["video_id"] for m in moments), shots.values())
    for m in moments:
        m["path"] = files.get(int(m["video_id"]))
        if id(m) in shots and shots[id(m)] in thumbs:
            m["thumbnail"] = thumbs[shots[id(m)]]


def print_search(query: str | None, result: dict, as_json: bool, verbose: bool) -> None:
    moments = result["moments"]
    if as_json:
        keep = ("query", "moments", "total", "skipped_routes", "text_match", "notes", "seconds")
        out.print_json(json.dumps({k: result.get(k) for k in keep}, ensure_ascii=False))
        return
    if result.get("empty_index"):
        console.print(f"nothing is indexed in {one_line(result['data_dir'])} yet; run `vidseek index <folder>` first")
    elif not moments:
        cutoff = result.get("min_score")
        cut = f" ({cutoff:.2f})" if cutoff is not None else ""
        out.print(f"no match above the cutoff{cut}; try other words or --min-score 0")
    several = len({m.get("library_id") for m in moments}) > 1  # then each hit says which library
    for i, m in enumerate(moments, 1):
        name = m.get("path") or m.get("name")
        span = f"{clock(m['start'])}–{clock(m['end'])}"
        routes = ", ".join(m["routes"])
        where = f"  library {one_line(m.get('library') or m.get('library_id'))}" if several else ""
        out.print(f"[bold]{i:>2}. {one_line(name)}[/bold]  {span}  score {m['score']:.2f}  \\[{routes}]{where}")
        for e in m["evidence"]:
            how = f" ({e['match']})" if e.get("match") else ""
            if e.get("box"):  # a face: who (when named) and where on the frame
                where = ", ".join(f"{b:.2f}" for b in e["box"])
                how += f" {e['text']}, box {where}" if e.get("text") else f" box {where}"
                e = {**e, "text": None}
            text = f"{e['route']} {e['score']:.2f}{how}" + (f": {e['text']}" if e.get("text") else "")
            out.print(f"      {text}", markup=False, highlight=False)
        thumb = m.get("thumbnail") or m.get("thumbnail_url")
        if thumb:
            out.print(f"      thumbnail: {thumb}", markup=False, highlight=False, style="dim")
    # A route that is off changes what any search can find, so it is said every time (on stderr).
    for note in result.get("notes") or []:
        console.print(f"[yellow]![/yellow] {one_line(note)}")
    for r, why in result["skipped_routes"].items():
        reason = why.splitlines()[0] if why else "unavailable"
        console.print(f"[yellow]![/yellow] {r} route {one_line(reason)}")
    if verbose:
        console.print(f"{result['seconds'] * 1000:.0f} ms, candidates {result.get('candidates', {})}")


def clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):d}:{s:04.1f}"
