"""The command line, one package on top of everything else: `vidseek index|search|ask|serve|...`.

Each module holds the commands of one area (`commands` the core ones, `ask`, `captions`, `corpus`,
`evaluate`); the work itself lives in the layers below, which never import this package.
Errors become one clear line here.
"""

from vidseek.cli.commands import app, main

__all__ = ["app", "main"]
