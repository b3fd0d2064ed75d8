"""Refresh-ahead datasets (Farfetch's idea): a small, hot mapping held whole in memory, served
with no I/O, refreshed in the background every period, never evicted, and kept as it is when
the source fails.

Across processes, at most one loads per period; the others take its snapshot from memcached.
The snapshot key holds ``pickle((format, loaded_at, mapping))``; ``loaded_at`` is the wall
clock when its load started. A refresh (:func:`refresh_steps`):

1. reads the snapshot; if it is younger than the period, it is taken;
2. otherwise ``add``s a lock key (only one process can); the others keep their copy and look
   again shortly;
3. the winner reads the snapshot again (someone may have just stored one and released the
   lock), calls the loader, stores the snapshot and deletes the lock.

So successive loads start at least a period apart (by the ``loaded_at`` every process reads;
processes on different hosts rely on synchronised clocks). A loader that raises keeps the
lock until it expires, ``ceil(period) + 1`` seconds (memcached counts whole seconds, so a TTL
of n ends within n - 1 to n seconds): a source that is down is asked once per period in all,
not once per process. If memcached cannot be reached, each process loads by itself, still at
most once per period.

A snapshot over memcached's item size limit is not split: the store fails with
``ValueTooLarge``, recorded in ``last_error`` (the winner serves what it loaded; the others
keep their copy and load themselves as the lock expires, one process per period). A dataset
that large is not what this pattern is for.

``Dataset`` refreshes on a daemon thread with the sync ``Client``; ``AsyncDataset`` in a task
on the loop that called ``load()``, with the ``AsyncClient`` itself (a sync loader runs in a
worker thread, so the loop never blocks on the source). Both share the steps above.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from memlease._commands import Add, Delete, Get, Set
from memlease._consistency import CACHE_UNAVAILABLE
from memlease._errors import ClientError, InvalidArgument, ValueTooLarge
from memlease._steps import Load, Steps, run_async, run_sync

__all__ = ["AsyncDataset", "Dataset", "DatasetNotLoaded", "Snapshot"]

log = logging.getLogger("memlease.named")

SNAPSHOT_FORMAT = 1
# How often a process that lost the lock looks for the winner's snapshot (capped by period/4).
POLL_INTERVAL = 0.5
# How long load() waits for another process's first snapshot before loading by itself.
FIRST_LOAD_WAIT = 10.0


class DatasetNotLoaded(ClientError):
    """The dataset was read before :meth:`Dataset.load` finished."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A loaded copy: when its load started (wall clock) and the mapping."""

    loaded_at: float
    data: Mapping[Any, Any]


def encode(snapshot: Snapshot) -> bytes:
    return pickle.dumps(
        (SNAPSHOT_FORMAT, snapshot.loaded_at, dict(snapshot.data)), pickle.HIGHEST_PROTOCOL
    )


def decode(blob: Any) -> Snapshot | None:
    """The snapshot in `blob`, or None if it is absent or not one (logged)."""
    if blob is None:
        return None
    try:
        form, loaded_at, data = pickle.loads(blob)
        if form == SNAPSHOT_FORMAT and isinstance(data, dict):
            return Snapshot(float(loaded_at), MappingProxyType(data))
    except Exception:
        pass
    log.warning("dataset snapshot unreadable (another version wrote it?): ignored")
    return None


@dataclass(slots=True)
class Outcome:
    """What one refresh attempt came to. `snapshot`: the newest copy seen (loaded here or
    read), if any; `loaded`: this process called the loader and it returned; `busy`: another
    process holds the lock; `error`: the loader's or the store's failure, or the client's;
    `called`: the loader was called here (whether or not it returned)."""

    snapshot: Snapshot | None = None
    loaded: bool = False
    busy: bool = False
    error: BaseException | None = None
    called: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    key: str
    lock_key: str
    period: float
    lock_ttl: int
    loader: Callable[[], Any]


