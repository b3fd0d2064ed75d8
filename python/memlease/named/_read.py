"""A named cache's memcached read-through: the leased read of ``get_or_compute``, with the
entry's tag versions checked in the same round trip.

One ``_lease_get_with_counters`` call reads the entry (``mg ... N<lease_ttl>``: a miss hands
exactly one caller the lease) and the version counters of the call's tags, all servers at
once. An entry is a hit only if every tag it names still has the version stored with it. A
dead entry (a tag moved, or its counter is gone) is dropped with a CAS-conditional delete, so
the next read hands one caller the lease: herds stay prevented for it as for a plain miss.

The steps, their drivers and the lease's waiting are ``_steps``' and ``_consistency``'s; the
first read differs from ``get_or_compute``'s (several keys, undecoded bytes), so the decision
loop is written here, over the same steps. Tag versions are read *before* the fallback runs,
so an ``invalidate_tags`` during the computation leaves the stored entry dead, as a write's
invalidation refuses a lease's fill. Tags known only from the result (a decorator's callable
``tags``) are versioned when the value is stored: an invalidation of such a tag while the
value was computed is not seen (pass such tags on the call when that matters).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memlease import _consistency as c
from memlease._consistency import CACHE_UNAVAILABLE
from memlease._core import LeaseResult
from memlease._errors import SerializationError
from memlease._policies import DEFAULT_LEASE
from memlease._steps import AnyClient, ClientCall, Invalidate, Load, Sleep, Steps
from memlease.named import _envelope, _keys
from memlease.named._envelope import Entry
from memlease.named._stats import CacheStats

if TYPE_CHECKING:
    from memlease._client import AsyncClient, Client

# What `_lease_get_with_counters` answers: the entry's read, its flags, the counters.
Read = tuple[LeaseResult, int, list[int | None]]
# The lease a miss takes: LeasePolicy's defaults (its placeholder's TTL, its losers' waits).
LEASE = DEFAULT_LEASE
LEASE_TTL = DEFAULT_LEASE.lease_ttl
# How often a caller drops a dead entry and reads again before giving up on the cache.
MAX_DEAD_DROPS = 3


def fresh_version() -> int:
    """The first version of a tag counter (re-)created now: microseconds since the epoch, times
    1024, plus a random 10 bits. A counter evicted (or deleted by ``invalidate_tags``) and
    created again starts at a number no entry stored before can carry (the ABA hazard of
    restarting at 0), across processes with clocks that disagree too, unless two creations
    fall in one microsecond and draw the same 10 bits."""
    return (time.time_ns() // 1000) << 10 | random.getrandbits(10)


@dataclass(slots=True)
class ReadTagged(ClientCall):
    key: str
    counters: list[str]
    lease_ttl: int

    def perform(self, client: AnyClient) -> Any:
        return client._lease_get_with_counters(self.key, self.counters, lease_ttl=self.lease_ttl)


@dataclass(slots=True)
class EnsureCounter(ClientCall):
    """``ma <tag> N0 J<fresh> D0 v``: the tag's version, created if absent (no TTL: only
    eviction or ``invalidate_tags`` removes it)."""

    key: str

    def perform(self, client: AnyClient) -> Any:
        return client.meta_arithmetic(self.key, f"N0 J{fresh_version()} D0 v")


@dataclass(slots=True)
class ReadCounters(ClientCall):
    """The counters `keys`, read beside the entry `key` again (no lease): this read bypasses
    the client's hot-key cache and split copies, which ``get_many`` would consult."""

    key: str
    keys: list[str]

    def perform(self, client: AnyClient) -> Any:
        return client._lease_get_with_counters(self.key, self.keys)


@dataclass(slots=True)
class FillEntry(ClientCall):
    key: str
    payload: bytes
    cas: int | None
    ttl: int

    def perform(self, client: AnyClient) -> Any:
        return client.fill(
            self.key, self.payload, self.cas, self.ttl, client_flags=_envelope.ENTRY_FLAGS
        )


