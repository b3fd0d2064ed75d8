"""The public clients: the Rust classes plus the consistency layer (leases, read-through,
tracked invalidation), which is Python because loaders and wait functions are."""

from __future__ import annotations

import asyncio
import inspect
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, overload

from memlease import _consistency as c
from memlease import _core, _options
from memlease._consistency import (
    DEFAULT_LEASE,
    Counters,
    LeasePolicy,
    ReadThroughPolicy,
    RecachePolicy,
    StalePolicy,
)
from memlease._core import LeaseResult
from memlease._errors import InvalidArgument, MemcacheConnectionError, MemcacheError, ServerError
from memlease._read_through import ComputeRead, LeaseRead, read_through_async, read_through_sync
from memlease._steps import CoreInvalidate, DeleteManyReporting, Steps, run_async, run_sync
from memlease._tracker import Spot, WriteFailureTracker

if TYPE_CHECKING:
    from typing_extensions import Self


def _fill_arguments(
    target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``fill(lease_result, value, ttl=0, *, compute_time=None)`` as the core's
    ``fill(key, value, cas, ttl, *, compute_time=None)``; other calls pass through."""
    if not isinstance(target, LeaseResult):
        return (target, *args), kwargs

    def unpack(value: Any, ttl: int = 0, *, compute_time: float | None = None) -> Any:
        return value, ttl, compute_time

    value, ttl, compute_time = unpack(*args, **kwargs)
    if not target.won or target.key is None or target.cas is None:
        # A loser (or a hit) filling first would refuse the winner's fill: one computation
        # per lease is the point. fill(key, value, cas, ttl) remains for deliberate cases.
        raise InvalidArgument("fill(result, ...) needs the LeaseResult that won the lease")
    return (target.key, value, target.cas, ttl), {"compute_time": compute_time}


def _maybe_lost(error: BaseException) -> bool:
    """Whether an invalidation that raised `error` may not have happened: the server was
    unreachable or failed, or the call was cancelled or interrupted midway."""
    return isinstance(error, (MemcacheConnectionError, ServerError)) or not isinstance(
        error, Exception
    )


class _ConsistencyState:
    """What both clients keep beside the Rust core: the write-failure tracker, the
    read-through counters, and which cache they talk to (the placement identity: clients that
    send every key to the same servers share the tracker's entries)."""

    _tracker: WriteFailureTracker
    _owns_tracker: bool
    _counters: Counters
    _cache_id: str
    _placement_identity: str  # the Rust base class's
    _wire_location: Callable[[Any], tuple[str, bytes, bool]]  # the Rust base class's
    # AsyncRepository writes whose caller was cancelled, still running to their end.
    _orphans: set[asyncio.Future[Any]]
    servers: list[str]  # the Rust base class's
    # Each client's own: re-send one invalidation, blocking (on the tracker's thread).
    _replay: Callable[[Any, int | None], None]

    def __new__(
        cls,
        servers: Any = None,
        *,
        write_failures: WriteFailureTracker | None = None,
        **options: Any,
    ) -> Self:
        self = super().__new__(cls, servers, **options)  # type: ignore[call-arg]
        self._owns_tracker = write_failures is None
        self._tracker = write_failures if write_failures is not None else WriteFailureTracker()
        self._counters = Counters()
        self._cache_id = self._placement_identity
        self._orphans = set()
        self._tracker.attach(self._cache_id, self._replay)
        return self

    @property
    def write_failures(self) -> WriteFailureTracker:
        """The failed invalidations waiting for replay."""
        return self._tracker

    def read_through_stats(self) -> dict[str, int]:
        """Counters of ``get_or_lease`` / ``get_or_compute``: hits, misses, stale values
        served, leases won, waits, loader calls, fills and refused fills, cache errors."""
        return self._counters.snapshot()

    def _spot(self, key: Any) -> Spot:
        """Where invalidations of `key` go, as the tracker knows them: the same for every
        spelling of the key, and for every client of the same cache."""
        return (self._cache_id, self._wire_location(key))

    def _invalidation_pending(self, key: Any) -> bool:
        """Whether an invalidation of `key` failed here and awaits replay: what the cache
        holds for it may be old."""
        return self._tracker.has_pending() and self._tracker.is_pending(self._spot(key))

    def _record_lost(
        self, keys: Iterable[Any], stale_ttl: int | None, error: BaseException
    ) -> None:
        """Invalidations of `keys` that will not be sent now (the caller was cancelled or
        interrupted): the tracker replays them."""
        for key in keys:
            try:
                spot = self._spot(key)
            except MemcacheError:
                continue  # not a valid key: nothing was, or could be, sent for it
            self._tracker.record(spot, key, stale_ttl, self._replay, error)

    def _resolved(self, key: Any, since: int) -> None:
        """An invalidation of `key` sent after `since` succeeded (see the tracker's method)."""
        if self._tracker.has_pending():
            self._tracker.resolved(self._spot(key), since)

    def _invalidation_failed(
        self, key: Any, stale_ttl: int | None, cas: int | None, error: BaseException
    ) -> None:
        # A conditional invalidation is the caller's to retry: its CAS goes stale anyway.
        if cas is None and _maybe_lost(error):
            self._record_lost([key], stale_ttl, error)

    def _settle_many(self, keys: list[Any], unreached: list[Any], since: int) -> None:
        """A batch of deletes came back: the keys it could not reach are tracked (and raised
        about, like a failed :meth:`invalidate`); the rest resolve what was pending."""
        missed = set(unreached)
        for key in keys:
            if key not in missed:
                self._resolved(key, since)
        if unreached:
            error = MemcacheConnectionError(
                f"{len(unreached)} of {len(keys)} keys not invalidated (their server could not"
                f" be reached); tracked for replay: {unreached[:5]!r}"
            )
            self._record_lost(unreached, None, error)
            raise error

    # What both clients' consistency methods do, as steps and calls for the drivers.

    def _invalidate_steps(self, key: Any, stale_ttl: int | None, cas: int | None) -> Steps[bool]:
        """The core's invalidation, tracked: a failed unconditional one is recorded for
        replay (then raised); a success resolves what was pending before it was sent."""
        since = self._tracker.generation()
        try:
            existed: bool = yield CoreInvalidate(key, stale_ttl, cas)
        except BaseException as error:
            self._invalidation_failed(key, stale_ttl, cas, error)
            raise
        if cas is None:
            self._resolved(key, since)
        return existed

    def _invalidate_many_steps(self, keys: Iterable[Any], stale_ttl: int | None) -> Steps[int]:
        keys = list(keys)
        if stale_ttl is not None:
            return (yield from c.invalidate_each(keys, stale_ttl, self._record_lost))
        since = self._tracker.generation()
        try:
            deleted, unreached = yield DeleteManyReporting(keys)
        except BaseException as error:
            if _maybe_lost(error):
                self._record_lost(keys, None, error)
            raise
        self._settle_many(keys, unreached, since)
        return int(deleted)


class Client(_ConsistencyState, _core.Client):
    """A memcached client for one or more servers; thread-safe, share one per process."""

    def get_or_lease(
        self,
        key: Any,
        *,
        lease: LeasePolicy = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
    ) -> LeaseResult:
        """The value (``found``), or the lease to compute it (``won``: compute, then
        ``fill(key, value, result.cas, ttl)``), or, after waiting for another caller's lease
        as `lease` says, neither. A lease placeholder is never a value."""
        return read_through_sync(self, LeaseRead(key, lease, recache, stale))

    def get_or_compute(
        self,
        key: Any,
        loader: Callable[[], Any],
        ttl: int,
        *,
        lease: LeasePolicy | None = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
        beta: float | None = None,
        none_ttl: int | None = None,
    ) -> Any:
        """Read-through: the cached value, or ``loader()``'s, stored for `ttl` seconds.

        Concurrent callers of a missing key run the loader once (the lease winner); the rest
        wait for its value. A write or invalidation during the computation wins: the stale
        value is not stored. ``lease=None`` turns leases off. ``recache``: refresh early when
        the TTL runs low; ``stale``: accept values invalidated by marking them stale; ``beta``:
        probabilistic early expiry (XFetch; 1.0 is the paper's default; a finite number >= 0,
        else ``InvalidArgument``). A ``None`` from the loader is not cached unless ``none_ttl``
        is given. If memcached is unreachable, the loader's value is returned uncached.
        """
        policy = ReadThroughPolicy(ttl, lease, recache, stale, beta, none_ttl)
        return read_through_sync(self, ComputeRead(key, loader, policy))

    @overload
    def fill(
        self, key: LeaseResult, value: Any, ttl: int = 0, *, compute_time: float | None = None
    ) -> bool: ...
    @overload
    def fill(
        self,
        key: Any,
        value: Any,
        cas: int | None = None,
        ttl: int = 0,
        *,
        compute_time: float | None = None,
    ) -> bool: ...
    def fill(self, key: Any, *args: Any, **kwargs: Any) -> bool:
        """Store a computed value: ``fill(result, value, ttl)`` with the ``LeaseResult`` that
        won (stored only if the key's CAS is still the lease's), or ``fill(key, value, cas,
        ttl)``. False if the key changed meanwhile (the stale value is refused)."""
        args, kwargs = _fill_arguments(key, args, kwargs)
        return super().fill(*args, **kwargs)

    def invalidate_many(self, keys: Iterable[Any], *, stale_ttl: int | None = None) -> int:
        """:meth:`invalidate` every key; how many existed. Deletes go in one batch per server.
        Keys whose invalidation may not have happened are recorded for replay, then
        ``MemcacheConnectionError`` is raised."""
        return run_sync(self, self._invalidate_many_steps(keys, stale_ttl))

    def invalidate(self, key: Any, *, stale_ttl: int | None = None, cas: int | None = None) -> bool:
        """Delete `key`, or with `stale_ttl` mark it stale (see the core method). A failed
        unconditional invalidation is recorded in ``write_failures`` for replay, then raised."""
        return run_sync(self, self._invalidate_steps(key, stale_ttl, cas))

    def _core_invalidate(self, key: Any, stale_ttl: int | None, cas: int | None) -> bool:
        return super().invalidate(key, stale_ttl=stale_ttl, cas=cas)

    def _replay(self, key: Any, stale_ttl: int | None) -> None:
        self._core_invalidate(key, stale_ttl, None)

    def close(self) -> list[Any]:  # type: ignore[override]
        """Close all connections; stop the write-failure replay (if the tracker is this
        client's own) and return the keys whose invalidation is still pending."""
        pending = self._tracker.close() if self._owns_tracker else []
        self._tracker.detach(self._cache_id, self._replay)
        super().close()
        return pending

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_ConsistencyState, _core.AsyncClient):
    """An asyncio memcached client; every method is awaitable (see :class:`Client` for the
    consistency methods, which behave the same with async loaders and ``asyncio.sleep``).

    The core methods (``get``, ``set``, ...) start their request when called; the consistency
    methods (``get_or_lease``, ``get_or_compute``, ``fill``, ``invalidate``,
    ``invalidate_many``) are coroutines and do nothing until awaited."""

    async def get_or_lease(
        self,
        key: Any,
        *,
        lease: LeasePolicy = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
    ) -> LeaseResult:
        return await read_through_async(self, LeaseRead(key, lease, recache, stale))

    async def get_or_compute(
        self,
        key: Any,
        loader: Callable[[], Any],
        ttl: int,
        *,
        lease: LeasePolicy | None = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
        beta: float | None = None,
        none_ttl: int | None = None,
    ) -> Any:
        policy = ReadThroughPolicy(ttl, lease, recache, stale, beta, none_ttl)
        return await read_through_async(self, ComputeRead(key, loader, policy))

    @overload  # type: ignore[override]
    async def fill(
        self, key: LeaseResult, value: Any, ttl: int = 0, *, compute_time: float | None = None
    ) -> bool: ...
    @overload
    async def fill(
        self,
        key: Any,
        value: Any,
        cas: int | None = None,
        ttl: int = 0,
        *,
        compute_time: float | None = None,
    ) -> bool: ...
    async def fill(self, key: Any, *args: Any, **kwargs: Any) -> bool:
        args, kwargs = _fill_arguments(key, args, kwargs)
        stored: bool = await super().fill(*args, **kwargs)
        return stored

    async def invalidate_many(self, keys: Iterable[Any], *, stale_ttl: int | None = None) -> int:
        return await run_async(self, self._invalidate_many_steps(keys, stale_ttl))

    async def invalidate(  # type: ignore[override]
        self, key: Any, *, stale_ttl: int | None = None, cas: int | None = None
    ) -> bool:
        return await run_async(self, self._invalidate_steps(key, stale_ttl, cas))

    def _core_invalidate(
        self, key: Any, stale_ttl: int | None, cas: int | None
    ) -> asyncio.Future[bool]:
        return super().invalidate(key, stale_ttl=stale_ttl, cas=cas)

    def _replay(self, key: Any, stale_ttl: int | None) -> None:
        """Replays run on the tracker's thread, on an event loop of their own: the loop the
        failure happened on may be busy, blocked on this very replay, or closed by now."""
        _run_on_private_loop(lambda: self._core_invalidate(key, stale_ttl, None))

    async def close(self) -> list[Any]:  # type: ignore[override]
        """Wait (up to 10 s) for repository writes whose callers were cancelled, then close as
        :meth:`Client.close` does."""
        if self._orphans:
            await asyncio.wait(list(self._orphans), timeout=10.0)
        pending = await asyncio.to_thread(self._tracker.close) if self._owns_tracker else []
        self._tracker.detach(self._cache_id, self._replay)
        await super().close()
        return pending

    def __del__(self) -> None:
        # Collected without close(): the core lets its connections go by itself (once the
        # operations still running are delivered); the warning points at the missing close(),
        # as asyncio's own transports do.
        if any(s["open"] or s["multiplexed"] for s in self.pool_stats().values()):
            warnings.warn(
                f"unclosed memlease.AsyncClient of {self.servers}: its connections are"
                " released now; close it with `await client.close()` or `async with`",
                ResourceWarning,
                stacklevel=1,  # called by the collector: no caller to point at
                source=self,
            )

    async def __aenter__(self) -> AsyncClient:  # type: ignore[override]
        return self

    async def __aexit__(self, *exc_info: object) -> None:  # type: ignore[override]
        await self.close()


def _run_on_private_loop(make: Callable[[], Awaitable[Any]]) -> None:
    """Await ``make()`` on a fresh event loop: here if this thread runs no loop, otherwise
    (``close()`` of a shared tracker called from a coroutine) on a helper thread."""

    async def run() -> None:
        await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run())
        return
    failure: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=in_thread, name="memlease-replay")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


# One signature and one option list for both classes, from the core's declaration and the
# meanings in `_options` (so `help()` shows every option, not `**options`).
for _cls in (Client, AsyncClient):
    setattr(_cls, "__signature__", _options.public_signature())  # noqa: B010 (no such attribute to type)
    _cls.__doc__ = inspect.cleandoc(_cls.__doc__ or "") + "\n\n" + _options.options_doc()
