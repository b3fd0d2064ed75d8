"""Moving a cache from one cluster to another without a cold start.

A :class:`MigratingClient` wraps a client of the *origin* cluster and one of the *destination*
and behaves like a plain client whose traffic moves in five phases (:class:`Phase`):

``origin_only``
    Everything goes to the origin.
``dual_write``
    Writes go to the origin, then the destination; reads come from the origin.
``backfill``
    As ``dual_write``; besides, a fraction (``backfill_ratio``) of origin hits is copied into
    the destination with ``add`` (never overwriting), warming it.
``read_destination``
    Writes still go to both; reads come from the destination, and a miss there is read from
    the origin and backfilled.
``destination_only``
    Everything goes to the destination.

The phase can be fixed, or driven by wall-clock time with a :class:`Schedule`, so every process
of a fleet switches at the same moment without a deploy.

Consistency: no read returns a value older than the last acknowledged write.

- ``set`` reaches the origin first, then the destination *conditionally*: the destination write
  carries the CAS the item had before the origin write (or is an ``add`` if it was absent), so a
  slower concurrent writer cannot overwrite a newer value there. If it loses, the destination
  copy is replaced by a tombstone.
- Every other change (delete, add, replace, touch, incr/decr) leaves a tombstone in the
  destination: an item marked with reserved client flags and a short TTL (``tombstone_ttl``)
  that reads treat as a miss and that blocks backfills.
- Backfills only ever ``add``, so they cannot overwrite a newer value or a tombstone. A backfill
  racing with a write therefore cannot resurrect the value read just before it (unless it is
  slower than ``tombstone_ttl``).
- A change the destination may have missed is not undone by it. While the origin is written,
  it is authoritative, so a write the origin took is acknowledged even if neither the
  destination's write nor its tombstone lands (timeout, broken connection, cancellation), and
  so is a write whose origin call failed in a way that may still have applied it (that one is
  raised). Either way the key goes to the destination client's write-failure tracker
  (``destination.write_failures``): reads do not trust the destination's copy of it, and a
  delete is replayed there, in the background and before each such read, until one lands.
  Until then reads of the key come from the origin (``read_destination``) or miss
  (``destination_only``, where the origin is no longer written). Limits, those of the
  tracker: other processes do not know the key is pending (they may read the old copy until
  the replay lands), and a key the tracker drops (overflow, no open destination client) is
  reported through its ``on_event``, not repaired. A backfill that read the origin before
  such a write and lands after the replayed delete can still bring the old value back.
"""

from __future__ import annotations

import contextlib
import enum
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from memlease._client import AsyncClient, Client, _maybe_lost
from memlease._commands import (
    Add,
    At,
    Decr,
    Delete,
    Incr,
    MetaDelete,
    MetaGet,
    MetaSet,
    Replace,
    Set,
)
from memlease._core import MetaResult
from memlease._errors import InvalidArgument, MemcacheError
from memlease._steps import ClientCall, Invalidate, Steps, Touch, run_async, run_sync

__all__ = ["AsyncMigratingClient", "MigratingClient", "Phase", "Schedule"]

C = TypeVar("C", Client, AsyncClient)

DEFAULT_BACKFILL_RATIO = 0.1
DEFAULT_TOMBSTONE_TTL = 10
# Client flags marking a tombstone. High bits no serializer of memlease, pymemcache, pylibmc or
# python-memcached uses.
_TOMBSTONE_FLAGS = 0x4D4C0000  # "ML" << 16


class Phase(str, enum.Enum):
    ORIGIN_ONLY = "origin_only"
    DUAL_WRITE = "dual_write"
    BACKFILL = "backfill"
    READ_DESTINATION = "read_destination"
    DESTINATION_ONLY = "destination_only"

    @property
    def writes_origin(self) -> bool:
        return self is not Phase.DESTINATION_ONLY

    @property
    def writes_destination(self) -> bool:
        return self is not Phase.ORIGIN_ONLY

    @property
    def dual(self) -> bool:
        return self.writes_origin and self.writes_destination

    @property
    def reads_destination(self) -> bool:
        return self in (Phase.READ_DESTINATION, Phase.DESTINATION_ONLY)


class Schedule:
    """Phases by wall-clock time: ``Schedule([(t0, "dual_write"), (t1, "backfill"), ...])``.

    Before the first start the migration is ``origin_only``; afterwards the phase whose start
    is the latest one not in the future applies. Starts are Unix timestamps.
    """

    def __init__(
        self, steps: Iterable[tuple[float, Phase | str]], clock: Callable[[], float] = time.time
    ) -> None:
        self._steps = sorted((float(start), Phase(phase)) for start, phase in steps)
        self._clock = clock

    def phase(self) -> Phase:
        now = self._clock()
        current = Phase.ORIGIN_ONLY
        for start, phase in self._steps:
            if start > now:
                break
            current = phase
        return current


