"""`vidseek search "..."` answered by a running server (usually the resident search process) without
importing typer, the settings or the engine: a fresh process prints results in ~0.3 s.

Only the common form is handled here: one query and the options below. Anything else (`--image`,
`--library`, `--help`, a bad value, no live server, a dropped connection) returns None, and the full
command runs instead, with the same output, its own errors, and the resident process started or
restarted as needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# option -> (form field, type); flags have type None
_OPTIONS: dict[str, tuple[str, Any]] = {
    "--limit": ("limit", int), "-n": ("limit", int), "--per-video": ("per_video", int),
    "--min-score": ("min_score", float), "--route": ("routes", str), "--video-id": ("video_id", int),
    "--min-duration": ("min_duration", float), "--max-duration": ("max_duration", float),
    "--data-dir": ("data_dir", str), "-d": ("data_dir", str),
    "--json": ("as_json", None), "--verbose": ("verbose", None), "-v": ("verbose", None),
}


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The search's fields from `search QUERY [options]`, or None when this form is not the simple one."""
    if not argv or argv[0] != "search":
        return None
    got: dict[str, Any] = {"limit": 10, "per_video": 3, "routes": [], "as_json": False, "verbose": False}
    query = None
    args = iter(argv[1:])
    for arg in args:
        if arg.startswith("-") and len(arg) > 1:
            name, eq, value = arg.partition("=")
            if name not in _OPTIONS:
                return None
            field, kind = _OPTIONS[name]
            if kind is None:
                if eq:
                    return None
                got[field] = True
                continue
            if not eq:
                value = next(args, None)
                if value is None:
                    return None
            try:
                parsed = kind(value)
            except ValueError:
                return None
            if field == "routes":
                got["routes"].append(parsed)
            else:
                got[field] = parsed
        elif query is None:
            query = arg
        else:
            return None
    if not query:
        return None
    got["q"] = query
    return got


def data_dir(given: str | None) -> Path:
    """The data dir as `Settings` resolves it (option, VIDSEEK_DATA_DIR, then XDG_DATA_HOME/vidseek)."""
    base = given or os.environ.get("VIDSEEK_DATA_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "vidseek")
    return Path(base).expanduser().resolve()


def search(argv: list[str]) -> int | None:
    """Run the simple search through a live server; the exit code, or None for the full command."""
    if os.environ.get("VIDSEEK_SERVER"):
        return None
    fields = parse(argv)
    if fields is None:
        return None
    from vidseek.serve.resident import usable
    from vidseek.store.lock import server_info

    folder = data_dir(fields.pop("data_dir", None))
    info = server_info(folder)
    if not usable(info):  # none, or a resident with other settings: the full command replaces it
        return None
    as_json, verbose = fields.pop("as_json"), fields.pop("verbose")
    if not fields["routes"]:
        fields.pop("routes")
    key = os.environ.get("VIDSEEK_API_KEY") or info.get("token")
    reply = _post(info["url"], "/api/search", fields, key)
    if reply is None:
        return None
    status, body = reply
    from vidseek.cli.output import console, one_line
    from vidseek.cli.results import add_local_paths, print_search, remember

    if status >= 400:
        detail = body.get("detail") if isinstance(body, dict) else body
        problem = f"server {info['url']} answered {status}: {detail}"
        console.print(f"[red]error:[/red] {one_line(problem)}")
        return 2
    body["data_dir"] = str(folder)
    add_local_paths(os.environ.get("VIDSEEK_CATALOG_URL") or folder / "catalog.sqlite", body)
    remember(folder, fields["q"], body["moments"])
    print_search(fields["q"], body, as_json, verbose)
    return 0


def _post(url: str, path: str, body: dict, key: str | None, timeout: float = 300.0) -> tuple[int, Any] | None:
    """(status, JSON body) of one POST; None when the server cannot be reached (the caller falls back)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data.decode(errors="replace")[:200]
