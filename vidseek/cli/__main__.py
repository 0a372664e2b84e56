"""`python -m vidseek.cli ...` is the `vidseek` command."""

from vidseek.cli import main

main()
