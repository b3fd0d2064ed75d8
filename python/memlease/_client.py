"""The public clients: the Rust classes plus the consistency layer (leases, read-through,
tracked invalidation), which is Python because loaders and wait functions are."""

from __future__ import annotations

import asyncio
import inspect
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, overload

from memlease import _core, _options
from memlease._client_state import ConsistencyState
from memlease._core import LeaseResult
from memlease._errors import InvalidArgument
from memlease._policies import (
    DEFAULT_LEASE,
    LeasePolicy,
    ReadThroughPolicy,
    RecachePolicy,
    StalePolicy,
)
from memlease._read_through import ComputeRead, LeaseRead, read_through_async, read_through_sync
from memlease._steps import run_async, run_sync


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


class Client(ConsistencyState, _core.Client):
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
        client_flags: int | None = None,
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
        # The core's invalidation, tracked: a failed unconditional one is recorded for replay
        # (then raised); a success resolves what was pending before it was sent. Written out
        # here and in AsyncClient rather than as steps: this is a hot path, and the steps
        # runner cost ~2 µs a call (measured, issue 11's note).
        since = self._tracker.generation()
        try:
            existed = self._core_invalidate(key, stale_ttl, cas)
        except BaseException as error:
            self._invalidation_failed(key, stale_ttl, cas, error)
            raise
        if cas is None:
            self._resolved(key, since)
        return existed

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


class AsyncClient(ConsistencyState, _core.AsyncClient):
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
        client_flags: int | None = None,
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
        since = self._tracker.generation()  # as in Client.invalidate
        try:
            existed = await self._core_invalidate(key, stale_ttl, cas)
        except BaseException as error:
            self._invalidation_failed(key, stale_ttl, cas, error)
            raise
        if cas is None:
            self._resolved(key, since)
        return existed

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
