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
from memlease._consistency import Counters
from memlease._core import LeaseResult
from memlease._policies import LeasePolicy, ReadThroughPolicy, RecachePolicy, StalePolicy
from memlease._steps import Steps, run_async, run_sync

if TYPE_CHECKING:
    from memlease._client import AsyncClient, Client

# The client whose read-through this is (its counters, tracker and placement).
State = Union["Client", "AsyncClient"]
T = TypeVar("T")


class ReadThroughCall(ABC, Generic[T]):
    """One read-through call, as the drivers need it: what its first read asks for, the
    errors that read may raise without failing the call, what a plain hit answers, and the
    steps. (Kept to a few slots: the hit path builds one per call.)"""

    __slots__ = ()
    key: Any
    lease_ttl: int | None  # None: no lease, so no first read
    recache_ttl: int | None
    beta: float | None
    tolerated: tuple[type[BaseException], ...] = ()

    def reads_first(self, state: State) -> bool:
        """Whether the fast path applies: leased, and no invalidation of the key pending
        replay (the steps replay it before reading)."""
        return (
            self.lease_ttl is not None
            and c.pending_spot(state._tracker, state._spot, self.key) is None
        )

    def is_plain_hit(self, result: LeaseResult, counters: Counters) -> bool:
        """Whether a first read settles the call by itself: a fresh value no one asked this
        caller to refresh."""
        if result.found and not result.won and not result.stale and self.beta is None:
            counters.add("hits")
            return True
        return False

    @abstractmethod
    def answer(self, result: LeaseResult) -> T:
        """What a plain hit on the first read answers."""

    @abstractmethod
    def steps(self, state: State, first: c.FirstRead) -> Steps[T]:
        """The decision's steps from the first read on, for anything but a plain hit."""


def _recache_ttl(recache: RecachePolicy | None) -> int | None:
    return recache.threshold if recache else None


class LeaseRead(ReadThroughCall[LeaseResult]):
    """``get_or_lease``: the read's errors are the caller's."""

    __slots__ = ("key", "lease", "lease_ttl", "recache", "recache_ttl", "stale")
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
        self.lease_ttl = lease.lease_ttl
        self.recache_ttl = _recache_ttl(recache)

    def answer(self, result: LeaseResult) -> LeaseResult:
        return result

    def steps(self, state: State, first: c.FirstRead) -> Steps[LeaseResult]:
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

    __slots__ = ("beta", "key", "lease_ttl", "loader", "policy", "recache_ttl")
    tolerated = c.CACHE_UNAVAILABLE

    def __init__(self, key: Any, loader: Callable[[], Any], policy: ReadThroughPolicy) -> None:
        self.key = key
        self.loader = loader
        self.policy = policy
        self.lease_ttl = policy.lease.lease_ttl if policy.lease else None
        self.recache_ttl = _recache_ttl(policy.recache)
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
    if call.reads_first(client):
        try:
            # Called directly, not as a step: the hit path builds no more objects than it must.
            first = client.lease_get(
                call.key, lease_ttl=call.lease_ttl, recache_ttl=call.recache_ttl
            )
        except call.tolerated as error:
            first = error
        else:
            if call.is_plain_hit(first, client._counters):
                return call.answer(first)
    return run_sync(client, call.steps(client, first))


async def read_through_async(client: AsyncClient, call: ReadThroughCall[T]) -> T:
    """:func:`read_through_sync` with awaited calls."""
    first: c.FirstRead = None
    if call.reads_first(client):
        try:
            first = await client.lease_get(
                call.key, lease_ttl=call.lease_ttl, recache_ttl=call.recache_ttl
            )
        except call.tolerated as error:
            first = error
        else:
            if call.is_plain_hit(first, client._counters):
                return call.answer(first)
    return await run_async(client, call.steps(client, first))