def _is_tombstone(result: Any) -> bool:
    return result is not None and result.client_flags == _TOMBSTONE_FLAGS


def _is_value(result: MetaResult | None) -> bool:
    """Whether a raw read found a value a plain read may return: not a miss, a tombstone, an
    item marked stale by an invalidation, or another reader's lease placeholder (an empty,
    flagless item with a win handed out on it)."""
    if result is None or result.status != "VA" or _is_tombstone(result) or result.stale:
        return False
    placeholder = (result.win or result.already_won) and not result.client_flags
    return not (placeholder and result.value in (b"", ""))


def _must_hand_on(result: MetaResult | None) -> bool:
    """memcached handed this read the refresh of a stale item; a plain read will not refresh,
    so it marks the item stale again (``md k I``), which hands the win to the next reader."""
    return result is not None and result.stale and result.win


# The meta protocol's words this module writes and checks (protocol.md): the reply code of a
# store or a value-less read that succeeded, and the flag asking a read for the item's CAS.
_DONE = "HD"
_WANT_CAS = "c"


def _set_flags(
    *, ttl: int, cas: int | None = None, add: bool = False, client_flags: int | None = None
) -> str:
    """The flags of an ``ms``: ``T<ttl>``; ``C<cas>``, store only over that CAS; ``ME``, the
    ``add`` mode (only if absent); ``F<client_flags>``, the item's client flags."""
    words = [f"T{ttl}"]
    if cas:
        words.append(f"C{cas}")
    if add:
        words.append("ME")
    if client_flags is not None:
        words.append(f"F{client_flags}")
    return " ".join(words)


def _conditional_write_flags(ttl: int, before: int | None) -> str | None:
    """The destination write of a ``set``: only over the item whose CAS was read before the
    origin write (``add`` if it was absent), so a slower concurrent writer loses. None when
    that CAS could not be read: then only a tombstone is safe."""
    if before is None:
        return None
    return _set_flags(ttl=ttl, cas=before, add=not before)


def _cas_read(found: MetaResult) -> int:
    """The CAS a ``mg k c`` read found (0: the item is absent)."""
    return found.cas or 0 if found.status == _DONE else 0


class _Migration:
    """What the sync and async migrating clients share: the phase and the decisions."""

    def __init__(
        self,
        phase: Phase | str | None,
        schedule: Schedule | None,
        backfill_ratio: float,
        tombstone_ttl: int,
    ) -> None:
        if (phase is None) == (schedule is None):
            raise InvalidArgument("give exactly one of phase= and schedule=")
        if not 0.0 <= backfill_ratio <= 1.0:
            raise InvalidArgument("backfill_ratio must be in [0, 1]")
        if tombstone_ttl <= 0:
            raise InvalidArgument("tombstone_ttl must be a positive number of seconds")
        self._fixed = Phase(phase) if phase is not None else None
        self._schedule = schedule
        self.backfill_ratio = backfill_ratio
        self.tombstone_ttl = tombstone_ttl
        self.tombstone_flags = _set_flags(ttl=tombstone_ttl, client_flags=_TOMBSTONE_FLAGS)

    @property
    def phase(self) -> Phase:
        if self._fixed is not None:
            return self._fixed
        assert self._schedule is not None
        return self._schedule.phase()

    def should_backfill(self, phase: Phase) -> bool:
        if phase is Phase.READ_DESTINATION:
            return True
        return phase is Phase.BACKFILL and random.random() < self.backfill_ratio


