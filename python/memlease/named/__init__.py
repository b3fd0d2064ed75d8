"""Named caches (issue 13): a service declares its caches by name on a :class:`CacheManager`
and reads through them with one call, over a request layer, an in-process layer and
memcached, with cache tags, runtime control and statistics. See ``_cache`` for the layers,
``_read`` for the tag protocol and ``_keys`` for the key schema."""

from __future__ import annotations

from memlease.named._cache import NamedCache
from memlease.named._manager import CacheManager
from memlease.named._scope import RequestScope

__all__ = ["CacheManager", "NamedCache", "RequestScope"]
