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
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from memlease._core import LeaseResult
from memlease._errors import InvalidArgument, MemcacheConnectionError, ServerError
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


# Bounds of the policies' numbers. A TTL beyond 30 days would be read by memcached as a Unix
# time. A loser's waits are capped in total so a misconfigured policy cannot park a caller for
# hours: past a few minutes, computing the value itself is the better answer anyway.
MAX_TTL = 30 * 24 * 3600
MAX_LOSER_WAIT = 300.0
MAX_RETRIES = 10_000


def check_number(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> None:
    """Raise ``InvalidArgument`` naming `name` unless `value` is a real number (an ``int`` if
    `integer`; never a ``bool``) in ``[low, high]``. NaN and infinities are out of range."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        kind = "an int" if integer else "a number"
        raise InvalidArgument(f"{name} must be {kind}, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidArgument(f"{name} must be in [{low}, {high}], got {value!r}")


def check_beta(beta: float | None) -> None:
    """``beta`` (XFetch early expiry): ``None`` (off) or a finite number >= 0."""
    if beta is not None:
        check_number("beta", beta, 0.0, math.inf)


@dataclass(frozen=True)
class LeasePolicy:
    """How a caller that did not win a lease waits for the winner's value.

    ``lease_ttl``: seconds the placeholder lives, so a winner that dies holds the key at most
    that long before another caller wins. Losers re-read after ``wait`` seconds, then after
    each wait multiplied by ``backoff`` (capped at ``max_wait``), at most ``retries`` times;
    then they give up (``get_or_compute`` runs the loader itself, without caching). With the
    defaults a loser waits about 1.2 s in all. ``sleep`` replaces the wait function
    (``time.sleep`` for ``Client``, ``asyncio.sleep`` for ``AsyncClient``, which also takes an
    async function; ``Client`` raises ``InvalidArgument`` at the first wait if it is async).

    Bounds, checked here (``InvalidArgument`` naming the field): ``lease_ttl`` an int in
    [1, 30 days]; ``retries`` an int in [0, 10,000]; ``wait`` and ``max_wait`` finite, >= 0;
    ``backoff`` finite, >= 1; and a loser's longest total wait, ``retries * max_wait``, at most
    300 s (``MAX_LOSER_WAIT``).
    """

    lease_ttl: int = 10
    retries: int = 10
    wait: float = 0.02
    backoff: float = 1.5
    max_wait: float = 0.2
    sleep: Callable[[float], Any] | None = None

    def __post_init__(self) -> None:
        check_number("lease_ttl", self.lease_ttl, 1, MAX_TTL, integer=True)
        check_number("retries", self.retries, 0, MAX_RETRIES, integer=True)
        check_number("wait", self.wait, 0.0, MAX_LOSER_WAIT)
        check_number("max_wait", self.max_wait, 0.0, MAX_LOSER_WAIT)
        check_number("backoff", self.backoff, 1.0, math.inf)
        if self.retries * self.max_wait > MAX_LOSER_WAIT:
            raise InvalidArgument(
                f"retries * max_wait (a loser's longest total wait) must be at most"
                f" {MAX_LOSER_WAIT} s, got {self.retries} * {self.max_wait}"
            )
        if self.sleep is not None and not callable(self.sleep):
            raise InvalidArgument(f"sleep must be callable or None, got {self.sleep!r}")

    def delays(self) -> Generator[float, None, None]:
        delay = self.wait
        for _ in range(self.retries):
            yield min(delay, self.max_wait)
            delay *= self.backoff


@dataclass(frozen=True)
class StalePolicy:
    """Whether a caller accepts a value invalidated by marking it stale (``accept``): then it
    gets the old value, flagged ``stale``, while one caller refreshes it; otherwise it waits
    for the refreshed value like a lease loser."""

    accept: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.accept, bool):
            raise InvalidArgument(f"StalePolicy accept must be a bool, got {self.accept!r}")


@dataclass(frozen=True)
class RecachePolicy:
    """When an item has less than ``threshold`` seconds left, one reader wins an early refresh
    (the others keep getting the current value). Items stored without a TTL never qualify.
    ``threshold`` is an int of seconds in [1, 30 days]."""

    threshold: int

    def __post_init__(self) -> None:
        check_number("RecachePolicy threshold", self.threshold, 1, MAX_TTL, integer=True)


DEFAULT_LEASE = LeasePolicy()
NO_STALE = StalePolicy(accept=False)


class ReadThroughPolicy:
    """How ``get_or_compute`` reads through: its keyword arguments, gathered once (``beta`` is
    checked here, the policies by their own classes).

    ``ttl``: seconds the loader's value is cached. ``lease``: the :class:`LeasePolicy` that
    keeps concurrent callers of a missing key to one loader call (``None``: no lease; read,
    load and store unprotected). ``recache``: an early refresh when the TTL runs low.
    ``stale``: whether a value invalidated by marking it stale is served. ``beta``: XFetch
    early expiry (``None``: off). ``none_ttl``: the TTL of a ``None`` from the loader
    (``None``: not cached).
    """

    __slots__ = ("beta", "lease", "none_ttl", "recache", "stale", "ttl")

    def __init__(
        self,
        ttl: int,
        lease: LeasePolicy | None = DEFAULT_LEASE,
        recache: RecachePolicy | None = None,
        stale: StalePolicy | None = None,
        beta: float | None = None,
        none_ttl: int | None = None,
    ) -> None:
        check_beta(beta)
        self.ttl = ttl
        self.lease = lease
        self.recache = recache
        self.stale = stale
        self.beta = beta
        self.none_ttl = none_ttl

    def ttl_for(self, value: Any) -> int:
        """The TTL `value` is cached with."""
        return self.none_ttl if value is None and self.none_ttl is not None else self.ttl


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


def invalidate_each(
    keys: list[Any],
    stale_ttl: int,
    record_lost: Callable[[list[Any], int | None, BaseException], None],
) -> Steps[int]:
    """Mark every key stale, one at a time (``md`` with ``I`` has no batch form here); how
    many existed. A key that fails is tracked by ``invalidate``; the first such failure is
    raised at the end. Cancelled midway, the keys not yet sent are tracked too."""
    existed = 0
    failure: BaseException | None = None
    for i, key in enumerate(keys):
        try:
            existed += bool((yield Invalidate(key, stale_ttl=stale_ttl)))
        except CACHE_UNAVAILABLE as error:
            failure = failure or error
        except BaseException as error:
            if not isinstance(error, Exception):
                record_lost(keys[i + 1 :], stale_ttl, error)
            raise
    if failure is not None:
        raise failure
    return existed


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
