"""A data-access layer's cache discipline, in one object per entity type.

A :class:`Repository` wraps the source of truth's read functions and the application's write
functions so the order of cache and database operations cannot be got wrong:

- **Read** (``get(id=1)``, ``get(email="ada@example.com")``): read-through with a lease
  (``Client.get_or_compute``): one loader call per missing key however many callers, and a
  computation that overlapped a write is never stored.
- **Update / delete** (``update(entity, write)``): first lower the TTL of every cached key of
  the entity to ``pre_write_ttl`` (so if the invalidation below is lost, the cache heals within
  seconds), run the caller's database write, then invalidate every key of the entity before
  and after the write: delete them, or mark them stale (``stale_ttl``) so readers that accept
  stale values keep being served while one refreshes. Invalidation happens even if the write
  raised (it may have committed). Failed invalidations go to the client's write-failure
  tracker and are replayed.
- **Create** (``create(write)``): run the write, then invalidate the new entity's keys, so
  neither a cached "not found" (``none_ttl``) nor a lease taken before the insert survives.
- **Cancellation**: an ``AsyncRepository`` write, once started, runs to its end with its
  invalidations even if the caller is cancelled (the new entity's keys are known only after
  the write); ``AsyncClient.close()`` waits for it (up to 10 s). Only the event loop's own
  shutdown can cut it short. A write cut short that way, or a sync write interrupted by
  ``KeyboardInterrupt``, hands the keys it knows of to the write-failure tracker; keys only
  the new version has are then not invalidated.

Keys are ``"<name>:<lookup>:<value>"``, one per lookup (``id``, ``email`` ...), all derived from
the entity by ``lookups`` and all invalidated together.

Consistency: a read that does not return a stale-flagged value returns what the database held
at some moment between the start of the read and its end, where a write through the
repository takes effect at some moment during its ``update``/``create``/``delete`` call. (The
database commit happens inside that call; the cache cannot learn of it sooner than the
invalidation that follows.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from memlease._client import AsyncClient, Client
from memlease._consistency import CACHE_UNAVAILABLE
from memlease._errors import InvalidArgument
from memlease._policies import (
    DEFAULT_LEASE,
    LeasePolicy,
    ReadThroughPolicy,
    StalePolicy,
    check_beta,
)
from memlease._steps import GetOrCompute, InvalidateMany, Load, Steps, Touch, run_async, run_sync

log = logging.getLogger("memlease")

E = TypeVar("E")
R = TypeVar("R")

__all__ = ["AsyncRepository", "Repository"]


class _Rules(Generic[E]):
    """What both repositories share: keys and the order of operations, as steps."""

    client: Client | AsyncClient

    def __init__(
        self,
        name: str,
        *,
        load: Mapping[str, Callable[[Any], Any]],
        lookups: Callable[[E], Mapping[str, Any]],
        ttl: int = 300,
        pre_write_ttl: int = 5,
        stale_ttl: int | None = None,
        lease: LeasePolicy | None = DEFAULT_LEASE,
        stale: StalePolicy | None = None,
        beta: float | None = None,
        none_ttl: int | None = None,
    ) -> None:
        if not name or ":" in name:
            raise InvalidArgument("name must be non-empty and contain no ':'")
        if not load:
            raise InvalidArgument("load needs at least one lookup: {'id': load_by_id}")
        if ttl <= 0 or pre_write_ttl <= 0:
            raise InvalidArgument("ttl and pre_write_ttl must be positive numbers of seconds")
        check_beta(beta)
        self.name = name
        self.load = dict(load)
        self.lookups = lookups
        self.ttl = ttl
        self.pre_write_ttl = pre_write_ttl
        self.stale_ttl = stale_ttl
        self.lease = lease
        self.stale = stale
        self.beta = beta
        self.none_ttl = none_ttl

    def key(self, lookup: str, value: Any) -> str:
        """The cache key of the entity whose `lookup` is `value`."""
        if lookup not in self.load:
            raise InvalidArgument(
                f"{self.name}: unknown lookup {lookup!r} (known: {sorted(self.load)})"
            )
        return f"{self.name}:{lookup}:{value}"

    def keys_of(self, entity: Any) -> list[str]:
        """Every cache key of `entity` (none for ``None``)."""
        if entity is None:
            return []
        return [self.key(lookup, value) for lookup, value in self.lookups(entity).items()]

    def _one_lookup(self, lookup: Mapping[str, Any]) -> tuple[str, Any]:
        if len(lookup) != 1 or next(iter(lookup)) not in self.load:
            raise InvalidArgument(f"{self.name}: look up by exactly one of {sorted(self.load)}")
        ((name, value),) = lookup.items()
        return name, value

    # Steps

    def _get(self, lookup: Mapping[str, Any]) -> Steps[Any]:
        name, value = self._one_lookup(lookup)
        load = self.load[name]
        policy = ReadThroughPolicy(
            self.ttl, self.lease, stale=self.stale, beta=self.beta, none_ttl=self.none_ttl
        )
        return (yield GetOrCompute(self.key(name, value), lambda: load(value), policy))

    def _write(
        self, before: Iterable[str], write: Callable[[], Any], entity_after: bool
    ) -> Steps[Any]:
        """Lower the TTL of `before`, run `write`, invalidate `before` and (if `entity_after`)
        the keys of the entity the write returns."""
        before = list(before)
        for key in before:
            # If this fails, so will (probably) the invalidation below, which is tracked.
            with contextlib.suppress(*CACHE_UNAVAILABLE):
                yield Touch(key, self.pre_write_ttl)
        try:
            result = yield Load(write)
        except Exception:
            # The write's error is the one to raise; an invalidation's would only hide it.
            with contextlib.suppress(Exception):
                yield from self._invalidate(before)
            raise
        except BaseException as error:
            # Cancelled or interrupted (the write may have committed): no more I/O here, the
            # write-failure tracker invalidates in the background.
            self.client._record_lost(before, self.stale_ttl, error)
            raise
        after = self.keys_of(result) if entity_after else []
        yield from self._invalidate(dict.fromkeys([*before, *after]))
        return result

    def _invalidate(self, keys: Iterable[str]) -> Steps[None]:
        keys = list(keys)
        if not keys:
            return
        # The keys not reached are in the client's write-failure tracker, and replayed.
        with contextlib.suppress(*CACHE_UNAVAILABLE):
            yield InvalidateMany(keys, stale_ttl=self.stale_ttl)


class Repository(_Rules[E]):
    """Cache discipline for one entity type over a :class:`memlease.Client` (see the module
    docs). ``load`` maps each lookup to a source-of-truth read (``{"id": db.user_by_id,
    "email": db.user_by_email}``, returning ``None`` when absent); ``lookups(entity)`` gives
    the entity's value for each (``lambda u: {"id": u.id, "email": u.email}``)."""

    client: Client

    def __init__(self, client: Client, name: str, **options: Any) -> None:
        if not isinstance(client, Client):
            raise InvalidArgument(
                "Repository needs a memlease.Client (AsyncRepository for AsyncClient)"
            )
        super().__init__(name, **options)
        self.client = client

    def get(self, **lookup: Any) -> E | None:
        """The entity (``get(id=1)``), read through the cache; ``None`` if absent."""
        return run_sync(self.client, self._get(lookup))  # type: ignore[no-any-return]

    def create(self, write: Callable[[], E]) -> E:
        """Run `write` (it inserts and returns the new entity), then invalidate its keys."""
        return run_sync(self.client, self._write([], write, entity_after=True))  # type: ignore[no-any-return]

    def update(self, entity: E, write: Callable[[], E | None]) -> E | None:
        """Change `entity` (as cached now) with `write`, which returns the updated entity: keys
        of both versions are invalidated (an e-mail change drops the old e-mail's key)."""
        return run_sync(self.client, self._write(self.keys_of(entity), write, entity_after=True))  # type: ignore[no-any-return]

    def delete(self, entity: E, write: Callable[[], Any]) -> Any:
        """Delete `entity` with `write`; returns what `write` returns."""
        return run_sync(self.client, self._write(self.keys_of(entity), write, entity_after=False))

    def invalidate(self, entity: E) -> None:
        """Invalidate every key of `entity` (after a write made elsewhere)."""
        run_sync(self.client, self._invalidate(self.keys_of(entity)))


