"""``MemleaseCache`` with its sync methods running its ``a*`` methods, for running Django's
own (sync) test suite against the native async methods.

Each call goes through ``asgiref``'s ``async_to_sync``, which, called outside an event loop,
runs the coroutine on a new event loop in a helper thread: consecutive calls come from
different loops and threads, as Django's async views calling the cache would.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from memlease.django import MemleaseCache

# Django's whole cache API; each name's a* twin must be MemleaseCache's native method, or
# Django's own a* method built only on those (has_key, incr_version, decr_version).
ROUTED = (
    "get",
    "set",
    "add",
    "delete",
    "get_many",
    "set_many",
    "delete_many",
    "incr",
    "decr",
    "touch",
    "has_key",
    "clear",
    "close",
    "get_or_set",
    "incr_version",
    "decr_version",
)


class AsyncRoutedCache(MemleaseCache):
    """``MemleaseCache``; ``get(...)`` is ``async_to_sync(aget)(...)``, and so on."""


def _routed(name: str) -> Any:
    twin = getattr(MemleaseCache, f"a{name}")

    def method(self: MemleaseCache, *args: Any, **kwargs: Any) -> Any:
        return async_to_sync(twin)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


for _name in ROUTED:
    setattr(AsyncRoutedCache, _name, _routed(_name))
