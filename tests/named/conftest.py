"""Named-cache fixtures: `named` runs a test with a `Client` manager and with an `AsyncClient`
one (on the event loop's own I/O and on the runtime's), behind one synchronous interface."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from memlease import CacheManager
from memlease.named import NamedCache
from tests.conftest import AwaitingClient, EventLoopThread


class Named:
    """Drives named caches of one flavour: every call is made with the sync method or awaited
    on the background loop, so one assertion checks both."""

    def __init__(self, make_client: Callable[..., Any], address: str, runner: EventLoopThread):
        self._make_client = make_client
        self.address = address
        self.runner = runner
        self.managers: list[CacheManager] = []
        self.client = self.make_client()
        self.client.flush_all()

    def make_client(self, *args: Any, **kwargs: Any) -> Any:
        """A raw client of this flavour (the wrapper, for direct commands)."""
        return self._make_client(*args or (self.address,), **kwargs)

    @property
    def is_async(self) -> bool:
        return isinstance(self.client, AwaitingClient)

    def manager(self, app: str = "shop", client: Any = None, **kwargs: Any) -> CacheManager:
        wrapper = client if client is not None else self.client
        manager = CacheManager(getattr(wrapper, "inner", wrapper), app, **kwargs)
        self.managers.append(manager)
        return manager

    def get(self, cache: NamedCache, id: Any, fallback: Callable[[], Any], **kwargs: Any) -> Any:
        if self.is_async:
            return self.runner.run(lambda: cache.aget(id, fallback, **kwargs))
        return cache.get(id, fallback, **kwargs)

    def invalidate(self, cache: NamedCache, id: Any) -> bool:
        if self.is_async:
            return bool(self.runner.run(lambda: cache.ainvalidate(id)))
        return cache.invalidate(id)

    def invalidate_tags(self, manager: CacheManager, tags: Any) -> None:
        if self.is_async:
            self.runner.run(lambda: manager.ainvalidate_tags(tags))
        else:
            manager.invalidate_tags(tags)

    def in_scope(
        self, manager: CacheManager, reads: list[tuple[NamedCache, Any, Any]]
    ) -> list[Any]:
        """`get` each `(cache, id, fallback)` in order, inside one request scope."""
        if self.is_async:

            async def scoped() -> list[Any]:
                async with manager.request_scope():
                    return [await cache.aget(id, fallback) for cache, id, fallback in reads]

            return list(self.runner.run(scoped))
        with manager.request_scope():
            return [cache.get(id, fallback) for cache, id, fallback in reads]

    def server_stats(self) -> dict[str, int | float | str]:
        return next(iter(self.client.stats().values()))

    def close(self) -> None:
        for manager in self.managers:
            manager.close()


@pytest.fixture
def named(
    server: Any, make_client: Callable[..., Any], loop_thread: EventLoopThread
) -> Iterator[Named]:
    harness = Named(make_client, server.address, loop_thread)
    yield harness
    harness.close()


class Calls:
    """A fallback that counts its calls and returns `value` (or what `make()` returns)."""

    def __init__(self, value: Any = "fresh") -> None:
        self.value = value
        self.count = 0

    def __call__(self) -> Any:
        self.count += 1
        return self.value
