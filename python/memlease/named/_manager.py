"""``CacheManager``: declares a service's named caches on one client, and owns what they
share: the app name in their keys, the tag counters, the request scope, the runtime config,
the shadow checks, the datasets, and ``stats()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

from memlease import _core
from memlease._client import AsyncClient, Client
from memlease._errors import InvalidArgument
from memlease._policies import check_number
from memlease.metrics import client_stats
from memlease.named import _envelope, _keys
from memlease.named._cache import NamedCache, check_tags, check_ttl
from memlease.named._config import CacheSettings, RuntimeConfig
from memlease.named._dataset import AsyncDataset, Dataset
from memlease.named._decorator import cached
from memlease.named._envelope import Entry
from memlease.named._scope import RequestScope
from memlease.named._shadow import OnMismatch, ShadowChecker

F = TypeVar("F", bound=Callable[..., Any])
MAX_TAG_SETS = 4096  # distinct tag tuples whose counter keys are remembered
_NO_SHADOW = {
    "checks": 0,
    "matches": 0,
    "mismatches": 0,
    "errors": 0,
    "dropped": 0,
    "staleness_p50_s": None,
    "staleness_max_s": None,
}


class CacheManager:
    """A service's named caches over one ``Client`` or ``AsyncClient``.

    ``config``: runtime settings per cache name (a dict, a JSON/TOML path, or a callable
    returning a dict), re-read every `reload_interval` seconds: ``enabled``, ``ttl``,
    ``local_ttl``, ``shadow_percent``. What ``cache()`` declares is the default. A bad config
    is logged and the last good one kept. ``on_mismatch(cache, id, cached, fresh)``: called
    after each shadow check that found the cache wrong (see ``_shadow``).
    """

    def __init__(
        self,
        client: Client | AsyncClient,
        app: str,
        *,
        config: Any = None,
        reload_interval: float = 10.0,
        on_mismatch: OnMismatch | None = None,
    ) -> None:
        if not isinstance(client, (Client, AsyncClient)):
            raise InvalidArgument(
                f"CacheManager needs a memlease Client or AsyncClient, got {client!r}"
            )
        check_number("reload_interval", reload_interval, 0.01, 86_400.0)
        self.client = client
        self.app = _keys.check_name("app", app)
        self.is_async = isinstance(client, AsyncClient)
        self._caches: dict[str, NamedCache] = {}
        self._tag_sets: dict[tuple[str, ...], tuple[tuple[str, ...], list[str]]] = {}
        self._scope: ContextVar[dict[str, Any] | None] = ContextVar(
            f"memlease.request_scope.{app}", default=None
        )
        self._on_mismatch = on_mismatch
        self._shadows: dict[str, ShadowChecker] = {}  # by cache name, made on first sample
        self._datasets: dict[str, Dataset | AsyncDataset] = {}
        self._config: RuntimeConfig | None = None
        if config is not None:
            self._config = RuntimeConfig(
                config, reload_interval=reload_interval, known=lambda: set(self._caches)
            )
            self._config.on_change(self._apply_config)

    # Declaring caches.

    def cache(
        self,
        name: str,
        *,
        ttl: int,
        local_ttl: float = 0,
        local_max_entries: int = 10_000,
        request_layer: bool = True,
        compression: str | None = None,
        version: int = 1,
        pool: str | None = None,
    ) -> NamedCache:
        """The cache `name`, declared now or before with the same settings (different ones
        raise ``InvalidArgument``). `ttl`: memcached seconds; `local_ttl`: in-process seconds
        (0: no in-process layer); `compression`: ``"zstd"``, ``"zlib"`` or None; `version`:
        bumping it orphans the old entries; `pool`: the client pool the keys must route to."""
        _keys.check_name("cache name", name)
        check_ttl("ttl", ttl)
        check_number("local_ttl", local_ttl, 0, 30 * 24 * 3600)
        check_number("local_max_entries", local_max_entries, 1, 1 << 40, integer=True)
        check_number("version", version, 1, 1 << 31, integer=True)
        if not isinstance(request_layer, bool):
            raise InvalidArgument(f"request_layer must be a bool, got {request_layer!r}")
        _envelope.check_codec(compression)
        declared = (ttl, local_ttl, local_max_entries, request_layer, compression, version, pool)
        existing = self._caches.get(name)
        if existing is not None:
            if existing.declared != declared:
                raise InvalidArgument(
                    f"cache {name!r} is already declared with other settings"
                    f" ({_describe(existing.declared)}; now {_describe(declared)})"
                )
            return existing
        defaults = CacheSettings(enabled=True, ttl=ttl, local_ttl=local_ttl, shadow_percent=0.0)
        cache = NamedCache(
            self,
            name,
            declared,
            defaults,
            local_max_entries,
            request_layer,
            compression,
            version,
        )
        if pool is not None:
            self._check_pool(cache, pool)
        self._caches[name] = cache
        return cache

    def _check_pool(self, cache: NamedCache, pool: str) -> None:
        """The cache's keys must route to `pool`: the client's ``routes=`` send a prefix of
        ``urn:<app>:<name>`` there (checked on a sample key, so a typo fails here)."""
        if not isinstance(pool, str) or not pool:
            raise InvalidArgument(f"pool must be a pool name, got {pool!r}")
        routed = self.client._pool_of(cache.key("probe"))
        if routed != pool:
            raise InvalidArgument(
                f"cache {cache.name!r} wants pool {pool!r}, but its keys ({cache.prefix}...)"
                f" route to pool {routed!r}: add routes={{{cache.prefix!r}: {pool!r}}} (or a"
                " shorter prefix of it) to the client"
            )

    def _apply_config(self, *_: Any) -> None:
        """The runtime config changed: in-process layers take their new TTL (entries already
        there keep the one they were stored with)."""
        for cache in list(self._caches.values()):
            local_ttl = cache.settings.local_ttl
            if cache._local is not None and local_ttl > 0:
                cache._local.configure(ttl=local_ttl)

    def _sync(self) -> Client:
        """The client, for a blocking call (refused on an ``AsyncClient`` manager)."""
        if isinstance(self.client, AsyncClient):
            raise InvalidArgument("this manager's client is an AsyncClient: use aget / ainvalidate")
        return self.client

    def _async(self) -> AsyncClient:
        """The client, for an awaited call (refused on a ``Client`` manager)."""
        if not isinstance(self.client, AsyncClient):
            raise InvalidArgument("this manager's client is a Client: use get / invalidate")
        return self.client

    def _new_local_layer(self, max_entries: int, ttl: float) -> _core.LocalLayer:
        return _core.LocalLayer(max_entries, ttl)

    # Request scope, tags.

    def request_scope(self) -> RequestScope:
        """``with manager.request_scope():`` / ``async with``: inside, each id is read past the
        request layer at most once (see ``_scope``)."""
        return RequestScope(self._scope)

    def invalidate_tags(self, tags: Iterable[str]) -> None:
        """Invalidate every entry carrying any of `tags`, in O(len(tags)): this process's
        in-process entries go at once; each tag's version counter is deleted in memcached
        (one batch per server), so every entry stored with it is a miss on its next read,
        in any process. A failure is recorded for replay (write-failure tracker), then raised."""
        self._sync().invalidate_many(self._forget_tags(tags))

    async def ainvalidate_tags(self, tags: Iterable[str]) -> None:
        await self._async().invalidate_many(self._forget_tags(tags))

    def _tag_keys(self, tags: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
        """`tags` checked, and their counters' keys; remembered for tuples (a call site's
        tags are usually one constant tuple, and escaping them is the costly part)."""
        remembered = isinstance(tags, tuple)
        if isinstance(tags, tuple):
            try:
                known = self._tag_sets.get(tags)
            except TypeError:  # an unhashable element: check_tags says what is wrong
                remembered = False
            else:
                if known is not None:
                    return known
        checked = check_tags(tags)
        found = (checked, [_keys.tag_key(self.app, tag) for tag in checked])
        if remembered:
            if len(self._tag_sets) >= MAX_TAG_SETS:
                self._tag_sets.clear()
            self._tag_sets[tags] = found  # type: ignore[index]  # a tuple, as checked
        return found

    def _forget_tags(self, tags: Iterable[str]) -> list[str]:
        checked = check_tags(tags)
        for cache in list(self._caches.values()):
            cache._forget_tags(checked)
        # The request scope keeps values without their tags: a request that invalidates a tag
        # and reads again must not be served what it read before, so the scope is emptied.
        scope = self._scope.get()
        if scope is not None:
            scope.clear()
        return [_keys.tag_key(self.app, tag) for tag in checked]

    # Decorator.

    def cached(
        self,
        name: str,
        *,
        key: Callable[..., Any] | None = None,
        tags: Iterable[str] | Callable[[tuple[Any, ...], Any], Iterable[str]] = (),
        ttl: int | None = None,
    ) -> Callable[[F], F]:
        """Cache a function's results in the cache `name` (declared with ``cache()``, or here
        with `ttl`). `key(*args, **kwargs)` gives the id (default: the positional arguments,
        one argument as itself); `tags`: an iterable, or ``tags(args, result)``. The wrapped
        function gains ``.invalidate(*args, **kwargs)`` (a coroutine for async functions)."""
        return cached(self, name, key, tags, ttl)

    # Shadow checks, stats.

    def _shadow(self, cache: NamedCache, id: Any, entry: Entry, fallback: Any) -> None:
        """A hit: offered to the cache's shadow checker when the cache shadows a share of
        reads (the checker samples, runs the fallback off the request path, compares)."""
        percent = cache.settings.shadow_percent
        if percent <= 0:
            return
        checker = self._shadows.get(cache.name)
        if checker is None:
            checker = self._shadows.setdefault(
                cache.name, ShadowChecker(on_mismatch=self._on_mismatch)
            )
        age = max(0.0, time.time() - entry.stored_at)
        checker.maybe_check(cache.name, id, entry.value, age, fallback, percent)

    # Datasets.

    def dataset(self, name: str, loader: Any, *, refresh_every: float) -> Dataset:
        """The dataset `name` (Farfetch's refresh-ahead): `loader()` returns the whole
        mapping; loaded now (a fresh snapshot another process stored, or the loader's), then
        refreshed every `refresh_every` seconds in the background, at most one process per
        period calling the loader. Served from memory: ``ds[k]``, ``ds.get(k)``. The same
        name again returns the same dataset. ``AsyncClient`` managers: :meth:`adataset`."""
        self._sync()
        existing = self._dataset_named(name)
        if existing is not None:
            return existing  # type: ignore[return-value]
        dataset = Dataset(self.client, self._dataset_key(name), loader, refresh_every=refresh_every)
        dataset.load()
        self._datasets[name] = dataset
        return dataset

    async def adataset(self, name: str, loader: Any, *, refresh_every: float) -> AsyncDataset:
        """:meth:`dataset` for an ``AsyncClient`` manager: loaded on the running loop, which
        then refreshes it; an ``async def`` loader is awaited, a plain one runs in a thread."""
        self._async()
        existing = self._dataset_named(name)
        if existing is not None:
            return existing  # type: ignore[return-value]
        key = self._dataset_key(name)
        dataset = AsyncDataset(self.client, key, loader, refresh_every=refresh_every)
        await dataset.load()
        return self._datasets.setdefault(name, dataset)  # type: ignore[return-value]

    def _dataset_named(self, name: str) -> Dataset | AsyncDataset | None:
        _keys.check_name("dataset name", name)
        return self._datasets.get(name)

    def _dataset_key(self, name: str) -> str:
        return f"urn:{self.app}#dataset:{name}"

    def stats(self) -> dict[str, Any]:
        """Per cache and layer: requests, hits, misses, fills, errors, latency p50/p99 (ms);
        fallback calls and errors; shadow checks. Plus datasets and the client's counters."""
        caches = {}
        for name, cache in list(self._caches.items()):
            snapshot = cache.stats.snapshot()
            checker = self._shadows.get(name)
            snapshot["shadow"] = checker.stats() if checker is not None else dict(_NO_SHADOW)
            caches[name] = snapshot
        return {
            "caches": caches,
            "datasets": {name: ds.stats() for name, ds in list(self._datasets.items())},
            "client": client_stats(self.client),
        }

    def close(self) -> None:
        """Stop the config reloads, the shadow checks and the datasets' refreshes (the client
        is the caller's to close). ``AsyncClient`` managers: ``await manager.aclose()``."""
        self._close_common()
        for dataset in list(self._datasets.values()):
            if isinstance(dataset, Dataset):
                dataset.close()

    async def aclose(self) -> None:
        self._close_common()
        for dataset in list(self._datasets.values()):
            if isinstance(dataset, AsyncDataset):
                await dataset.aclose()

    def _close_common(self) -> None:
        if self._config is not None:
            self._config.close()
        for checker in list(self._shadows.values()):
            checker.close(wait=False)


def _describe(declared: tuple[Any, ...]) -> str:
    names = (
        "ttl",
        "local_ttl",
        "local_max_entries",
        "request_layer",
        "compression",
        "version",
        "pool",
    )
    return ", ".join(f"{n}={v!r}" for n, v in zip(names, declared, strict=True))
