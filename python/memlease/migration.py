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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memlease._client import AsyncClient, Client
from memlease._commands import Add, Decr, Delete, Incr, Replace
from memlease._migrating import Migrating
from memlease._migration_plan import DEFAULT_BACKFILL_RATIO as DEFAULT_BACKFILL_RATIO
from memlease._migration_plan import DEFAULT_TOMBSTONE_TTL as DEFAULT_TOMBSTONE_TTL
from memlease._migration_plan import Phase, Schedule
from memlease._steps import Touch, run_async, run_sync

__all__ = ["AsyncMigratingClient", "MigratingClient", "Phase", "Schedule"]

# Documented (and pickled) under this module, where they are imported from.
Phase.__module__ = Schedule.__module__ = __name__


class MigratingClient(Migrating[Client]):
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


class AsyncMigratingClient(Migrating[AsyncClient]):
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
