"""Leases, stale serving, recache and early expiry, written once for both clients.

The decisions live in generators that *yield* steps (``_steps``: a typed call to the client, a
loader run, a wait) and receive the outcome; ``run_sync`` and ``run_async`` carry the steps out
with blocking or awaited calls. So ``Client`` and ``AsyncClient`` cannot drift apart.

The memcached side (protocol.md §2.1): ``lease_get`` sends ``mg k v f c t N<lease_ttl>
[R<recache>]``. A miss creates an empty placeholder and hands exactly one caller the win
(``W``); the others see ``Z`` and wait. A stale item (``md I``) hands its first reader the win
and the rest the old value flagged stale. ``R`` hands one reader an early refresh. The winner
stores with ``fill(key, value, cas)``: a write or invalidation since the lease changed the
CAS, so the stale fill is refused.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from memlease._core import LeaseResult
from memlease._errors import MemcacheConnectionError, ServerError
from memlease._policies import (
    NO_STALE,
    LeasePolicy,
    ReadThroughPolicy,
    RecachePolicy,
    StalePolicy,
)
from memlease._steps import (
    Fill,
    Invalidate,
    LeaseGet,
    Load,
    Sleep,
    Steps,
    run_async,
    run_sync,
)
from memlease._tracker import Spot, WriteFailureTracker

__all__ = ["run_async", "run_sync"]  # the drivers, for callers of the step generators

# Errors after which the cache state is unknown or unreachable: reads fall back to the loader.
CACHE_UNAVAILABLE = (MemcacheConnectionError, ServerError)


class Counters:
    """Read-through outcomes, for hit ratios and for seeing leases work. Thread-safe."""

    FIELDS = (
        "hits",
        "misses",
        "stale_served",
        "leases_won",
        "waits",
        "wait_exhausted",
        "loader_calls",
        "fills",
        "fills_refused",
        "early_refreshes",
        "cache_errors",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self.FIELDS, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


# The read paths.

# A `lease_get` already made (its result, or the error it raised), or None.
FirstRead = LeaseResult | BaseException | None


# Where a client sends a key (see `Spot`): the tracker's entries are found by it.
SpotOf = Callable[[Any], Spot]


def pending_spot(tracker: WriteFailureTracker, spot_of: SpotOf, key: Any) -> Spot | None:
    """Where `key` goes, if an invalidation that went there is pending (the tracker is looked
    up only when it holds anything, keeping the fast path fast)."""
    if not tracker.has_pending():
        return None
    spot = spot_of(key)
    return spot if tracker.is_pending(spot) else None


def replay_pending(key: Any, tracker: WriteFailureTracker, spot_of: SpotOf) -> Steps[None]:
    """If an invalidation of `key` failed, what the cache holds may be old: replay the
    invalidation before reading (raises if the cache is still unreachable)."""
    spot = pending_spot(tracker, spot_of, key)
    if spot is not None:
        yield Invalidate(key, stale_ttl=tracker.pending_stale_ttl(spot))


def get_or_lease(
    key: Any,
    lease: LeasePolicy,
    recache: RecachePolicy | None,
    stale: StalePolicy | None,
    counters: Counters,
    tracker: WriteFailureTracker,
    spot_of: SpotOf,
    first: FirstRead = None,
) -> Steps[LeaseResult]:
    """A value, or the lease to compute it, or (after waiting) neither. `first` is the outcome
    of a first `lease_get` the caller already made, if there was no pending invalidation."""
    if first is None:
        yield from replay_pending(key, tracker, spot_of)
    return (yield from _await_lease(key, lease, recache, stale, counters, first))


def _await_lease(
    key: Any,
    lease: LeasePolicy,
    recache: RecachePolicy | None,
    stale: StalePolicy | None,
    counters: Counters,
    first: FirstRead,
) -> Steps[LeaseResult]:
    accept_stale = (stale or NO_STALE).accept
    recache_ttl = recache.threshold if recache else None
    delays = lease.delays()
    while True:
        result: LeaseResult
        if first is None:
            result = yield LeaseGet(key, lease.lease_ttl, recache_ttl)
        elif isinstance(first, BaseException):
            raise first
        else:
            result, first = first, None
        if result.won:
            counters.add("leases_won")
            return result
        if result.found and not result.stale:
            counters.add("hits")
            return result
        if result.found and accept_stale:
            counters.add("stale_served")
            return result
        # Someone else holds the lease (placeholder, or a stale item this caller won't serve).
        delay = next(delays, None)
        if delay is None:
            counters.add("wait_exhausted")
            return LeaseResult(key=key, cas=result.cas, ttl=result.ttl, already_won=True)
        counters.add("waits")
        yield Sleep(delay, lease.sleep)


def xfetch_due(result: LeaseResult, beta: float, rand: Callable[[], float] = random.random) -> bool:
    """Probabilistic early expiration (Vattani et al., VLDB 2015): recompute when
    ``compute_time * beta * -ln(u)``, u uniform in (0, 1], reaches the remaining TTL."""
    delta, ttl = result.compute_time, result.ttl
    if not delta or ttl is None or ttl < 0:
        return False
    return -delta * beta * math.log(1.0 - rand()) >= ttl


def get_or_compute(
    key: Any,
    loader: Callable[[], Any],
    ttl: int,
    lease: LeasePolicy | None,
    recache: RecachePolicy | None,
    stale: StalePolicy | None,
    beta: float | None,
    none_ttl: int | None,
    counters: Counters,
    tracker: WriteFailureTracker,
    spot_of: SpotOf,
    first: FirstRead = None,
) -> Steps[Any]:
    """:func:`read_through` with the policy spelled out."""
    policy = ReadThroughPolicy(ttl, lease, recache, stale, beta, none_ttl)
    return read_through(key, loader, policy, counters, tracker, spot_of, first)


def read_through(
    key: Any,
    loader: Callable[[], Any],
    policy: ReadThroughPolicy,
    counters: Counters,
    tracker: WriteFailureTracker,
    spot_of: SpotOf,
    first: FirstRead = None,
) -> Steps[Any]:
    """Read-through: the cached value, or the loader's, cached so that a concurrent write's
    invalidation is never overwritten by an older computation. `first`: see `get_or_lease`."""
    if first is None:
        try:
            yield from replay_pending(key, tracker, spot_of)
        except CACHE_UNAVAILABLE:
            counters.add("cache_errors")  # the cache may be old and can't be fixed: bypass it
            return (yield from _load(loader, counters))
    if policy.lease is None:
        return (yield from _get_or_compute_unleased(key, loader, policy, counters))
    try:
        result = yield from _await_lease(
            key, policy.lease, policy.recache, policy.stale, counters, first
        )
    except CACHE_UNAVAILABLE:
        counters.add("cache_errors")
        return (yield from _load(loader, counters))
    beta = policy.beta
    if result.found and not result.won:
        if beta is None or not xfetch_due(result, beta):
            return result.value
        counters.add("early_refreshes")  # recompute now; the CAS keeps one refresh winning
    elif not result.won:
        counters.add("misses")
        return (yield from _load(loader, counters))  # waited long enough: uncached
    else:
        counters.add("misses")
    started = time.perf_counter()
    try:
        value = yield from _load(loader, counters)
    except BaseException:
        yield from _release(key, result)
        raise
    if value is None and policy.none_ttl is None:
        yield from _release(key, result)
        return None
    # The compute time is kept with the value only for early expiry: it costs interoperability
    # (a reserved client flag other clients do not know).
    elapsed = time.perf_counter() - started if beta is not None else None
    yield from _fill(key, value, result.cas, policy.ttl_for(value), elapsed, counters)
    return value


def _get_or_compute_unleased(
    key: Any, loader: Callable[[], Any], policy: ReadThroughPolicy, counters: Counters
) -> Steps[Any]:
    """Without a lease: read, and on a miss load and store (no protection against herds or
    stale sets: for comparison and for data that tolerates it)."""
    try:
        result: LeaseResult = yield LeaseGet(key)
    except CACHE_UNAVAILABLE:
        counters.add("cache_errors")
        return (yield from _load(loader, counters))
    if result.found and not result.stale:
        counters.add("hits")
        return result.value
    # A miss, a stale item or someone's lease placeholder: this caller loads. It stores only
    # where no one else is entitled to: a plain miss (unconditionally: no lease, no protection
    # against stale sets), or a stale item whose refresh memcached handed to it (with the CAS,
    # so a newer invalidation still wins). A stale item or placeholder someone else holds is
    # theirs to fill.
    counters.add("misses")
    try:
        value = yield from _load(loader, counters)
    except BaseException:
        if result.won:
            yield from _release(key, result)
        raise
    unclaimed = not result.found and not result.already_won and not result.won
    if value is None and policy.none_ttl is None:
        if result.won:
            yield from _release(key, result)
    elif result.won:
        yield from _fill(key, value, result.cas, policy.ttl_for(value), None, counters)
    elif unclaimed:
        yield from _fill(key, value, None, policy.ttl_for(value), None, counters)
    return value


def _load(loader: Callable[[], Any], counters: Counters) -> Steps[Any]:
    counters.add("loader_calls")
    return (yield Load(loader))


def _fill(
    key: Any, value: Any, cas: int | None, ttl: int, compute_time: float | None, counters: Counters
) -> Steps[None]:
    try:
        stored = yield Fill(key, value, cas, ttl, compute_time)
    except CACHE_UNAVAILABLE:
        counters.add("cache_errors")  # the value is still right to return; it just isn't cached
        return
    counters.add("fills" if stored else "fills_refused")


def _release(key: Any, result: LeaseResult) -> Steps[None]:
    """The winner will not fill: let the next caller win instead of waiting out the lease."""
    try:
        if not result.found:
            # Drop the placeholder, unless it changed (filled or invalidated) meanwhile.
            yield Invalidate(key, cas=result.cas)
        elif result.stale and result.ttl is not None and result.ttl > 0:
            # Re-mark it stale, which hands the win to the next reader.
            yield Invalidate(key, stale_ttl=result.ttl, cas=result.cas)
    except CACHE_UNAVAILABLE:
        pass  # the placeholder expires after lease_ttl