class _Migrating(Generic[C]):
    """What both migrating clients do, as steps (``_steps``): each public method of
    :class:`MigratingClient` and :class:`AsyncMigratingClient` carries out one of these with
    blocking or awaited calls."""

    def __init__(
        self,
        origin: C,
        destination: C,
        *,
        phase: Phase | str | None = None,
        schedule: Schedule | None = None,
        backfill_ratio: float = DEFAULT_BACKFILL_RATIO,
        tombstone_ttl: int = DEFAULT_TOMBSTONE_TTL,
    ) -> None:
        self.origin: C = origin
        self.destination: C = destination
        self._migration = _Migration(phase, schedule, backfill_ratio, tombstone_ttl)

    @property
    def phase(self) -> Phase:
        return self._migration.phase

    # Reads

    def _get(self, key: Any, default: Any) -> Steps[Any]:
        phase = self.phase
        if not phase.reads_destination:
            result = yield from self._read(self.origin, key)
            if not _is_value(result):
                return default
            if phase.dual and self._migration.should_backfill(phase):
                yield from self._backfill(key, result.value)
            return result.value
        found = yield from self._read_destination(key)
        if _is_value(found):
            return found.value  # type: ignore[union-attr]
        if phase is Phase.DESTINATION_ONLY:
            return default
        # A miss, a tombstone or an untrusted copy: the origin is still authoritative. A
        # tombstone blocks the backfill, so only a plain miss is worth one.
        result = yield from self._read(self.origin, key)
        if not _is_value(result):
            return default
        if found is not None and not _is_tombstone(found):
            yield from self._backfill(key, result.value)
        return result.value

    @staticmethod
    def _read(client: Client | AsyncClient, key: Any) -> Steps[MetaResult]:
        result: MetaResult = yield At(client, MetaGet(key, "v"))
        if _must_hand_on(result):
            with contextlib.suppress(MemcacheError):
                yield At(client, MetaDelete(key, "I"))
        return result

    def _read_destination(self, key: Any) -> Steps[MetaResult | None]:
        """The destination's item, or None while its copy cannot be trusted: a change it may
        have missed is pending repair, and replaying it now failed too."""
        if self.destination._invalidation_pending(key):
            try:
                # On success, the tracker forgets the key.
                yield At(self.destination, Invalidate(key))
            except MemcacheError:
                return None
        return (yield from self._read(self.destination, key))

    def _get_many(self, keys: Iterable[Any]) -> Steps[dict[Any, Any]]:
        found = {}
        for key in keys:
            value = yield from self._get(key, _MISSING)
            if value is not _MISSING:
                found[key] = value
        return found

    def _backfill(self, key: Any, value: Any) -> Steps[None]:
        # add: never overwrite what a writer (or a tombstone) put there since we read.
        with contextlib.suppress(MemcacheError):
            yield At(self.destination, Add(key, value))

    # Writes

    def _set(self, key: Any, value: Any, ttl: int) -> Steps[bool]:
        phase = self.phase
        if not phase.writes_origin:
            return bool((yield At(self.destination, Set(key, value, ttl))))
        if not phase.writes_destination:
            return bool((yield At(self.origin, Set(key, value, ttl))))
        before = yield from self._destination_cas(key)
        try:
            stored = bool((yield At(self.origin, Set(key, value, ttl))))
        except BaseException as error:
            self._origin_failed(key, error)
            raise
        flags = _conditional_write_flags(ttl, before) if stored else None
        yield from self._follow_in_destination(key, self._conditional_write(key, value, flags))
        return stored

    def _conditional_write(self, key: Any, value: Any, flags: str | None) -> Steps[bool]:
        if flags is None:
            return False
        written: MetaResult = yield At(self.destination, MetaSet(key, value, flags))
        return written.status == _DONE

    def _destination_cas(self, key: Any) -> Steps[int | None]:
        """The destination item's CAS (0 if absent), or None if it cannot be read."""
        try:
            found: MetaResult = yield At(self.destination, MetaGet(key, _WANT_CAS))
        except MemcacheError:
            return None
        return _cas_read(found)

    def _set_many(self, mapping: Mapping[Any, Any], ttl: int) -> Steps[list[Any]]:
        failed = []
        for key, value in mapping.items():
            if not (yield from self._set(key, value, ttl)):
                failed.append(key)
        return failed

    def _delete_many(self, keys: Sequence[Any]) -> Steps[int]:
        deleted = 0
        for key in keys:
            deleted += bool((yield from self._change(Delete(key), key)))
        return deleted

    def _change(self, change: ClientCall, key: Any) -> Steps[Any]:
        """Apply a change to the origin and tombstone the destination copy (or, once the
        destination is the only cluster, apply it there)."""
        phase = self.phase
        if not phase.writes_origin:
            return (yield At(self.destination, change))
        if not phase.writes_destination:
            return (yield At(self.origin, change))
        try:
            result = yield At(self.origin, change)
        except BaseException as error:
            self._origin_failed(key, error)
            raise
        yield from self._follow_in_destination(key, _nothing_written())
        return result

    def _follow_in_destination(self, key: Any, write: Steps[bool]) -> Steps[None]:
        """The origin changed `key`: bring the destination's copy along with `write`, or if
        that does not land (False or an error), replace it with a tombstone. If neither lands,
        the destination's tracker takes the key (module docs); a cancellation or interrupt
        is recorded the same way, then goes on."""
        try:
            with contextlib.suppress(MemcacheError):
                if (yield from write):
                    return
            yield At(self.destination, MetaSet(key, b"", self._migration.tombstone_flags))
        except BaseException as error:
            self.destination._record_lost([key], None, error)
            if not isinstance(error, MemcacheError):
                raise

    def _origin_failed(self, key: Any, error: BaseException) -> None:
        """The origin call raised; if it may have applied the change anyway, the destination's
        copy is no longer trusted (tracked, no further I/O here)."""
        if _maybe_lost(error):
            self.destination._record_lost([key], None, error)


