"""``python -m memlease``: the command-line tool (see ``memlease.cli``)."""

from memlease.cli import main

main()
