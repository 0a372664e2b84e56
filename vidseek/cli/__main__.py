"""`python -m vidseek.cli ...` is the `vidseek` command."""

from vidseek.cli.commands import main

main()
