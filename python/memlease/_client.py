"""The public clients: the Rust classes plus the consistency layer (leases, read-through,
tracked invalidation), which is Python because loaders and wait functions are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memlease import _consistency as c
from memlease import _core
from memlease._consistency import (
    DEFAULT_LEASE,
    Counters,
    LeasePolicy,
    RecachePolicy,
    StalePolicy,
)
from memlease._core import LeaseResult
from memlease._errors import MemcacheConnectionError, ServerError
from memlease._tracker import WriteFailureTracker

if TYPE_CHECKING:
    from typing_extensions import Self

# Failures after which an invalidation may not have happened.
_LOST = (MemcacheConnectionError, ServerError)


class _ConsistencyState:
    """What both clients keep beside the Rust core: the write-failure tracker, the
    read-through counters, and which cache (servers) they talk to."""

    _tracker: WriteFailureTracker
    _owns_tracker: bool
    _counters: Counters
    _cache_id: tuple[str, ...]
    servers: list[str]  # the Rust base class's

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
        self._cache_id = tuple(self.servers)
        return self

    @property
    def write_failures(self) -> WriteFailureTracker:
        """The failed invalidations waiting for replay."""
        return self._tracker

    def read_through_stats(self) -> dict[str, int]:
        """Counters of ``get_or_lease`` / ``get_or_compute``: hits, misses, stale values
        served, leases won, waits, loader calls, fills and refused fills, cache errors."""
        return self._counters.snapshot()


class Client(_ConsistencyState, _core.Client):
    """A memcached client for one or more servers; thread-safe, share one per process.

    Takes every option of the core client (see ``help(memlease._core.Client)``) plus
    ``write_failures``: the :class:`WriteFailureTracker` that keeps failed invalidations for
    replay (default: one of its own).
    """

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
        recache_ttl = recache.threshold if recache else None
        first = super().lease_get(key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl)
        if c.plain_hit(first, None, self._counters):
            return first
        return c.run_sync(self, c.get_or_lease(key, lease, recache, stale, self._counters, first))

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
        probabilistic early expiry (XFetch; 1.0 is the paper's default). A ``None`` from the
        loader is not cached unless ``none_ttl`` is given. If memcached is unreachable, the
        loader's value is returned uncached.
        """
        first: c.FirstRead = None
        if c.first_read_wanted(lease, self._tracker, self._cache_id, key):
            assert lease is not None
            recache_ttl = recache.threshold if recache else None
            try:
                first = super().lease_get(key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl)
            except c.CACHE_UNAVAILABLE as error:
                first = error
            else:
                if c.plain_hit(first, beta, self._counters):
                    return first.value
        steps = c.get_or_compute(
            key,
            loader,
            ttl,
            lease,
            recache,
            stale,
            beta,
            none_ttl,
            self._counters,
            self._tracker,
            self._cache_id,
            first,
        )
        return c.run_sync(self, steps)

    def invalidate(self, key: Any, *, stale_ttl: int | None = None, cas: int | None = None) -> bool:
        """Delete `key`, or with `stale_ttl` mark it stale (see the core method). A failed
        unconditional invalidation is recorded in ``write_failures`` for replay, then raised."""
        try:
            existed = super().invalidate(key, stale_ttl=stale_ttl, cas=cas)
        except _LOST as error:
            if cas is None:
                self._tracker.record(self._cache_id, key, stale_ttl, self._replay, error)
            raise
        if cas is None:
            self._tracker.resolved(self._cache_id, key)
        return existed

    def _replay(self, key: Any, stale_ttl: int | None) -> None:
        super().invalidate(key, stale_ttl=stale_ttl)

    def close(self) -> list[Any]:  # type: ignore[override]
        """Close all connections; stop the write-failure replay (if the tracker is this
        client's own) and return the keys whose invalidation is still pending."""
        pending = self._tracker.close() if self._owns_tracker else []
        super().close()
        return pending

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_ConsistencyState, _core.AsyncClient):
    """An asyncio memcached client; every method is awaitable (see :class:`Client` for the
    consistency methods, which behave the same with async loaders and ``asyncio.sleep``)."""

    async def get_or_lease(
        self,
        key: Any,
        *,
        lease: LeasePolicy = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
    ) -> LeaseResult:
        recache_ttl = recache.threshold if recache else None
        first = await super().lease_get(key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl)
        if c.plain_hit(first, None, self._counters):
            return first
        steps = c.get_or_lease(key, lease, recache, stale, self._counters, first)
        return await c.run_async(self, steps)

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
        first: c.FirstRead = None
        if c.first_read_wanted(lease, self._tracker, self._cache_id, key):
            assert lease is not None
            recache_ttl = recache.threshold if recache else None
            try:
                first = await super().lease_get(
                    key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl
                )
            except c.CACHE_UNAVAILABLE as error:
                first = error
            else:
                if c.plain_hit(first, beta, self._counters):
                    return first.value
        steps = c.get_or_compute(
            key,
            loader,
            ttl,
            lease,
            recache,
            stale,
            beta,
            none_ttl,
            self._counters,
            self._tracker,
            self._cache_id,
            first,
        )
        return await c.run_async(self, steps)

    async def invalidate(  # type: ignore[override]
        self, key: Any, *, stale_ttl: int | None = None, cas: int | None = None
    ) -> bool:
        try:
            existed: bool = await super().invalidate(key, stale_ttl=stale_ttl, cas=cas)
        except _LOST as error:
            if cas is None:
                replay = self._replayer(asyncio.get_running_loop())
                self._tracker.record(self._cache_id, key, stale_ttl, replay, error)
            raise
        if cas is None:
            self._tracker.resolved(self._cache_id, key)
        return existed

    def _replayer(self, loop: asyncio.AbstractEventLoop) -> Callable[[Any, int | None], None]:
        """Replays run on the tracker's thread; the invalidation itself must run on the loop
        the client is used from."""
        base_invalidate = super().invalidate

        async def invalidate(key: Any, stale_ttl: int | None) -> None:
            await base_invalidate(key, stale_ttl=stale_ttl)

        def replay(key: Any, stale_ttl: int | None) -> None:
            future = asyncio.run_coroutine_threadsafe(invalidate(key, stale_ttl), loop)
            future.result(timeout=5.0)

        return replay

    async def close(self) -> list[Any]:  # type: ignore[override]
        pending = await asyncio.to_thread(self._tracker.close) if self._owns_tracker else []
        await super().close()
        return pending

    async def __aenter__(self) -> AsyncClient:  # type: ignore[override]
        return self

    async def __aexit__(self, *exc_info: object) -> None:  # type: ignore[override]
        await self.close()