@dataclass(slots=True)
class Outcome:
    """What the read-through found: the value, and the entry it came from on a hit (its tags
    for the local layer, its age for shadow checks) or the entry it stored."""

    value: Any
    hit: bool
    entry: Entry | None


class TaggedRead:
    """One ``NamedCache.get`` past the in-process layers."""

    __slots__ = (
        "app",
        "codec",
        "counter_keys",
        "fallback",
        "key",
        "lease",
        "result_tags",
        "stats",
        "tags",
        "ttl",
    )

    def __init__(
        self,
        app: str,
        key: str,
        tags: tuple[str, ...],
        counter_keys: list[str],
        fallback: Callable[[], Any],
        ttl: int,
        codec: str | None,
        stats: CacheStats,
        result_tags: Callable[[Any], Iterable[str]] | None,
    ) -> None:
        self.app = app
        self.key = key
        self.tags = tags
        self.counter_keys = counter_keys
        self.fallback = fallback
        self.ttl = ttl
        self.codec = codec
        self.lease = LEASE
        self.stats = stats
        self.result_tags = result_tags

    def steps(
        self, client: AnyClient, first: Read | BaseException | None, first_elapsed: float = 0.0
    ) -> Steps[Outcome]:
        """The read-through from the first read (made by the caller, or here if None)."""
        if isinstance(first, BaseException):
            self.stats.memcached.error()  # the first read failed: the cache is unreachable
            return (yield from self._uncached())
        if first is None:
            try:
                # A failed invalidation of the entry or of one of its tags (invalidate_tags
                # deletes counters) is replayed before the read can trust either.
                for key in (self.key, *self.counter_keys):
                    yield from c.replay_pending(key, client._tracker, client._spot)
            except CACHE_UNAVAILABLE:
                self.stats.memcached.error()  # the entry may be old and can't be fixed
                return (yield from self._uncached())
        delays = self.lease.delays()
        drops = 0
        while True:
            if first is None:
                started = time.perf_counter()
                try:
                    read: Read = yield ReadTagged(self.key, self.counter_keys, self.lease.lease_ttl)
                except CACHE_UNAVAILABLE:
                    self.stats.memcached.error()
                    return (yield from self._uncached())
                elapsed = time.perf_counter() - started
            else:
                read, first, elapsed = first, None, first_elapsed
            result, flags, versions = read
            known = _known(self.tags, versions)
            entry = _decoded(result, flags)
            current = False
            if entry is not None:
                unread = [tag for tag in entry.tags if tag not in known]
                if unread:
                    known.update((yield from self._read_versions(unread)))
                current = _current(entry, known)
                if current and not result.won and not result.stale:
                    self.stats.memcached.hit(elapsed)
                    return Outcome(entry.value, True, entry)
            if result.found and not current and not result.won:
                # Dead (a tag moved) or not ours (another client's value under this key):
                # drop this copy unless it changed since, so the next read hands one caller
                # the lease.
                drops += 1
                if drops > MAX_DEAD_DROPS:
                    self.stats.memcached.miss(elapsed)
                    return (yield from self._uncached())
                try:
                    yield Invalidate(self.key, cas=result.cas)
                except CACHE_UNAVAILABLE:
                    self.stats.memcached.error()
                    return (yield from self._uncached())
                continue
            if result.won:
                self.stats.memcached.miss(elapsed)
                return (yield from self._compute(result, known))
            # Someone else holds the lease (a placeholder, or a stale item being refreshed).
            delay = next(delays, None)
            if delay is None:
                self.stats.memcached.miss(elapsed)
                return (yield from self._uncached())
            yield Sleep(delay, self.lease.sleep)

    def _read_versions(self, tags: list[str]) -> Steps[dict[str, int]]:
        """Versions of tags the entry names but the call did not (a second round trip)."""
        keys = [_keys.tag_key(self.app, tag) for tag in tags]
        try:
            read: Read = yield ReadCounters(self.key, keys)
        except CACHE_UNAVAILABLE:
            return {}
        return _known(tuple(tags), read[2])

    def _ensure_versions(self, tags: Iterable[str], known: dict[str, int]) -> Steps[bool]:
        for tag in tags:
            if tag not in known:
                created = yield EnsureCounter(_keys.tag_key(self.app, tag))
                version = _number(created.value)
                if version is None:
                    return False
                known[tag] = version
        return True

    def _compute(self, result: LeaseResult, known: dict[str, int]) -> Steps[Outcome]:
        try:
            versioned = yield from self._ensure_versions(self.tags, known)
        except CACHE_UNAVAILABLE:
            versioned = False
        if not versioned:
            yield from c._release(self.key, result)
            return (yield from self._uncached())
        try:
            value = yield from self._load()
        except BaseException:
            yield from c._release(self.key, result)
            raise
        tags = list(self.tags)
        if self.result_tags is not None:
            tags += [t for t in dict.fromkeys(self.result_tags(value)) if t not in self.tags]
            try:
                versioned = yield from self._ensure_versions(tags, known)
            except CACHE_UNAVAILABLE:
                versioned = False
            if not versioned:
                yield from c._release(self.key, result)
                return Outcome(value, False, None)
        entry = Entry(value, tuple(tags), tuple(known[t] for t in tags), time.time())
        try:
            payload = _envelope.encode(entry, self.codec)
        except BaseException:
            yield from c._release(self.key, result)  # the next caller wins at once
            raise
        try:
            stored = yield FillEntry(self.key, payload, result.cas, self.ttl)
        except CACHE_UNAVAILABLE:
            self.stats.memcached.error()
            stored = False
        if stored:
            self.stats.memcached.fill()
        return Outcome(value, False, entry if stored else None)

    def _load(self) -> Steps[Any]:
        try:
            value = yield Load(self.fallback)
        except BaseException:
            self.stats.fallback(failed=True)
            raise
        self.stats.fallback(failed=False)
        return value

    def _uncached(self) -> Steps[Outcome]:
        return Outcome((yield from self._load()), False, None)


