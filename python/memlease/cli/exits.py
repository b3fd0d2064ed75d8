"""Exit codes, and the one-line message each memlease error becomes (never a traceback)."""

from __future__ import annotations

from enum import IntEnum

from memlease._errors import (
    ClientError,
    MemcacheConnectionError,
    MemcacheError,
    MemcacheTimeout,
)


class Exit(IntEnum):
    OK = 0
    NOT_FOUND = 1  # get / delete / touch of a missing key; set not stored
    USAGE = 2  # bad arguments (click's own code for usage errors)
    UNREACHABLE = 3  # a server refused or dropped the connection, or is marked down
    TIMEOUT = 4  # a connect, read or pool deadline passed
    SERVER_ERROR = 5  # the server answered with an error or out of protocol
    INTERRUPTED = 130  # Ctrl-C (as a shell reports SIGINT)


EPILOG = (
    "Exit codes: 0 ok; 1 key not found (get, delete, touch) or not stored; 2 bad arguments;"
    " 3 server unreachable; 4 timeout; 5 server error; 130 interrupted (watch exits 0)."
)


def exit_code(error: MemcacheError) -> Exit:
    """The exit code of a memlease error: the caller's fault, the network's, or the server's."""
    if isinstance(error, MemcacheTimeout):
        return Exit.TIMEOUT
    if isinstance(error, MemcacheConnectionError):
        return Exit.UNREACHABLE
    if isinstance(error, ClientError):
        return Exit.USAGE
    return Exit.SERVER_ERROR


def describe(error: BaseException) -> str:
    """The error as one line: its class and its first line of text."""
    text = str(error).strip().splitlines()
    detail = f": {text[0]}" if text else ""
    return f"{type(error).__name__}{detail}"


def one_line(error: BaseException) -> str:
    """The message the tool prints on stderr for an error."""
    return f"memlease: {describe(error)}"
