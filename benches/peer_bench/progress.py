"""Progress goes to stderr, so that stdout holds only the report."""

import sys


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
