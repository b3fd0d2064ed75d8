"""The ``memlease`` command-line tool: inspect and exercise a memcached fleet from a shell.

Its dependencies (click, rich) are the optional extra ``memlease[cli]``: the library itself
must not need them, so they are imported only here, when the tool runs.
"""

from __future__ import annotations

import sys

MISSING_EXTRA_EXIT = 1


def main() -> None:
    """The console script (and ``python -m memlease``)."""
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError as error:
        sys.stderr.write(
            f"memlease: the command-line tool needs {error.name}: pip install 'memlease[cli]'\n"
        )
        raise SystemExit(MISSING_EXTRA_EXIT) from None
    from memlease.cli.app import cli

    cli(prog_name="memlease")