def refresh_steps(plan: _Plan, clock: Callable[[], float] = time.time) -> Steps[Outcome]:
    """One refresh attempt, as steps for either client (see the module docstring)."""
    try:
        current = decode((yield Get(plan.key)))
        if current is not None and clock() < current.loaded_at + plan.period:
            return Outcome(current)
        token = f"{os.getpid()}:{clock()}".encode()
        if not (yield Add(plan.lock_key, token, plan.lock_ttl)):
            return Outcome(current, busy=True)
        # Double check: a snapshot stored (and its lock deleted) since the first read is fresh.
        latest = decode((yield Get(plan.key)))
        if latest is not None and clock() < latest.loaded_at + plan.period:
            yield Delete(plan.lock_key)
            return Outcome(latest)
    except CACHE_UNAVAILABLE as error:
        log.warning("dataset %r: memcached unavailable (%s); loading without it", plan.key, error)
        return (yield from _load(plan, None, clock, shared=False))
    return (yield from _load(plan, latest or current, clock, shared=True))


def _load(
    plan: _Plan, previous: Snapshot | None, clock: Callable[[], float], *, shared: bool
) -> Steps[Outcome]:
    started = clock()
    try:
        data = yield Load(plan.loader)
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"the loader returned {type(data).__name__}, not a mapping")
    except Exception as error:
        return Outcome(previous, error=error, called=True)  # the lock stays: see above
    snapshot = Snapshot(started, MappingProxyType(dict(data)))
    if not shared:
        return Outcome(snapshot, loaded=True)
    try:
        yield Set(plan.key, encode(snapshot), 0)
        yield Delete(plan.lock_key)
    except ValueTooLarge as error:
        return Outcome(snapshot, loaded=True, error=error)
    except CACHE_UNAVAILABLE as error:
        log.warning("dataset %r: snapshot not stored (%s)", plan.key, error)
    return Outcome(snapshot, loaded=True)


class _DatasetBase:
    """What both datasets share: the copy in memory, read access, counts, and applying the
    outcome of a refresh."""

    def __init__(
        self, client: Any, key: str, loader: Callable[[], Any], refresh_every: float
    ) -> None:
        if not isinstance(refresh_every, (int, float)) or not 0 < refresh_every < math.inf:
            raise InvalidArgument(f"refresh_every must be a number > 0, got {refresh_every!r}")
        if not isinstance(key, str) or not key:
            raise InvalidArgument("a dataset needs a non-empty str key")
        self._client = client
        self._plan = _Plan(
            key, key + ":refresh-lock", float(refresh_every), math.ceil(refresh_every) + 1, loader
        )
        self._copy: Snapshot | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0  # after a failure here: not before (wall clock)
        self.last_error: str | None = None
        self._counts = dict.fromkeys(("refreshes", "failures", "snapshot_reads", "loads"), 0)

    # Reading: from memory, no I/O.

    @property
    def data(self) -> Mapping[Any, Any]:
        """The mapping being served (read-only)."""
        if self._copy is None:
            raise DatasetNotLoaded(f"dataset {self._plan.key!r} read before load() finished")
        return self._copy.data

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __contains__(self, key: Any) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    @property
    def last_refresh(self) -> float | None:
        """When the copy being served was loaded from the source (wall clock, ``time.time()``),
        by this process or the one whose snapshot it took; None before the first load."""
        return self._copy.loaded_at if self._copy is not None else None

    def stats(self) -> dict[str, Any]:
        """``refreshes``: successful loads in this process; ``snapshot_reads``: copies taken
        from another process's snapshot; ``failures``: refreshes that failed (the loader, the
        snapshot store, the client); ``loads``: loader calls here; ``entries``,
        ``last_refresh``, ``last_error``."""
        with self._lock:
            result: dict[str, Any] = dict(self._counts)
        result["entries"] = len(self._copy.data) if self._copy is not None else 0
        result["last_refresh"] = self.last_refresh
        result["last_error"] = self.last_error
        return result

    # Refreshing.

    def _apply(self, outcome: Outcome) -> None:
        """Install what a refresh brought, count it, report failures."""
        newer = outcome.snapshot is not None and (
            self._copy is None or outcome.snapshot.loaded_at > self._copy.loaded_at
        )
        with self._lock:
            if outcome.loaded or outcome.called:
                self._counts["loads"] += 1
            if outcome.loaded:
                self._counts["refreshes"] += 1
            elif newer:
                self._counts["snapshot_reads"] += 1
            if outcome.error is not None:
                self._counts["failures"] += 1
        if newer:
            self._copy = outcome.snapshot
        if outcome.error is not None:
            error = outcome.error
            self.last_error = f"{type(error).__name__}: {error}"
            self._retry_at = time.time() + self._plan.period
            keeping = "keeping the last good copy" if self._copy else "nothing to serve yet"
            log.warning("dataset %r refresh failed (%s): %s", self._plan.key, keeping, error)
        elif outcome.loaded:
            self.last_error = None

    def _delay(self, outcome: Outcome) -> float:
        """Seconds until the next attempt: the copy's expiry, or a short poll while another
        process is loading, or a period after a failure here."""
        period = self._plan.period
        now = time.time()
        if outcome.busy:
            return min(POLL_INTERVAL, period / 4)
        due = self._copy.loaded_at + period if self._copy is not None else now
        return max(due, self._retry_at) - now if max(due, self._retry_at) > now else 0.0

    def _first_copy_wait(self, outcome: Outcome, waited_since: float) -> float | None:
        """During load(): how long to wait before another attempt, or None to stop trying
        (a copy is here, or the loader failed with nothing to serve)."""
        if self._copy is not None:
            return None
        if outcome.busy and time.monotonic() - waited_since < FIRST_LOAD_WAIT:
            return min(POLL_INTERVAL, self._plan.period / 4)
        if outcome.busy:  # the lock holder never delivered: load here
            return -1.0
        if outcome.error is not None:
            raise outcome.error
        return None


