"""AsyncClient behaviour that only asyncio has: cancellation, many concurrent coroutines on
shared connections, several event loops, close() while operations run."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

import memlease
from memlease.testing import MemcachedServer

# Every test here runs with AsyncClient on each I/O path (the event loop, the runtime).
pytestmark = pytest.mark.usefixtures("async_io")

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await main()

    return asyncio.run(wrapper())


def test_methods_are_awaitable_and_context_manager_closes(server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            assert await c.set("a", {"x": 1}) is True
            assert await c.get("a") == {"x": 1}
        with pytest.raises(memlease.MemcacheConnectionError, match="closed"):
            await c.get("a")

    run(main)


def test_256_coroutines_share_one_connection_without_errors(server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            await c.set_many({f"k{i}": f"v{i}" for i in range(256)})

            async def reader(n: int) -> None:
                for _ in range(40):
                    assert await c.get(f"k{n}") == f"v{n}"

            await asyncio.gather(*(reader(n) for n in range(256)))
            stats = c.pool_stats()[server.address]
            # All of it pipelined over a single connection; nothing left queued.
            assert stats["multiplexed"] == 1
            assert stats["queued"] == 0

    run(main)


def test_replies_are_matched_to_their_requests_by_opaque(server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            await c.set_many({f"o{i}": i for i in range(100)})
            results = await asyncio.gather(
                *(c.meta_get(f"o{i % 100}", f"v k O{i}") for i in range(2000))
            )
            for i, result in enumerate(results):
                assert result.opaque == str(i).encode()
                assert result.key == f"o{i % 100}".encode()
                assert result.value == i % 100

    run(main)


def test_cancelling_thousands_of_calls_never_desynchronises(server: MemcachedServer) -> None:
    rng = random.Random(7)
    keys = {f"c{i}": os.urandom(rng.randrange(1, 3000)) for i in range(200)}

    async def main() -> None:
        async with memlease.AsyncClient(server.address, timeout=2.0) as c:
            await c.set_many(keys)
            cancelled = 0
            for _round in range(25):
                tasks = []
                for _ in range(500):
                    key = rng.choice(list(keys))
                    op = rng.random()
                    if op < 0.7:
                        coro: Awaitable[Any] = c.get(key)
                    elif op < 0.9:
                        coro = c.get_many(rng.sample(list(keys), 5))
                    else:
                        coro = c.set(key, keys[key])
                    tasks.append(asyncio.ensure_future(coro))
                # Cancel random subsets at random moments while they are in flight: the first
                # wave right after every task has sent its request, later ones after a while.
                for wave in range(rng.randrange(1, 4)):
                    await asyncio.sleep(0 if wave == 0 else rng.random() / 1000)
                    for task in rng.sample(tasks, 100):
                        if task.cancel():
                            cancelled += 1
                await asyncio.gather(*tasks, return_exceptions=True)
            assert cancelled > 1000
            # Every later read returns its own key's value.
            for key, value in keys.items():
                assert await c.get(key) == value
            assert await c.get_many(list(keys)) == keys
            stats = c.pool_stats()[server.address]
            assert stats["queued"] == 0
            assert stats["multiplexed"] <= 16

    run(main)


def test_wait_for_timeouts_leave_the_client_usable(own_server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(
            own_server.address, timeout=0.3, failures_to_mark_down=1000
        ) as c:
            await c.set("k", "v")
            own_server.freeze()
            try:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(c.get("k"), 0.05)
                # The client's own timeout fires too, as ReadTimeout.
                with pytest.raises(memlease.ReadTimeout):
                    await c.get("k")
            finally:
                own_server.thaw()
            assert await c.get("k") == "v"
            await c.set("k2", "v2")
            assert await c.get_many(["k", "k2"]) == {"k": "v", "k2": "v2"}

    run(main)


def test_a_frozen_server_costs_at_most_the_timeout(own_server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(
            own_server.address, timeout=0.2, failures_to_mark_down=1000
        ) as c:
            await c.set("k", 1)
            own_server.freeze()
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                results = await asyncio.gather(
                    *(c.get("k") for _ in range(300)), return_exceptions=True
                )
                elapsed = loop.time() - started
            finally:
                own_server.thaw()
            assert all(isinstance(r, memlease.MemcacheTimeout) for r in results)
            # 0.2 s of read timeout, plus at most one pool_timeout wait for the queued ones.
            assert elapsed < 1.5
            assert await c.get("k") == 1

    run(main)


def test_close_waits_for_operations_in_flight(server: MemcachedServer) -> None:
    async def main() -> None:
        c = memlease.AsyncClient(server.address)
        await c.set("k", "v")
        pending = [asyncio.ensure_future(c.get("k")) for _ in range(100)]
        await asyncio.sleep(0)
        await c.close()
        results = await asyncio.gather(*pending, return_exceptions=True)
        # Each call either completed or failed cleanly with the close; none hangs.
        assert all(r == "v" or isinstance(r, memlease.MemcacheConnectionError) for r in results)

    run(main)


def test_one_client_serves_successive_event_loops(server: MemcachedServer) -> None:
    c = memlease.AsyncClient(server.address)

    async def write() -> None:
        await c.set("loops", "first")

    async def read() -> Any:
        return await c.get("loops")

    run(write)
    assert run(read) == "first"
    run(c.close)


def test_fork_child_gets_its_own_runtime_and_connections(server: MemcachedServer) -> None:
    c = memlease.AsyncClient(server.address)

    async def use(value: str) -> Any:
        await c.set("fork", value)
        return await c.get("fork")

    assert run(lambda: use("parent")) == "parent"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if run(lambda: use("child")) == "child" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert run(lambda: use("parent again")) == "parent again"
    run(c.close)


def test_calling_outside_a_running_loop_is_a_clear_error(server: MemcachedServer) -> None:
    c = memlease.AsyncClient(server.address)
    with pytest.raises(RuntimeError, match="no running event loop"):
        c.get("k")
