"""What every command module shares: the two consoles, the `--data-dir` option, settings and engine
opening with clear errors, and the one-line error exit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from vidseek.cli.output import console, one_line, out
from vidseek.errors import DataDirLockedError, VidseekError

T = TypeVar("T")

__all__ = ["DataDir", "console", "fail", "load_settings", "one_line", "open_engine", "out", "serving_url",
           "through_server"]

DataDir = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option("--data-dir", "-d", envvar="VIDSEEK_DATA_DIR", help="Data folder (default ~/.local/share/vidseek)"),
]


def load_settings(data_dir: Path | None, **overrides):
    """Settings from options + VIDSEEK_* variables, with bad values turned into a VidseekError that
    names the variable (or the option's setting) and the value it was given."""
    from pydantic import ValidationError

    from vidseek.settings import Settings, env_name, env_values

    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        env = env_values()
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            if field in env and field not in overrides:
                value = env[field]
                if "://" in str(value):  # a URL's password stays out of the message
                    from vidseek.store.sql import redact

                    value = redact(str(value))
                where = f"{env_name(field)}={value!r}"
            else:
                where = ".".join(map(str, error["loc"]))
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        raise VidseekError(f"invalid setting ({'; '.join(problems)}); check the options and VIDSEEK_* variables"
                           ) from None


def open_engine(data_dir: Path | None, **overrides):
    """An Engine on the data dir; a data dir owned by a running server is explained, not just refused."""
    from vidseek.engine import Engine

    settings = load_settings(data_dir, **overrides)
    try:
        return Engine(settings)
    except DataDirLockedError as exc:
        url = serving_url(data_dir)
        if url is None:
            raise
        raise VidseekError(
            f"the data dir is served by `vidseek serve` at {url}; `vidseek search` goes through it, add and "
            "manage videos on its web page or REST API (/docs), or stop the server first"
        ) from exc
    except OSError as exc:
        raise VidseekError(f"cannot use the data dir: {exc}") from None


def serving_url(data_dir: Path | None) -> str | None:
    """The URL of a live `vidseek serve` that owns this data dir, from its server.json, if any."""
    from vidseek.serve.client import running_server

    return running_server(load_settings(data_dir).data_dir)


def through_server(settings, server: str | None, api_key: str | None, call: Callable[[Any], T],
                   start: bool = False) -> T | None:
    """`call(client)` against `--server`, else against the live server of the data dir: a `vidseek
    serve`, or the resident search process (started first when `start`). None when there is none to
    use: the caller opens the data dir itself. A resident that died under the call is replaced once."""
    from vidseek.serve import resident
    from vidseek.serve.client import Client, ServerUnreachable

    if server is not None:
        return call(Client(server, api_key))

    def starting() -> None:
        console.print(f"starting the resident search process for {one_line(settings.data_dir)}: it opens the store "
                      f"and the models once, and answers later commands in a fraction of a second (stops after "
                      f"{settings.resident_idle:g} s idle; VIDSEEK_RESIDENT_IDLE=0 turns it off)")

    idle = settings.resident_idle if start else 0
    for attempt in range(2):
        info = resident.ensure(settings.data_dir, idle, on_start=starting)
        if info is None:
            return None
        key = api_key or info.get("token")
        try:
            return call(Client(info["url"], key, timeout=300.0 if info.get("resident") else 60.0))
        except ServerUnreachable:
            if attempt or not resident.forget(settings.data_dir, info):
                raise  # a server the user started: say it cannot be reached
    return None


def fail(exc: Exception, code: int = 2) -> None:
    """Exit codes: 1 = the request failed (bad files, not indexed), 2 = cannot run (lock, settings)."""
    console.print(f"[red]error:[/red] {one_line(exc)}")
    raise typer.Exit(code)
