"""The two consoles and one-line text, without typer: what the quick search path (`quick.py`) needs too."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

# soft_wrap: one problem stays on one line however narrow the terminal (and in logs and pipes)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def one_line(text: object) -> str:
    """One line, safe for rich markup: file names like `[2020] trip.mp4` must print as they are."""
    return escape(re.sub(r"\s*\n\s*", " ", str(text).strip()))
