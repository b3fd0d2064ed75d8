"""A Django cache backend on memlease.

Configured like Django's own memcached backends::

    CACHES = {
        "default": {
            "BACKEND": "memlease.django.MemleaseCache",
            "LOCATION": ["10.0.0.1:11211", "10.0.0.2:11211"],  # or "a:11211;b:11211"
            "TIMEOUT": 300,
            "KEY_PREFIX": "shop",
            "OPTIONS": {"hashing": "ketama", "timeout": 0.5},  # memlease.Client options
        }
    }

It keeps Django's memcached semantics (timeouts, key validation, ``KEY_PREFIX`` / ``VERSION`` /
``KEY_FUNCTION``, pickled values, ints stored as text so ``incr`` is atomic on the server) and
differs where memlease can do better:

- One ``Client`` and one ``AsyncClient`` per configuration serve the whole process (Django
  builds a backend per thread and per override of ``CACHES``), and ``close()``, which Django
  calls after every request, keeps their pooled connections.
- The ``a*`` methods await ``AsyncClient`` itself (no ``sync_to_async`` thread hop); it runs
  on whichever event loop calls it, so a new loop per request, or ASGI and WSGI in one
  process, share it. Each loop has its own connections (``io="loop"``); where every request
  gets a new loop (async views under WSGI), ``OPTIONS={"io": "runtime"}`` shares pooled ones
  (measured: 300 ``async_to_sync(aget)`` calls opened 305 connections, against 2).
- ``get_or_set`` takes a memcached lease: concurrent callers of a missing key call `default`
  once, the others wait for its value (``Client.get_or_compute``). If memcached cannot be
  reached it returns `default` uncached instead of raising.
- An ``OPTIONS`` name that is not a ``Client`` option raises ``ImproperlyConfigured`` when
  the backend is built; memlease's own errors (``memlease.MemcacheError``) are not
  translated, except that an unpicklable value raises its ``pickle.PickleError`` as with
  Django's backends.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.memcached import BaseMemcachedCache
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation

import memlease
from memlease import _options

__all__ = ["MemleaseCache"]

# The names OPTIONS may use: every constructor option but the servers (LOCATION gives them).
CLIENT_OPTIONS = frozenset(_options.public_signature().parameters) - {"servers"}

_MISSING = object()
C = TypeVar("C", memlease.Client, memlease.AsyncClient)
T = TypeVar("T")


class _SharedClients:
    """The clients of every configuration, one of each class per configuration for the
    process: Django builds a backend per thread (and per override of ``CACHES`` in tests),
    and each client keeps pools, so building one per backend would multiply connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[type, str], Any] = {}

    def get(self, cls: type[C], servers: list[str], options: Mapping[str, Any]) -> C:
        # repr: option values may be unhashable (pools, routes); a configuration's values
        # are the same objects in every thread, so equal settings give equal keys.
        identity = (cls, repr((servers, sorted(options.items()))))
        with self._lock:
            client = self._clients.get(identity)
            if client is None:
                client = self._clients[identity] = cls(servers, **options)
            return client


_shared = _SharedClients()


