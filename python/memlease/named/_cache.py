"""``NamedCache``: one read-through call over the request, in-process and memcached layers.

``get(id, fallback)`` looks in the request scope, then the in-process layer, then memcached
(the leased, tag-checked read of ``_read``), then calls ``fallback()``; a value found in a
later layer is written back into the earlier ones. The in-process layer is consulted only
while the cache's current ``local_ttl`` is above 0; with ``enabled`` false the fallback is
called directly and no layer is read or written.

Tag guarantee: ``manager.invalidate_tags`` drops this process's in-process entries with those
tags at once, and every process's next memcached read of an entry with them is a miss. Other
processes may serve an in-process copy for up to their ``local_ttl``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from memlease import _core
from memlease._client import AsyncClient, Client
from memlease._consistency import CACHE_UNAVAILABLE
from memlease._errors import InvalidArgument
from memlease._policies import MAX_TTL, check_number
from memlease.named import _keys
from memlease.named._read import (
    LEASE_TTL,
    Outcome,
    TaggedRead,
    plain_hit,
    read_async,
    read_sync,
)
from memlease.named._stats import CacheStats

if TYPE_CHECKING:
    from memlease.named._config import CacheSettings
    from memlease.named._manager import CacheManager

_MISSING = object()
ResultTags = Callable[[Any], Iterable[str]] | None


def check_tags(tags: Any) -> tuple[str, ...]:
    """`tags` as a tuple without repeats (``InvalidArgument`` unless an iterable of non-empty
    str)."""
    if isinstance(tags, (str, bytes)):
        kind = type(tags).__name__
        raise InvalidArgument(f"tags must be an iterable of str, not a single {kind}")
    try:
        checked = tuple(dict.fromkeys(tags))
    except TypeError:
        raise InvalidArgument(f"tags must be an iterable of str, got {tags!r}") from None
    for tag in checked:
        if type(tag) is not str or not tag:
            raise InvalidArgument(f"a tag must be a non-empty str, got {tag!r}")
    return checked


def check_ttl(name: str, ttl: Any) -> int:
    check_number(name, ttl, 0, MAX_TTL, integer=True)
    return int(ttl)


class NamedCache:
    """A cache declared by name on a :class:`CacheManager`; see the module docs."""

    def __init__(
        self,
        manager: CacheManager,
        name: str,
        declared: tuple[Any, ...],
        defaults: CacheSettings,
        local_max_entries: int,
        request_layer: bool,
        compression: str | None,
        version: int,
    ) -> None:
        self.manager = manager
        self.name = name
        self.declared = declared  # the `cache()` arguments, to tell a conflicting redeclaration
        self.defaults = defaults  # as declared; the runtime config overrides them
        self._config = manager._config
        self.request_layer = request_layer
        self.compression = compression
        self.version = version
        self.stats = CacheStats()
        self.prefix = _keys.prefix(  # every key of this cache starts with it
            manager.app, name, version
        )
        self._local_max_entries = local_max_entries
        self._local: _core.LocalLayer | None = None  # made when local_ttl is first > 0
        self._scope: ContextVar[dict[str, Any] | None] = manager._scope
        # The client for this cache's flavour of calls (None: the other flavour, refused).
        client = manager.client
        self._sync_client = client if isinstance(client, Client) else None
        self._async_client = client if isinstance(client, AsyncClient) else None

    def __repr__(self) -> str:
        return f"<NamedCache {self.prefix}* {self.settings}>"

    @property
    def settings(self) -> CacheSettings:
        """The settings in force: the declaration with the runtime config applied (read on
        every call: a config change applies to the next one, without a restart)."""
        config = self._config
        return self.defaults if config is None else config.settings(self.name, self.defaults)

    def key(self, id: Any) -> str:
        """The memcached key of `id`: ``urn:<app>:<name>[@v<version>]:<id>``."""
        return self.prefix + _keys.id_text(id)

    # Reads.

    def get(
        self,
        id: Any,
        fallback: Callable[[], Any],
        *,
        tags: Iterable[str] = (),
        ttl: int | None = None,
        _result_tags: ResultTags = None,
    ) -> Any:
        """The value of `id` from the first layer that has it, else ``fallback()``'s (stored
        in memcached for `ttl` seconds, default the cache's, with `tags`)."""
        client = self._sync_client or self.manager._sync()
        settings = self.settings
        if not settings.enabled:
            return self._direct(fallback)
        key, tags, counters, near = self._start(id, tags, fallback, settings)
        if near is not None and near.found is not _MISSING:
            return near.found
        first: Any = None
        started = time.perf_counter()
        if not client._tracker.has_pending():
            # The fast path, written out (a plain hit makes no step and no read object).
            try:
                first = client._lease_get_with_counters(key, counters, lease_ttl=LEASE_TTL)
            except CACHE_UNAVAILABLE as error:
                first = error
            else:
                value = self._hit(first, tags, started, near, settings, id, fallback)
                if value is not _MISSING:
                    return value
        call = self._read(key, tags, counters, fallback, ttl, settings, _result_tags)
        outcome = read_sync(client, call, first, time.perf_counter() - started)
        return self._kept(outcome, near, id, fallback)

    async def aget(
        self,
        id: Any,
        fallback: Callable[[], Any],
        *,
        tags: Iterable[str] = (),
        ttl: int | None = None,
        _result_tags: ResultTags = None,
    ) -> Any:
        """:meth:`get` for an ``AsyncClient`` manager; `fallback` may be sync or async."""
        client = self._async_client or self.manager._async()
        settings = self.settings
        if not settings.enabled:
            return await self._adirect(fallback)
        key, tags, counters, near = self._start(id, tags, fallback, settings)
        if near is not None and near.found is not _MISSING:
            return near.found
        first: Any = None
        started = time.perf_counter()
        if not client._tracker.has_pending():
            try:
                first = await client._lease_get_with_counters(key, counters, lease_ttl=LEASE_TTL)
            except CACHE_UNAVAILABLE as error:
                first = error
            else:
                value = self._hit(first, tags, started, near, settings, id, fallback)
                if value is not _MISSING:
                    return value
        call = self._read(key, tags, counters, fallback, ttl, settings, _result_tags)
        outcome = await read_async(client, call, first, time.perf_counter() - started)
        return self._kept(outcome, near, id, fallback)

    def _hit(
        self,
        first: Any,
        tags: tuple[str, ...],
        started: float,
        near: _Lookup | None,
        settings: CacheSettings,
        id: Any,
        fallback: Callable[[], Any],
    ) -> Any:
        """The value if the first read is a plain hit (written back, offered to the shadow
        checks), else ``_MISSING``."""
        entry = plain_hit(first, tags)
        if entry is None:
            return _MISSING
        self.stats.memcached.hit(time.perf_counter() - started)
        if near is None and settings.shadow_percent <= 0:
            return entry.value
        return self._kept(Outcome(entry.value, True, entry), near, id, fallback)

    def _start(
        self, id: Any, tags: Iterable[str], fallback: Callable[[], Any], settings: CacheSettings
    ) -> tuple[str, tuple[str, ...], list[str], _Lookup | None]:
        """The key, the tags checked, their counters' keys, and the near layers' lookup (None
        when neither layer is in use)."""
        key = self.prefix + _keys.id_text(id)
        checked, counters = self.manager._tag_keys(tags)
        scope = self._scope.get() if self.request_layer else None
        if scope is None and settings.local_ttl <= 0:
            return key, checked, counters, None
        return key, checked, counters, _Lookup(self, id, key, fallback, scope, settings.local_ttl)

    def _read(
        self,
        key: str,
        tags: tuple[str, ...],
        counters: list[str],
        fallback: Callable[[], Any],
        ttl: int | None,
        settings: CacheSettings,
        result_tags: ResultTags,
    ) -> TaggedRead:
        ttl = settings.ttl if ttl is None else check_ttl("ttl", ttl)
        app = self.manager.app
        return TaggedRead(
            app, key, tags, counters, fallback, ttl, self.compression, self.stats, result_tags
        )

    def _kept(self, outcome: Outcome, near: _Lookup | None, id: Any, fallback: Any) -> Any:
        """The outcome's value, written back into the earlier layers; a hit is offered to the
        shadow checks."""
        entry = outcome.entry
        if outcome.hit and entry is not None:
            self.manager._shadow(self, id, entry, fallback)
        if near is not None:
            near.keep(outcome)
        return outcome.value

    def _direct(self, fallback: Callable[[], Any]) -> Any:
        """A disabled cache: the fallback, counted, and nothing else."""
        try:
            value = fallback()
        except BaseException:
            self.stats.fallback(failed=True)
            raise
        self.stats.fallback(failed=False)
        return value

    async def _adirect(self, fallback: Callable[[], Any]) -> Any:
        async def call() -> Any:
            value = fallback()
            return await value if inspect.isawaitable(value) else value

        try:
            value = await call()
        except BaseException:
            self.stats.fallback(failed=True)
            raise
        self.stats.fallback(failed=False)
        return value

    def _local_layer(self, local_ttl: float) -> _core.LocalLayer:
        local = self._local
        if local is None:
            local = self.manager._new_local_layer(self._local_max_entries, local_ttl)
            self._local = local
        return local

    # Invalidation.

    def invalidate(self, id: Any) -> bool:
        """Drop `id` from every layer of this process and from memcached (tracked: a failure
        is recorded for replay by the client's write-failure tracker, then raised). True if
        memcached held it."""
        client = self.manager._sync()
        return client.invalidate(self._forget_near(id))

    async def ainvalidate(self, id: Any) -> bool:
        client = self.manager._async()
        return await client.invalidate(self._forget_near(id))

    def _forget_near(self, id: Any) -> str:
        key = self.key(id)
        scope = self._scope.get()
        if scope is not None:
            scope.pop(key, None)
        if self._local is not None:
            self._local.remove(key)
        return key

    def _forget_tags(self, tags: tuple[str, ...]) -> None:
        if self._local is not None:
            self._local.remove_tags(list(tags))


