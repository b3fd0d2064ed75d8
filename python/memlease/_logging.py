"""The Python side of the core's logging: Rust ``tracing`` events reach :mod:`logging` under the
``memlease`` logger (a child logger per Rust module, e.g. ``memlease.route.health``).

Levels:

- WARNING: a server marked down, or still down after its probe failed; too many missed
  writes (the server will be flushed before it is read again).
- INFO: a server rejoined.
- ERROR: a protocol violation (the server sent something that is not a valid reply; the
  connection is discarded).
- DEBUG: a connection closed after a failed exchange, or replaced because the server closed it.

Each record carries the event's fields as attributes (``record.server``, ``record.error``) and
in its message. Records are built on a background thread of the core (``memlease-log``), so
``threadName`` is the thread the event came from when it has a name (``memlease-io`` for the
asyncio client's I/O), and ``created`` is when it happened.

The core filters events without Python: it caches each logger's level and formats nothing for
a disabled level. The cache is refreshed whenever :mod:`logging` changes a level
(``setLevel``, ``logging.disable``, ``dictConfig``, ``basicConfig``: they all clear logging's
own level cache, which is hooked here), and after each delivered batch. Assigning
``Logger.level`` directly bypasses that hook: the new level applies from the next ``setLevel``
anywhere or the next delivered record.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from memlease import _core

ROOT_LOGGER = "memlease"
# A library's loggers get a NullHandler and nothing else (the logging HOWTO's rule): an
# application that configured no logging is not handed our WARNINGs on stderr through
# logging's last-resort handler (the `memlease` tool's one-line errors would get a second).
logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())
# The levels the core emits (5 stands for tracing's TRACE) and CRITICAL above them.
_PROBED_LEVELS = (5, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
NOTHING = 255
# LogRecord attributes a field must not overwrite (it is then set as ``field_<name>``).
_RESERVED = frozenset(("message", "asctime"))


def _threshold(logger: logging.Logger) -> int:
    """The lowest level ``logger`` lets through, or NOTHING."""
    if logger.disabled:
        return NOTHING
    return next((level for level in _PROBED_LEVELS if logger.isEnabledFor(level)), NOTHING)


def _thresholds(names: Sequence[str]) -> tuple[list[int], int, int]:
    """Thresholds of the core's loggers, of ``memlease``, and the lowest of the whole tree
    (including loggers configured for modules whose events were not seen yet)."""
    per_name = [_threshold(logging.getLogger(name)) for name in names]
    root = _threshold(logging.getLogger(ROOT_LOGGER))
    descendants = [
        _threshold(logger)
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.startswith(ROOT_LOGGER + ".") and isinstance(logger, logging.Logger)
    ]
    return per_name, root, min([root, *per_name, *descendants])


def _emit(
    name: str,
    level: int,
    message: str,
    fields: Mapping[str, Any],
    pathname: str,
    lineno: int,
    func: str | None,
    created: float,
    thread_name: str | None,
) -> None:
    """Build and handle one record (called by the core's logging thread)."""
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(name, level, pathname, lineno, message, (), None, func)
    for field, value in fields.items():
        taken = field in _RESERVED or field in record.__dict__
        setattr(record, f"field_{field}" if taken else field, value)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    # relativeCreated is measured from logging's load time, kept in a private attribute.
    started: float = getattr(logging, "_startTime", created)
    record.relativeCreated = (created - started) * 1000
    if thread_name:
        record.threadName = thread_name
    logger.handle(record)


def _deliver(*args: Any) -> None:
    # Looked up on each call, so a test can observe what the core hands over.
    _emit(*args)


def _hook_level_changes() -> None:
    """Refresh the core's cached levels whenever logging clears its own level cache."""
    manager = logging.Logger.manager
    # A private hook of logging (CPython 3.7+), hence getattr: every level change calls it.
    original: Callable[[], None] = getattr(manager, "_clear_cache")  # noqa: B009
    if getattr(original, "_memlease_hook", False):
        return

    def clear_cache() -> None:
        original()
        _core._refresh_log_levels()

    clear_cache._memlease_hook = True  # type: ignore[attr-defined]
    setattr(manager, "_clear_cache", clear_cache)  # noqa: B010


def flush(timeout: float = 5.0) -> bool:
    """Wait until the records the core queued were handled; False on timeout."""
    return _core._flush_logs(timeout)


def install() -> None:
    _core._install_logging(_deliver, _thresholds)
    _hook_level_changes()
    # Runs before logging's own atexit shutdown (registered earlier, so run later).
    atexit.register(_core._stop_logging)


install()