class MemleaseCache(BaseMemcachedCache):
    """Django's cache API on :class:`memlease.Client` (sync methods) and
    :class:`memlease.AsyncClient` (``a*`` methods). See the module docstring."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params, library=memlease, value_not_found_exception=KeyError)
        unknown = set(self._options) - CLIENT_OPTIONS
        if unknown:
            raise ImproperlyConfigured(
                f"memlease.django.MemleaseCache: unknown OPTIONS {sorted(unknown)}; "
                f"OPTIONS are memlease.Client options: {', '.join(sorted(CLIENT_OPTIONS))}"
            )

    # Looked up once per backend: the registry's key costs a repr of the options.

    @cached_property
    def _cache(self) -> memlease.Client:
        return _shared.get(memlease.Client, list(self.client_servers), self._options)

    @cached_property
    def _async_cache(self) -> memlease.AsyncClient:
        return _shared.get(memlease.AsyncClient, list(self.client_servers), self._options)

    def close(self, **kwargs: Any) -> None:
        """Nothing: Django calls it after every request, and memlease's pools outlive requests
        (a broken connection is replaced by the pool itself)."""

    async def aclose(self, **kwargs: Any) -> None:
        """Nothing, as :meth:`close`."""

    # Reads.

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._cache.get(self.make_and_validate_key(key, version=version), default)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return await self._async_cache.get(key, default)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        originals = self._originals(keys, version)
        found = self._cache.get_many(originals)
        return {originals[k]: v for k, v in found.items()}

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        originals = self._originals(keys, version)
        found = await self._async_cache.get_many(originals)
        return {originals[k]: v for k, v in found.items()}

    # Writes. A Django timeout of 0 becomes memcached's -1: stored already expired.

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        with _unpicklable_raises_pickle_error():
            try:
                stored = self._cache.set(key, value, self.get_backend_timeout(timeout))
            except memlease.ValueTooLarge:
                self._cache.delete(key)  # no old value left behind (sessions rely on it)
                raise
        if not stored:
            self._cache.delete(key)

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        client = self._async_cache
        with _unpicklable_raises_pickle_error():
            try:
                ttl = self.get_backend_timeout(timeout)
                stored = await _written(lambda v: client.set(key, v, ttl), value)
            except memlease.ValueTooLarge:
                await client.delete(key)  # as in set()
                raise
        if not stored:
            await client.delete(key)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with _unpicklable_raises_pickle_error():
            return self._cache.add(key, value, self.get_backend_timeout(timeout))

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with _unpicklable_raises_pickle_error():
            ttl = self.get_backend_timeout(timeout)
            added: bool = await _written(lambda v: self._async_cache.add(key, v, ttl), value)
        return added

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        originals, safe = self._safe_mapping(data, version)
        with _unpicklable_raises_pickle_error():
            failed = self._cache.set_many(safe, self.get_backend_timeout(timeout))
        return [originals[k] for k in failed]

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        originals, safe = self._safe_mapping(data, version)
        with _unpicklable_raises_pickle_error():
            ttl = self.get_backend_timeout(timeout)
            failed = await _written(lambda m: self._async_cache.set_many(m, ttl), safe)
        return [originals[k] for k in failed]

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.touch(key, self.get_backend_timeout(timeout))

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        touched: bool = await self._async_cache.touch(key, self.get_backend_timeout(timeout))
        return touched

    # Deletes go through memlease's tracked invalidation: one that may not have reached the
    # server is replayed, so a stale value cannot outlive a failed delete.

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._cache.invalidate(self.make_and_validate_key(key, version=version))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return await self._async_cache.invalidate(self.make_and_validate_key(key, version=version))

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._cache.invalidate_many(list(self._originals(keys, version)))

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        await self._async_cache.invalidate_many(list(self._originals(keys, version)))

    def clear(self) -> None:
        self._cache.flush_all()

    async def aclear(self) -> None:
        await self._async_cache.flush_all()

    # Counters: memcached's own incr / decr, atomic on the server.

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        client = self._cache
        value = client.incr(key, delta) if delta >= 0 else client.decr(key, -delta)
        return _counted(key, value)

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        client = self._async_cache
        value = await (client.incr(key, delta) if delta >= 0 else client.decr(key, -delta))
        return _counted(key, value)

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version=version)

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self.aincr(key, -delta, version=version)

    # Read-through with a lease: one caller computes a missing value, the others wait for it.

    def get_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> Any:
        key, ttl, loader = self._read_through(key, default, timeout, version)
        if ttl < 0:
            # Timeout 0: nothing would be kept, so no lease to hold the others back.
            value = self._cache.get(key, _MISSING)
            return loader() if value is _MISSING else value
        with _unpicklable_raises_pickle_error():
            return self._cache.get_or_compute(key, loader, ttl, none_ttl=ttl)

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> Any:
        key, ttl, loader = self._read_through(key, default, timeout, version)
        client = self._async_cache
        if ttl < 0:  # as in get_or_set()
            value = await client.get(key, _MISSING)
            return loader() if value is _MISSING else value
        with _unpicklable_raises_pickle_error():
            return await client.get_or_compute(key, loader, ttl, none_ttl=ttl)

    def _read_through(
        self, key: Any, default: Any, timeout: Any, version: int | None
    ) -> tuple[str, int, Callable[[], Any]]:
        """``get_or_set``'s memcached key, TTL, and `default` as a loader (called if callable,
        else the value itself). A ``None`` from it is cached, as Django caches it."""
        loader = default if callable(default) else lambda: default
        key = self.make_and_validate_key(key, version=version)
        return key, self.get_backend_timeout(timeout), loader

    def _originals(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        """Each key's memcached key -> the key the caller gave."""
        return {self.make_and_validate_key(key, version=version): key for key in keys}

    def _safe_mapping(
        self, data: Mapping[Any, Any], version: int | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``set_many``'s keys as :meth:`_originals`, and its values under memcached keys."""
        originals = self._originals(data, version)
        return originals, {k: data[original] for k, original in originals.items()}


def _counted(key: str, value: int | None) -> int:
    """incr / decr's answer, or Django's ``ValueError`` for a missing key."""
    if value is None:
        raise ValueError(f"Key '{key}' not found")
    return value


@contextmanager
def _unpicklable_raises_pickle_error() -> Iterator[None]:
    """Raise the ``pickle.PickleError`` behind memlease's ``SerializationError``, as Django's
    own backends let it through (callers catch it)."""
    try:
        yield
    except memlease.SerializationError as error:
        if isinstance(error.__cause__, pickle.PickleError):
            raise error.__cause__ from error
        raise


async def _written(write: Callable[[Any], Awaitable[T]], value: Any) -> T:
    """``write(value)`` on the event loop, natively. A value whose pickling queries the
    database (a lazy ``QuerySet``: Django refuses queries in async code) is evaluated in a
    worker thread first, where Django's default ``aset`` ran the whole ``set``; only such a
    value pays for the thread and the extra pickling."""
    try:
        return await write(value)
    except memlease.SerializationError as error:
        if not isinstance(error.__cause__, SynchronousOnlyOperation):
            raise
    return await write(await sync_to_async(_evaluated)(value))


def _evaluated(value: Any) -> Any:
    """`value` after a pickle round trip: lazy parts (a QuerySet's rows) are fetched."""
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
