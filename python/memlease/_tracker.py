"""Invalidations that failed, kept until they can be replayed.

A lost invalidation leaves an old value in the cache until its TTL runs out. The tracker
records the key when an invalidation fails (server down, timeout, broken connection), replays
it in a background thread with exponential backoff until it succeeds, and meanwhile tells this
process's read-through paths to bypass the cache for that key. It is bounded and deduplicated;
whatever it has to drop (overflow) or still holds at ``close()`` is counted and reported
through the ``on_event`` hook, never dropped silently.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from memlease._errors import InvalidArgument

log = logging.getLogger("memlease")

Replay = Callable[[Any, "int | None"], object]
"""Re-send one invalidation: ``replay(key, stale_ttl)``; raises if it fails again."""

Spot = tuple[Hashable, Hashable]
"""Where an invalidation goes: ``(cache, location)``. The cache is the placement identity of the
clients that may replay it (their servers and how keys are spread over them); the location is
the server and wire key the item lives under, so every spelling of a key (``"k"``, ``b"k"``,
``("k", "k")``) is one spot."""


@dataclass
class _Pending:
    key: Any
    stale_ttl: int | None
    replay: Replay
    attempts: int
    due: float
    last_error: str
    generation: int  # the tracker's record count when this failure was (last) recorded


class WriteFailureTracker:
    """Failed invalidations, replayed in the background until they succeed.

    ``capacity`` bounds the keys held (default 10,000); beyond it the oldest is dropped and
    reported (``"overflow"``). Replays start ``retry_interval`` seconds after the failure and
    back off exponentially up to ``max_backoff``. ``on_event(event, key, detail)`` is called
    with ``"recorded"``, ``"replayed"``, ``"overflow"`` and ``"pending_at_close"`` (from
    ``close()``, or for a failure recorded after it: no replay will come); it runs on the
    thread that caused the event and must not block. ``close()`` replays once more, blocking:
    from a coroutine, call it as ``await asyncio.to_thread(tracker.close)``.
    One tracker may serve several clients; clients that place keys alike (the same servers,
    listed in any order where placement does not depend on it) share its entries: what one
    failed to invalidate, the others' read-through paths bypass too, under any spelling of the
    key, and any open one replays, so a client's failures outlive its ``close()``.
    """

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        on_event: Callable[[str, Any, str], object] | None = None,
        retry_interval: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        if capacity < 1:
            raise InvalidArgument("capacity must be at least 1")
        if not (retry_interval > 0 and max_backoff >= retry_interval):
            raise InvalidArgument("retry_interval must be > 0 and max_backoff >= retry_interval")
        self.capacity = capacity
        self.retry_interval = retry_interval
        self.max_backoff = max_backoff
        self._on_event = on_event
        # Keyed by spot: every client of the same cache sees (and may resolve) the same pending
        # items, however each spells their keys.
        self._entries: OrderedDict[Spot, _Pending] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._counts = {"recorded": 0, "replayed": 0, "replay_failures": 0, "overflowed": 0}
        self._generation = 0
        # The replay functions of the open clients, per cache: an entry is replayed through
        # any of them, so a closed client's failures are not left with a dead replay. Weak, so
        # a client dropped without close() is not kept alive (with its connections) by this.
        self._replayers: dict[Hashable, list[weakref.WeakMethod[Replay]]] = {}
        _live_trackers.add(self)

    def _after_fork_in_child(self) -> None:
        """The parent's replay thread does not exist here, and its lock may have been held
        at the fork: start over with fresh ones (pending entries are kept)."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread = None

    # Clients

    def attach(self, cache: Hashable, replay: Replay) -> None:
        """An open client of `cache` offers `replay` for any of the cache's pending keys."""
        with self._lock:
            self._replayers.setdefault(cache, []).append(weakref.WeakMethod(replay))

    def detach(self, cache: Hashable, replay: Replay) -> None:
        """The client that offered `replay` closed. If it was the cache's last one, what is
        still pending there waits for a new client and is reported (``"pending_at_close"``)."""
        with self._lock:
            live = self._replayers[cache] = [
                ref for ref in self._replayers.get(cache, []) if ref() not in (None, replay)
            ]
            stranded = [] if live else [e for (c, _), e in self._entries.items() if c == cache]
        for entry in stranded:
            log.error("memlease: invalidation of %r pending, no open client", entry.key)
            self._emit("pending_at_close", entry.key, entry.last_error)

    # Recording

    def record(
        self, spot: Spot, key: Any, stale_ttl: int | None, replay: Replay, error: BaseException
    ) -> None:
        """An invalidation of `key`, which goes to `spot`, failed with `error`."""
        dropped: _Pending | None = None
        with self._lock:
            self._generation += 1
            entry = self._entries.get(spot)
            if entry is not None:
                # Already pending: one more failed attempt. A delete covers a stale mark; the
                # latest replay function is the live one.
                if entry.stale_ttl is not None and stale_ttl is not None:
                    entry.stale_ttl = max(entry.stale_ttl, stale_ttl)
                else:
                    entry.stale_ttl = None
                entry.replay = replay
                entry.last_error = str(error)
                entry.generation = self._generation
                self._counts["replay_failures"] += 1
                return
            self._entries[spot] = _Pending(
                key,
                stale_ttl,
                replay,
                0,
                time.monotonic() + self.retry_interval,
                str(error),
                self._generation,
            )
            if len(self._entries) > self.capacity:
                _, dropped = self._entries.popitem(last=False)
                self._counts["overflowed"] += 1
            self._counts["recorded"] += 1
            closed = self._closed
            if not closed:
                self._ensure_thread()
                self._wake.notify()
        self._emit("recorded", key, str(error))
        if closed:
            # No replay will come (a task cancelled after its client closed, say): say so.
            log.error("memlease: invalidation of %r failed after the tracker closed", key)
            self._emit("pending_at_close", key, str(error))
        if dropped is not None:
            log.error("memlease: invalidation of %r lost (tracker full)", dropped.key)
            self._emit("overflow", dropped.key, dropped.last_error)

    def generation(self) -> int:
        """A mark to pass to :meth:`resolved`: take it before sending an invalidation."""
        return self._generation

    def resolved(self, spot: Spot, since: int) -> None:
        """An invalidation that goes to `spot`, sent after :meth:`generation` returned `since`,
        succeeded: it covers the failures recorded up to then, not a later one (which may
        belong to a later write)."""
        if spot not in self._entries:
            return  # the common case, without the lock (a failure recorded now is newer anyway)
        with self._lock:
            entry = self._entries.get(spot)
            if entry is None or entry.generation > since:
                return
            del self._entries[spot]
            self._counts["replayed"] += 1
        self._emit("replayed", entry.key, "")

    # Reading

    def has_pending(self) -> bool:
        """Whether anything is pending (without the lock: a hint for skipping lookups, as a
        failure recorded just after is newer than the caller's operation anyway)."""
        return bool(self._entries)

    def is_pending(self, spot: Spot) -> bool:
        return spot in self._entries

    def pending_stale_ttl(self, spot: Spot) -> int | None:
        entry = self._entries.get(spot)
        return entry.stale_ttl if entry is not None else None

    def pending(self) -> list[Any]:
        """The keys still waiting for their invalidation, oldest first."""
        with self._lock:
            return [entry.key for entry in self._entries.values()]

    def stats(self) -> dict[str, int]:
        """``recorded`` (keys that became pending), ``replayed``, ``replay_failures`` (failed
        attempts, in the background or inline), ``overflowed`` and ``pending``."""
        with self._lock:
            return {**self._counts, "pending": len(self._entries)}

    # Replaying

    def replay_due(self, now: float | None = None) -> int:
        """Replay every invalidation that is due; returns how many succeeded. The background
        thread calls this; tests and shutdown paths may too."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [
                (spot, e, e.generation, self._replay_for(spot[0], e))
                for spot, e in self._entries.items()
                if e.due <= now
            ]
        done = 0
        for spot, entry, generation, replay in due:
            try:
                replay(entry.key, entry.stale_ttl)
            except Exception as error:
                with self._lock:
                    entry.attempts += 1
                    backoff = self.retry_interval * (2 ** min(entry.attempts, 30))
                    entry.due = time.monotonic() + min(backoff, self.max_backoff)
                    entry.last_error = str(error)
                    self._counts["replay_failures"] += 1
                continue
            with self._lock:
                # Only if no newer failure was recorded while this replay was in flight.
                removed = self._entries.get(spot) is entry and entry.generation == generation
                if removed:
                    del self._entries[spot]
                    self._counts["replayed"] += 1
                    done += 1
            if removed:
                self._emit("replayed", entry.key, f"after {entry.attempts + 1} attempt(s)")
        return done

    def _replay_for(self, cache: Hashable, entry: _Pending) -> Replay:
        """An open client's replay for `cache`, else the one the failure was recorded with."""
        for ref in reversed(self._replayers.get(cache, [])):
            replay = ref()
            if replay is not None:
                return replay
        return entry.replay

    def close(self, timeout: float = 1.0) -> list[Any]:
        """Stop the background replay after one last attempt (bounded by `timeout`); returns
        the keys still pending, each also reported as ``"pending_at_close"``."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.replay_due(now=float("inf"))
        with self._lock:
            left = [(entry.key, entry.last_error) for entry in self._entries.values()]
        for key, error in left:
            log.error("memlease: invalidation of %r still pending at close: %s", key, error)
            self._emit("pending_at_close", key, error)
        return [key for key, _ in left]

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="memlease-write-failures", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                if not self._entries:
                    self._wake.wait()
                    continue
                wait = min(e.due for e in self._entries.values()) - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
            self.replay_due()

    def _emit(self, event: str, key: Any, detail: str) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event, key, detail)
        except Exception:
            log.exception("memlease: write-failure hook raised")


_live_trackers: weakref.WeakSet[WriteFailureTracker] = weakref.WeakSet()


def _reset_trackers_in_child() -> None:
    for tracker in list(_live_trackers):
        tracker._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_trackers_in_child)
