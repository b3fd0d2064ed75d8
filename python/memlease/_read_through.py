"""The clients' ``get_or_lease`` and ``get_or_compute``: a fast path, then the steps.

A read-through whose first read is a plain hit is settled by that one call: the step machinery
(a generator and its driver) is built only when there is more to do. :func:`read_through_sync`
and :func:`read_through_async` make that first read with a blocking or an awaited call, then
hand it to the steps (``_consistency``) as their ``first``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

from memlease import _consistency as c
from memlease._consistency import Counters, SpotOf
from memlease._core import LeaseResult
from memlease._policies import LeasePolicy, ReadThroughPolicy, RecachePolicy, StalePolicy
from memlease._steps import Steps, run_async, run_sync
from memlease._tracker import WriteFailureTracker

if TYPE_CHECKING:
    from memlease._client import AsyncClient, Client

# The client whose read-through this is (its counters, tracker and placement).
State = Union["Client", "AsyncClient"]
T = TypeVar("T")


def first_read_wanted(
    key: Any, lease: LeasePolicy | None, tracker: WriteFailureTracker, spot_of: SpotOf
) -> bool:
    """Whether the fast path applies: leased, and no invalidation of `key` pending replay
    (the steps replay it before reading)."""
    return lease is not None and c.pending_spot(tracker, spot_of, key) is None


def plain_hit(result: LeaseResult, beta: float | None, counters: Counters) -> bool:
    """Whether a first read settles a read-through by itself: a fresh value no one asked this
    caller to refresh."""
    if result.found and not result.won and not result.stale and beta is None:
        counters.add("hits")
        return True
    return False


class ReadThroughCall(ABC, Generic[T]):
    """One read-through call, as the drivers need it: what its first read asks for, the
    errors that read may raise without failing the call, what a plain hit answers, and the
    steps. (Kept to a few slots: the hit path builds one per call.)"""

    __slots__ = ()
    key: Any
    lease: LeasePolicy | None
    recache: RecachePolicy | None
    beta: float | None
    tolerated: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def answer(self, result: LeaseResult) -> T:
        """What a plain hit on the first read answers."""

    @abstractmethod
    def steps(self, state: State, first: c.FirstRead) -> Steps[T]:
        """The decision's steps from the first read on, for anything but a plain hit."""


class LeaseRead(ReadThroughCall[LeaseResult]):
    """``get_or_lease``: the read's errors are the caller's."""

    __slots__ = ("key", "lease", "recache", "stale")
    beta = None

    def __init__(
        self,
        key: Any,
        lease: LeasePolicy,
        recache: RecachePolicy | None,
        stale: StalePolicy | None,
    ) -> None:
        self.key = key
        self.lease = lease
        self.recache = recache
        self.stale = stale

    def answer(self, result: LeaseResult) -> LeaseResult:
        return result

    def steps(self, state: State, first: c.FirstRead) -> Steps[LeaseResult]:
        assert self.lease is not None
        return c.get_or_lease(
            self.key,
            self.lease,
            self.recache,
            self.stale,
            state._counters,
            state._tracker,
            state._spot,
            first,
        )


class ComputeRead(ReadThroughCall[Any]):
    """``get_or_compute``: an unreachable cache falls back to the loader (in the steps)."""

    __slots__ = ("beta", "key", "lease", "loader", "policy", "recache")
    tolerated = c.CACHE_UNAVAILABLE

    def __init__(self, key: Any, loader: Callable[[], Any], policy: ReadThroughPolicy) -> None:
        self.key = key
        self.loader = loader
        self.policy = policy
        self.lease = policy.lease
        self.recache = policy.recache
        self.beta = policy.beta

    def answer(self, result: LeaseResult) -> Any:
        return result.value

    def steps(self, state: State, first: c.FirstRead) -> Steps[Any]:
        return c.read_through(
            self.key,
            self.loader,
            self.policy,
            state._counters,
            state._tracker,
            state._spot,
            first,
        )


def read_through_sync(client: Client, call: ReadThroughCall[T]) -> T:
    """Carry out `call` with blocking calls: the first read, then (unless it settled the call)
    the steps."""
    first: c.FirstRead = None
    lease = call.lease
    if lease is not None and first_read_wanted(call.key, lease, client._tracker, client._spot):
        recache_ttl = call.recache.threshold if call.recache else None
        try:
            # Called directly, not as a step: the hit path builds no more objects than it must.
            result: LeaseResult = client.lease_get(
                call.key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl
            )
        except call.tolerated as error:
            first = error
        else:
            if plain_hit(result, call.beta, client._counters):
                return call.answer(result)
            first = result
    return run_sync(client, call.steps(client, first))


async def read_through_async(client: AsyncClient, call: ReadThroughCall[T]) -> T:
    """:func:`read_through_sync` with awaited calls."""
    first: c.FirstRead = None
    lease = call.lease
    if lease is not None and first_read_wanted(call.key, lease, client._tracker, client._spot):
        recache_ttl = call.recache.threshold if call.recache else None
        try:
            # Called directly, not as a step: the hit path builds no more objects than it must.
            result: LeaseResult = await client.lease_get(
                call.key, lease_ttl=lease.lease_ttl, recache_ttl=recache_ttl
            )
        except call.tolerated as error:
            first = error
        else:
            if plain_hit(result, call.beta, client._counters):
                return call.answer(result)
            first = result
    return await run_async(client, call.steps(client, first))