def _nothing_written() -> Steps[bool]:
    return False
    yield  # a generator: the steps of a write that writes nothing


class _Missing:
    pass


_MISSING = _Missing()


class MigratingClient(_Migrating[Client]):
    """A client whose traffic moves from ``origin`` to ``destination`` in phases (module docs).

    Supports the key-value methods of :class:`memlease.Client`: ``get``, ``get_many``, ``set``,
    ``set_many``, ``add``, ``replace``, ``delete``, ``delete_many``, ``touch``, ``incr`` and
    ``decr`` (counters move by being deleted from the destination on every change until
    ``read_destination``, then live on the destination).
    """

    def get(self, key: Any, default: Any = None) -> Any:
        return run_sync(None, self._get(key, default))

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return run_sync(None, self._get_many(keys))

    def set(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return run_sync(None, self._set(key, value, ttl))

    def add(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return bool(run_sync(None, self._change(Add(key, value, ttl), key)))

    def replace(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return bool(run_sync(None, self._change(Replace(key, value, ttl), key)))

    def touch(self, key: Any, ttl: int) -> bool:
        return bool(run_sync(None, self._change(Touch(key, ttl), key)))

    def delete(self, key: Any) -> bool:
        return bool(run_sync(None, self._change(Delete(key), key)))

    def incr(
        self, key: Any, delta: int = 1, *, initial: int | None = None, ttl: int = 0
    ) -> int | None:
        return run_sync(None, self._change(Incr(key, delta, initial, ttl), key))  # type: ignore[no-any-return]

    def decr(
        self, key: Any, delta: int = 1, *, initial: int | None = None, ttl: int = 0
    ) -> int | None:
        return run_sync(None, self._change(Decr(key, delta, initial, ttl), key))  # type: ignore[no-any-return]

    def set_many(self, mapping: Mapping[Any, Any], ttl: int = 0) -> list[Any]:
        return run_sync(None, self._set_many(mapping, ttl))

    def delete_many(self, keys: Sequence[Any]) -> int:
        return run_sync(None, self._delete_many(keys))

    def close(self) -> None:
        self.origin.close()
        self.destination.close()

    def __enter__(self) -> MigratingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMigratingClient(_Migrating[AsyncClient]):
    """:class:`MigratingClient` for :class:`memlease.AsyncClient`: the same phases and methods,
    awaitable."""

    async def get(self, key: Any, default: Any = None) -> Any:
        return await run_async(None, self._get(key, default))

    async def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return await run_async(None, self._get_many(keys))

    async def set(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return await run_async(None, self._set(key, value, ttl))

    async def add(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return bool(await run_async(None, self._change(Add(key, value, ttl), key)))

    async def replace(self, key: Any, value: Any, ttl: int = 0) -> bool:
        return bool(await run_async(None, self._change(Replace(key, value, ttl), key)))

    async def touch(self, key: Any, ttl: int) -> bool:
        return bool(await run_async(None, self._change(Touch(key, ttl), key)))

    async def delete(self, key: Any) -> bool:
        return bool(await run_async(None, self._change(Delete(key), key)))

    async def incr(
        self, key: Any, delta: int = 1, *, initial: int | None = None, ttl: int = 0
    ) -> int | None:
        return await run_async(None, self._change(Incr(key, delta, initial, ttl), key))

    async def decr(
        self, key: Any, delta: int = 1, *, initial: int | None = None, ttl: int = 0
    ) -> int | None:
        return await run_async(None, self._change(Decr(key, delta, initial, ttl), key))

    async def set_many(self, mapping: Mapping[Any, Any], ttl: int = 0) -> list[Any]:
        return await run_async(None, self._set_many(mapping, ttl))

    async def delete_many(self, keys: Sequence[Any]) -> int:
        return await run_async(None, self._delete_many(keys))

    async def close(self) -> None:
        await self.origin.close()
        await self.destination.close()

    async def __aenter__(self) -> AsyncMigratingClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
