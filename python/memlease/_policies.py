"""The read-through policies (leases, stale serving, recache, and ``get_or_compute``'s options
gathered in :class:`ReadThroughPolicy`), with the bounds they are checked against."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from memlease._errors import InvalidArgument

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


@dataclass(slots=True)
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

    ttl: int
    lease: LeasePolicy | None = DEFAULT_LEASE
    recache: RecachePolicy | None = None
    stale: StalePolicy | None = None
    beta: float | None = None
    none_ttl: int | None = None

    def __post_init__(self) -> None:
        check_beta(self.beta)

    def ttl_for(self, value: Any) -> int:
        """The TTL `value` is cached with."""
        return self.none_ttl if value is None and self.none_ttl is not None else self.ttl
