"""The in-process layer scenario (local_hit): memlease's LocalLayer against cachetools'
TTLCache behind a threading.Lock, the usual way a Python service keeps values in process."""

from __future__ import annotations

import threading
from importlib.metadata import version
from typing import Any

from memlease._core import LocalLayer

from .client_api import BenchClient
from .dataset import SMALL_KEYS, SMALL_VALUE

# Both caches hold every key, well under their bound, and nothing expires during a run.
LOCAL_MAX_ENTRIES = 10_000
LOCAL_TTL = 3600.0


def filled_local_layer() -> LocalLayer:
    """memlease's in-process layer, holding SMALL_KEYS (tagged, like a named cache's entries)."""
    layer = LocalLayer(LOCAL_MAX_ENTRIES, LOCAL_TTL)
    for key in SMALL_KEYS:
        layer.put(key, SMALL_VALUE, tags=("bench", key))
    return layer


class CachetoolsClient(BenchClient):
    """cachetools.TTLCache guarded by a lock: ``with lock: cache.get(key)`` per hit."""

    name = "cachetools"
    scenarios = frozenset({"local_hit"})
    local_layer = True

    def __init__(self, _address: str) -> None:
        from cachetools import TTLCache

        self._lock = threading.Lock()
        self._cache: TTLCache[str, bytes] = TTLCache(maxsize=LOCAL_MAX_ENTRIES, ttl=LOCAL_TTL)
        for key in SMALL_KEYS:
            self._cache[key] = SMALL_VALUE

    def local_get(self, key: str) -> Any:
        with self._lock:
            return self._cache.get(key)

    get = local_get

    def describe(self) -> str:
        return (
            f"cachetools {version('cachetools')} TTLCache(maxsize={LOCAL_MAX_ENTRIES}, "
            f"ttl={LOCAL_TTL:.0f}) under a threading.Lock (local_hit only)"
        )

    def close(self) -> None:
        self._cache.clear()
