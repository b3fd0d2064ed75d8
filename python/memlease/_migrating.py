"""What both migrating clients do, written once as steps (``_steps``): reads, backfills, and
writes that keep the destination from going back in time (see :mod:`memlease.migration`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from memlease._client import AsyncClient, Client
from memlease._client_state import maybe_lost
from memlease._commands import Add, At, Delete, MetaDelete, MetaGet, MetaSet, Set
from memlease._core import MetaResult
from memlease._errors import MemcacheError
from memlease._migration_items import (
    DONE,
    WANT_CAS,
    cas_read,
    conditional_write_flags,
    is_tombstone,
    is_value,
    must_hand_on,
)
from memlease._migration_plan import (
    DEFAULT_BACKFILL_RATIO,
    DEFAULT_TOMBSTONE_TTL,
    Migration,
    Phase,
    Schedule,
)
from memlease._steps import ClientCall, Invalidate, Steps

C = TypeVar("C", Client, AsyncClient)


class Migrating(Generic[C]):
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
        self._migration = Migration(phase, schedule, backfill_ratio, tombstone_ttl)

    @property
    def phase(self) -> Phase:
        return self._migration.phase

    # Reads

    def _get(self, key: Any, default: Any) -> Steps[Any]:
        phase = self.phase
        if not phase.reads_destination:
            result = yield from self._read(self.origin, key)
            if not is_value(result):
                return default
            if phase.dual and self._migration.should_backfill(phase):
                yield from self._backfill(key, result.value)
            return result.value
        found = yield from self._read_destination(key)
        if is_value(found):
            return found.value  # type: ignore[union-attr]
        if phase is Phase.DESTINATION_ONLY:
            return default
        # A miss, a tombstone or an untrusted copy: the origin is still authoritative. A
        # tombstone blocks the backfill, so only a plain miss is worth one.
        result = yield from self._read(self.origin, key)
        if not is_value(result):
            return default
        if found is not None and not is_tombstone(found):
            yield from self._backfill(key, result.value)
        return result.value

    @staticmethod
    def _read(client: Client | AsyncClient, key: Any) -> Steps[MetaResult]:
        result: MetaResult = yield At(client, MetaGet(key, "v"))
        if must_hand_on(result):
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
        flags = conditional_write_flags(ttl, before) if stored else None
        yield from self._follow_in_destination(key, self._conditional_write(key, value, flags))
        return stored

    def _conditional_write(self, key: Any, value: Any, flags: str | None) -> Steps[bool]:
        if flags is None:
            return False
        written: MetaResult = yield At(self.destination, MetaSet(key, value, flags))
        return written.status == DONE

    def _destination_cas(self, key: Any) -> Steps[int | None]:
        """The destination item's CAS (0 if absent), or None if it cannot be read."""
        try:
            found: MetaResult = yield At(self.destination, MetaGet(key, WANT_CAS))
        except MemcacheError:
            return None
        return cas_read(found)

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
        if maybe_lost(error):
            self.destination._record_lost([key], None, error)


def _nothing_written() -> Steps[bool]:
    return False
    yield  # a generator: the steps of a write that writes nothing


class _Missing:
    pass


_MISSING = _Missing()
