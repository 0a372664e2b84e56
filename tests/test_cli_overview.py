"""`vidseek --help` is printed by vidseek/cli/overview.py without loading typer or the commands: its
list must stay what the typer app registers."""

from __future__ import annotations

import re
import subprocess
import sys

import typer

from vidseek.cli import app
from vidseek.cli.overview import COMMANDS, render


def _first_paragraph(text: str) -> str:
    return re.sub(r"\s+", " ", (text or "").strip().split("\n\n")[0])


def test_the_overview_lists_every_command_with_its_own_help_line() -> None:
    group = typer.main.get_command(app)
    registered = {name: _first_paragraph(cmd.help) for name, cmd in group.commands.items() if not cmd.hidden}
    assert dict(COMMANDS) == registered


def test_help_alone_loads_neither_typer_nor_the_commands() -> None:
    code = ("import sys; sys.argv = ['vidseek', '--help']; import vidseek.cli; vidseek.cli.main(); "
            "assert 'typer' not in sys.modules and 'vidseek.cli.commands' not in sys.modules, sorted(sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: vidseek") and all(f"  {name} " in done.stdout for name, _ in COMMANDS)


def test_the_overview_wraps_to_the_terminal() -> None:
    assert all(len(line) <= 80 for line in render(80).splitlines())
