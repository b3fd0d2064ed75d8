"""What both clients keep beside the Rust core (the write-failure tracker, the read-through
counters, the cache's identity) and their tracked invalidation, as steps: an invalidation that
may not have happened is recorded for replay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from memlease._consistency import CACHE_UNAVAILABLE, Counters
from memlease._errors import MemcacheConnectionError, MemcacheError, ServerError
from memlease._steps import DeleteManyReporting, Invalidate, Steps
from memlease._tracker import Spot, WriteFailureTracker

if TYPE_CHECKING:
    from typing_extensions import Self


def maybe_lost(error: BaseException) -> bool:
    """Whether an invalidation that raised `error` may not have happened: the server was
    unreachable or failed, or the call was cancelled or interrupted midway."""
    return isinstance(error, (MemcacheConnectionError, ServerError)) or not isinstance(
        error, Exception
    )


class ConsistencyState:
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
        if cas is None and maybe_lost(error):
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

    def _invalidate_many_steps(self, keys: Iterable[Any], stale_ttl: int | None) -> Steps[int]:
        keys = list(keys)
        if stale_ttl is not None:
            return (yield from invalidate_each(keys, stale_ttl, self._record_lost))
        since = self._tracker.generation()
        try:
            deleted, unreached = yield DeleteManyReporting(keys)
        except BaseException as error:
            if maybe_lost(error):
                self._record_lost(keys, None, error)
            raise
        self._settle_many(keys, unreached, since)
        return int(deleted)


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
