"""100 concurrent misses on one id run the fallback once (the lease), with threads on a
Client and with coroutines on an AsyncClient; tagged or not."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import memlease
from memlease import CacheManager

CALLERS = 100


class SlowSource:
    """A fallback slow enough that every caller arrives while it runs; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        time.sleep(0.2)
        return {"price": 7}

    async def coroutine(self) -> Any:
        self.calls += 1
        await asyncio.sleep(0.2)
        return {"price": 7}


@pytest.mark.parametrize("tags", [(), ("item-1", "shop-2")])
def test_threads_missing_one_id_run_the_fallback_once(server: Any, tags: tuple[str, ...]) -> None:
    source = SlowSource()
    with memlease.Client([server.address], max_connections=8) as client:
        client.flush_all()
        items = CacheManager(client, "shop").cache("items", ttl=60)
        results: list[Any] = []
        barrier = threading.Barrier(CALLERS)

        def read() -> None:
            barrier.wait()
            results.append(items.get(1, source, tags=tags))

        threads = [threading.Thread(target=read) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [{"price": 7}] * CALLERS
    assert source.calls == 1


@pytest.mark.parametrize("io", ["loop", "runtime"])
@pytest.mark.parametrize("tags", [(), ("item-1", "shop-2")])
def test_coroutines_missing_one_id_run_the_fallback_once(
    server: Any, io: str, tags: tuple[str, ...]
) -> None:
    source = SlowSource()

    async def main() -> list[Any]:
        async with memlease.AsyncClient([server.address], io=io) as client:
            await client.flush_all()
            items = CacheManager(client, "shop").cache("items", ttl=60)
            return await asyncio.gather(
                *(items.aget(1, source.coroutine, tags=tags) for _ in range(CALLERS))
            )

    assert asyncio.run(main()) == [{"price": 7}] * CALLERS
    assert source.calls == 1