class Dataset(_DatasetBase):
    """A dataset served from memory, refreshed on a daemon thread with the sync `client`.

    Call :meth:`load` once before reading (it blocks until a copy is here; if none can be
    had, it raises the loader's error). `loader()` returns the whole mapping.
    """

    def __init__(
        self, client: Any, key: str, loader: Callable[[], Any], *, refresh_every: float
    ) -> None:
        super().__init__(client, key, loader, refresh_every)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> Dataset:
        """Get a first copy (a fresh snapshot, or load one), then start refreshing."""
        since = time.monotonic()
        while self._copy is None:
            outcome = run_sync(self._client, refresh_steps(self._plan))
            self._apply(outcome)
            wait = self._first_copy_wait(outcome, since)
            if wait is None:
                break
            if wait < 0:
                self._apply(run_sync(self._client, _load(self._plan, None, time.time, shared=True)))
                continue
            time.sleep(wait)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"memlease-dataset-{self._plan.key}", daemon=True
            )
            self._thread.start()
        return self

    def refresh_now(self) -> None:
        """One refresh attempt now, on this thread (for tests and admin endpoints)."""
        self._apply(run_sync(self._client, refresh_steps(self._plan)))

    def close(self) -> None:
        """Stop refreshing (the copy stays readable)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        outcome = Outcome()
        while not self._stop.wait(self._delay(outcome)):
            try:
                outcome = run_sync(self._client, refresh_steps(self._plan))
            except Exception as error:  # a client error outside the steps' handling
                outcome = Outcome(error=error)
            self._apply(outcome)


class AsyncDataset(_DatasetBase):
    """:class:`Dataset` for an ``AsyncClient``: ``await ds.load()`` on the loop that will
    serve it; refreshes run as a task on that loop; ``await ds.aclose()`` stops them. An
    ``async def`` loader is awaited; a plain one runs in a worker thread."""

    def __init__(
        self, client: Any, key: str, loader: Callable[[], Any], *, refresh_every: float
    ) -> None:
        def in_thread() -> Any:
            return asyncio.to_thread(loader)

        super().__init__(
            client, key, loader if inspect.iscoroutinefunction(loader) else in_thread, refresh_every
        )
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> AsyncDataset:
        """Get a first copy, then start refreshing in a task on the running loop."""
        since = time.monotonic()
        while self._copy is None:
            outcome = await run_async(self._client, refresh_steps(self._plan))
            self._apply(outcome)
            wait = self._first_copy_wait(outcome, since)
            if wait is None:
                break
            if wait < 0:
                steps = _load(self._plan, None, time.time, shared=True)
                self._apply(await run_async(self._client, steps))
                continue
            await asyncio.sleep(wait)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def refresh_now(self) -> None:
        """One refresh attempt now."""
        self._apply(await run_async(self._client, refresh_steps(self._plan)))

    async def aclose(self) -> None:
        """Stop refreshing (the copy stays readable)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        outcome = Outcome()
        while True:
            await asyncio.sleep(self._delay(outcome))
            try:
                outcome = await run_async(self._client, refresh_steps(self._plan))
            except Exception as error:
                outcome = Outcome(error=error)
            self._apply(outcome)