class AsyncRepository(_Rules[E]):
    """:class:`Repository` over a :class:`memlease.AsyncClient`; loaders and writes may be
    async functions."""

    client: AsyncClient

    def __init__(self, client: AsyncClient, name: str, **options: Any) -> None:
        if not isinstance(client, AsyncClient):
            raise InvalidArgument("AsyncRepository needs a memlease.AsyncClient")
        super().__init__(name, **options)
        self.client = client

    async def get(self, **lookup: Any) -> E | None:
        return await run_async(self.client, self._get(lookup))

    async def create(self, write: Callable[[], Any]) -> E:
        return await self._run_write(self._write([], write, entity_after=True))

    async def update(self, entity: E, write: Callable[[], Any]) -> E | None:
        return await self._run_write(self._write(self.keys_of(entity), write, entity_after=True))

    async def delete(self, entity: E, write: Callable[[], Any]) -> Any:
        return await self._run_write(self._write(self.keys_of(entity), write, entity_after=False))

    async def _run_write(self, steps: Steps[R]) -> R:
        """A write, once started, runs to its end with its invalidations: cancelling the caller
        cannot split "write" from "invalidate" (the new entity's keys are only known after the
        write). The caller is cancelled at once; the write finishes in the background."""
        task = asyncio.ensure_future(run_async(self.client, steps))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The client keeps the orphan alive, and its close() waits for it.
            self.client._orphans.add(task)
            task.add_done_callback(self.client._orphans.discard)
            task.add_done_callback(_log_orphaned_failure)
            raise

    async def invalidate(self, entity: E) -> None:
        await run_async(self.client, self._invalidate(self.keys_of(entity)))


def _log_orphaned_failure(task: asyncio.Future[Any]) -> None:
    """A write that finished after its caller was cancelled: its error has no one to reach but
    the log."""
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "memlease: a write failed after its caller was cancelled", exc_info=task.exception()
        )
