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

from memlease._errors import InvalidArgument
from memlease._policies import DEFAULT_LEASE, MAX_TTL, check_number
from memlease.named import _keys
from memlease.named._read import Outcome, TaggedRead, read_async, read_sync
from memlease.named._stats import CacheStats

if TYPE_CHECKING:
    from memlease.named._config import CacheSettings
    from memlease.named._manager import CacheManager

_MISSING = object()
ResultTags = Callable[[Any], Iterable[str]] | None


def check_tags(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, (str, bytes)):
        raise InvalidArgument(
            f"tags must be an iterable of str, not a single {type(tags).__name__}"
        )
    try:
        checked = tuple(dict.fromkeys(tags))
    except TypeError:
        raise InvalidArgument(f"tags must be an iterable of str, got {tags!r}") from None
    for tag in checked:
        _keys.tag_key("x", tag)  # raises InvalidArgument for anything but a non-empty str
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
        settings: CacheSettings,
        local_max_entries: int,
        request_layer: bool,
        compression: str | None,
        version: int,
    ) -> None:
        self.manager = manager
        self.name = name
        self.declared = declared  # the `cache()` arguments, to tell a conflicting redeclaration
        self.defaults = defaults  # as declared; the runtime config overrides them
        self.settings = settings  # replaced whole when the runtime config changes
        self.request_layer = request_layer
        self.compression = compression
        self.version = version
        self.stats = CacheStats()
        self.prefix = _keys.prefix(  # every key of this cache starts with it
            manager.app, name, version
        )
        self._local_max_entries = local_max_entries
        self._local: Any = None  # the in-process layer, made when local_ttl first is > 0
        self._scope: ContextVar[dict[str, Any] | None] = manager._scope

    def __repr__(self) -> str:
        return f"<NamedCache {self.prefix}* {self.settings}>"

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
        client = self.manager._sync()
        if not self.settings.enabled:
            return self._direct(fallback)
        lookup = _Lookup(self, id, fallback, tags, ttl, _result_tags)
        if lookup.found is not _MISSING:
            return lookup.found
        return lookup.keep(read_sync(client, lookup.read))

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
        client = self.manager._async()
        if not self.settings.enabled:
            return await self._adirect(fallback)
        lookup = _Lookup(self, id, fallback, tags, ttl, _result_tags)
        if lookup.found is not _MISSING:
            return lookup.found
        return lookup.keep(await read_async(client, lookup.read))

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

    def _local_layer(self) -> Any:
        local = self._local
        if local is None:
            local = self._local = self.manager._new_local_layer(self._local_max_entries)
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

    __slots__ = ("cache", "fallback", "found", "id", "key", "local", "read", "scope", "token")

    def __init__(
        self,
        cache: NamedCache,
        id: Any,
        fallback: Callable[[], Any],
        tags: Iterable[str],
        ttl: int | None,
        result_tags: ResultTags,
    ) -> None:
        settings = cache.settings
        self.cache, self.id, self.fallback = cache, id, fallback
        self.key = key = cache.key(id)
        checked = check_tags(tags)
        ttl = settings.ttl if ttl is None else check_ttl("ttl", ttl)
        self.scope = scope = cache._scope.get() if cache.request_layer else None
        self.local: Any = None
        self.token: Any = None
        self.found = self._near(scope, settings.local_ttl)
        if self.found is _MISSING:
            self.read = TaggedRead(
                cache.manager.app,
                key,
                checked,
                fallback,
                ttl,
                cache.compression,
                DEFAULT_LEASE,
                cache.stats,
                result_tags,
            )

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
        local = self.cache._local_layer()
        started = time.perf_counter()
        entry = local.get(key)
        elapsed = time.perf_counter() - started
        if entry is None:
            stats.local.miss(elapsed)
            self.local, self.token = local, local.token()
            return _MISSING
        stats.local.hit(elapsed)
        if scope is not None:
            scope[key] = entry.value
            stats.request.fill()
        self.cache.manager._shadow(self.cache, self.id, entry, self.fallback)
        return entry.value

    def keep(self, outcome: Outcome) -> Any:
        """Write what memcached (or the fallback) gave back into the earlier layers."""
        cache, entry = self.cache, outcome.entry
        if outcome.hit and entry is not None:
            cache.manager._shadow(cache, self.id, entry, self.fallback)
        if self.local is not None and entry is not None:
            local_ttl = cache.settings.local_ttl
            self.local.put(self.key, entry, tags=entry.tags, ttl=local_ttl, token=self.token)
            cache.stats.local.fill()
        if self.scope is not None:
            self.scope[self.key] = outcome.value
            cache.stats.request.fill()
        return outcome.value
