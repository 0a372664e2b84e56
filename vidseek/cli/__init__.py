"""The command line, one package on top of everything else: `vidseek index|search|ask|serve|...`.

Each module holds the commands of one area (`commands` the core ones, `ask`, `captions`, `clips`,
`corpus`, `evaluate`); the work itself lives in the layers below, which never import this package.
Errors become one clear line here. `vidseek --help` alone is answered by `overview` without loading
any of them, and a plain `vidseek search "..."` with a server running by `quick`.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    """The `vidseek` entry point."""
    from vidseek.cli.overview import print_overview, wants_overview

    if wants_overview(sys.argv[1:]):
        print_overview()
        return
    from vidseek.cli.quick import search

    code = search(sys.argv[1:])  # a plain search, through a running server: no typer, no settings
    if code is not None:
        sys.exit(code)
    from vidseek.cli.commands import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app: loaded on first use
        from vidseek.cli.commands import app

        return app
    raise AttributeError(f"module 'vidseek.cli' has no attribute {name!r}")