def _current(entry: Entry, versions: dict[str, int]) -> bool:
    """Whether every tag the entry names still has the version stored with it (a tag whose
    counter is gone is not: it was invalidated, or evicted and its history lost)."""
    if len(entry.tags) != len(entry.versions):
        return False  # not an entry this module wrote
    return all(versions.get(t) == v for t, v in zip(entry.tags, entry.versions, strict=True))


def plain_hit(read: Read, tags: tuple[str, ...]) -> Entry | None:
    """The entry, if `read` is a plain hit whose tags are current (the fast path: no further
    step). The common case, an entry stored with the call's own tags, is one tuple compare."""
    result, flags, versions = read
    if flags != _envelope.ENTRY_FLAGS or result.won or result.stale or not result.found:
        return None
    try:
        entry = _envelope.decode(result.value, flags)
    except SerializationError:
        return None  # corrupt: the read-through drops it
    if entry is None:
        return None
    if entry.tags == tags:
        return entry if entry.versions == tuple(versions) else None
    return entry if _current(entry, _known(tags, versions)) else None


def _decoded(result: LeaseResult, flags: int) -> Entry | None:
    """The entry read, or None: nothing found, another client's value, or a corrupt entry
    (each is dropped and computed again rather than failing the read)."""
    if not result.found:
        return None
    try:
        return _envelope.decode(result.value, flags)
    except SerializationError:
        return None


def _known(tags: tuple[str, ...], versions: list[int | None]) -> dict[str, int]:
    return {tag: v for tag, v in zip(tags, versions, strict=True) if v is not None}


def _number(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def read_sync(
    client: Client, call: TaggedRead, first: Read | BaseException | None, elapsed: float
) -> Outcome:
    """The read-through's steps with blocking calls, from the caller's first read (its
    outcome, the error it raised, or None if it made none)."""
    return c.run_sync(client, call.steps(client, first, elapsed))


async def read_async(
    client: AsyncClient, call: TaggedRead, first: Read | BaseException | None, elapsed: float
) -> Outcome:
    return await c.run_async(client, call.steps(client, first, elapsed))