class _Lookup:
    """One ``get`` through the request and in-process layers (done in the constructor:
    ``found`` is the value, or ``_MISSING``), then, with the memcached read-through's outcome,
    the write-back into those layers (:meth:`keep`)."""

    __slots__ = ("cache", "fallback", "found", "id", "key", "local", "scope", "token")

    def __init__(
        self,
        cache: NamedCache,
        id: Any,
        key: str,
        fallback: Callable[[], Any],
        scope: dict[str, Any] | None,
        local_ttl: float,
    ) -> None:
        self.cache, self.id, self.key, self.fallback = cache, id, key, fallback
        self.scope = scope
        self.local: Any = None
        self.token: Any = None
        self.found = self._near(scope, local_ttl)

    def _near(self, scope: dict[str, Any] | None, local_ttl: float) -> Any:
        stats, key = self.cache.stats, self.key
        if scope is not None:
            started = time.perf_counter()
            value = scope.get(key, _MISSING)
            elapsed = time.perf_counter() - started
            if value is not _MISSING:
                stats.request.hit(elapsed)
                return value
            stats.request.miss(elapsed)
        if local_ttl <= 0:
            return _MISSING
        local = self.cache._local_layer(local_ttl)
        started = time.perf_counter()
        entry = local.get(key)
        elapsed = time.perf_counter() - started
        if entry is None:
            stats.local.miss(elapsed)
            self.local, self.token = local, local.generation()
            return _MISSING
        stats.local.hit(elapsed)
        if scope is not None:
            scope[key] = entry.value
            stats.request.fill()
        self.cache.manager._shadow(self.cache, self.id, entry, self.fallback)
        return entry.value

    def keep(self, outcome: Outcome) -> None:
        """Write what memcached (or the fallback) gave back into the earlier layers."""
        cache, entry = self.cache, outcome.entry
        local_ttl = cache.settings.local_ttl
        if self.local is not None and entry is not None and local_ttl > 0:
            self.local.put(self.key, entry, tags=entry.tags, ttl=local_ttl, since=self.token)
            cache.stats.local.fill()
        if self.scope is not None:
            self.scope[self.key] = outcome.value
            cache.stats.request.fill()
