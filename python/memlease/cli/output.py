"""Printing: rich tables for people, JSON for scripts, and values shown safely."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

# Tables piped to a file or another program are not squeezed into rich's default 80 columns.
PIPED_WIDTH = 160


def _console(to_stderr: bool) -> Console:
    # Made per use, not at import: the streams are looked up when printing (tests swap them).
    # highlight=False and emoji=False: rich would otherwise colour numbers and quotes inside
    # values, and turn ":smile:" in one into an emoji.
    stream = sys.stderr if to_stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(file=stream, highlight=False, emoji=False, soft_wrap=True, width=width)


def out() -> Console:
    """Data: stdout (so `memlease get k --raw > file` keeps only the value)."""
    return _console(to_stderr=False)


def err() -> Console:
    """Messages: stderr."""
    return _console(to_stderr=True)


PREVIEW_BYTES = 64
# Longer text is cut: a terminal is no place for a megabyte value (`--raw` writes it whole).
TEXT_LIMIT = 2000

# The client flags of memlease's default layout (pymemcache's pickle_serde; src/py/serde.rs).
_FLAG_NAMES = {1: "pickled", 2: "int", 4: "long", 8: "zlib-compressed", 16: "text"}
_COMPUTE_TIME_FLAG = 1 << 29


def emit_json(data: Any) -> None:
    """One JSON document on stdout (plain print: rich would wrap or colour it)."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def describe_flags(flags: int | None) -> str:
    """What memlease's default layout means by these client flags ("bytes" for 0)."""
    if flags is None:
        return "-"
    if flags == 0:
        return "bytes"
    names = [name for bit, name in _FLAG_NAMES.items() if flags & bit]
    if flags & _COMPUTE_TIME_FLAG:
        names.append("compute-time")
    known = sum(_FLAG_NAMES) | _COMPUTE_TIME_FLAG
    if flags & ~known:
        names.append(f"other:{flags & ~known:#x}")
    return "+".join(names)


def is_printable_text(data: bytes) -> bool:
    """UTF-8 text without control characters (newlines and tabs allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\t" for ch in text)


def preview(value: Any) -> str:
    """A value as it is safe to print on a terminal: printable text as is, anything else as a
    truncated repr with its length (a stored value may hold escape sequences or megabytes)."""
    if isinstance(value, bytes):
        if is_printable_text(value):
            return _cut(value.decode("utf-8"), len(value))
        shown = repr(value[:PREVIEW_BYTES])
        more = "..." if len(value) > PREVIEW_BYTES else ""
        return f"{shown}{more} ({len(value)} bytes)"
    if isinstance(value, str):
        if all(ch.isprintable() or ch in "\n\t" for ch in value):
            return _cut(value, len(value.encode("utf-8")))
        return _cut(repr(value), len(value.encode("utf-8")))
    return _cut(repr(value), None)


def _cut(text: str, size: int | None) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    total = f"{size} bytes; " if size is not None else ""
    return f"{text[:TEXT_LIMIT]}... ({total}--raw writes it all)"


def json_value(value: Any) -> dict[str, Any]:
    """A value for JSON output: text as a string, other bytes as hex, objects as their repr."""
    if isinstance(value, bytes):
        try:
            return {"text": value.decode("utf-8"), "length": len(value)}
        except UnicodeDecodeError:
            return {"hex": value.hex(), "length": len(value)}
    if isinstance(value, str | int | float | bool) or value is None:
        return {"value": value}
    return {"repr": repr(value)}


def json_option(command: Any) -> Any:
    """``--json`` on a command (the group's ``--json`` before the command name works too)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"
