"""A client collected without close() lets its connections go (and AsyncClient says it was not
closed, with a ResourceWarning, as asyncio's own transports do)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import warnings
from collections.abc import Callable

import pytest

import memlease
from memlease.testing import MemcachedServer

# Every test here runs with AsyncClient on each I/O path (the event loop, the runtime).
pytestmark = pytest.mark.usefixtures("async_io")

DROPPED = 100
# Far below the minute an idle multiplexed connection lives: only a release on collection
# gets the counts back in time.
RELEASE_WITHIN = 10.0


def server_connections(server: MemcachedServer) -> int:
    """The server's open client connections (this probe's own included)."""
    with memlease.Client(server.address) as probe:
        return int(probe.stats()[server.address]["curr_connections"])


def eventfds() -> int:
    """This process's eventfds: AsyncClient watches one per event loop it was used on."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    return count


async def settles(condition: Callable[[], bool], timeout: float = RELEASE_WITHIN) -> bool:
    """Wait for `condition` while the running loop goes on running its callbacks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.filterwarnings("ignore:unclosed memlease.AsyncClient:ResourceWarning")
def test_dropped_async_clients_release_connections_while_their_loop_runs(
    own_server: MemcachedServer,
) -> None:
    baseline = server_connections(own_server)

    async def main() -> None:
        # A closed client first: the runtime's own eventfd now exists, and is not a leak.
        async with memlease.AsyncClient(own_server.address) as warm_up:
            await warm_up.set("k", 0)
        baseline_eventfds = eventfds()
        for i in range(DROPPED):
            client = memlease.AsyncClient(own_server.address)
            await client.set("k", i)
            del client
        gc.collect()
        assert await settles(lambda: server_connections(own_server) <= baseline), (
            f"{server_connections(own_server) - baseline} connections still open"
        )
        # The loop stops watching the dropped clients' eventfds too.
        assert await settles(lambda: eventfds() <= baseline_eventfds)

    asyncio.run(main())


@pytest.mark.filterwarnings("ignore:unclosed memlease.AsyncClient:ResourceWarning")
def test_an_async_client_dropped_after_its_loop_closed_releases_connections(
    own_server: MemcachedServer,
) -> None:
    baseline = server_connections(own_server)
    clients = [memlease.AsyncClient(own_server.address) for _ in range(10)]

    async def use_each(clients: list[memlease.AsyncClient]) -> None:
        # Each leaves a result the closed loop will never deliver, holding the client's core.
        for client in clients:
            await client.set("k", 1)
            client.get("k")

    asyncio.run(use_each(clients))
    assert server_connections(own_server) > baseline
    del clients
    gc.collect()
    deadline = time.monotonic() + RELEASE_WITHIN
    while server_connections(own_server) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_connections(own_server) <= baseline


def test_dropped_sync_clients_close_their_sockets(own_server: MemcachedServer) -> None:
    baseline = server_connections(own_server)
    for i in range(DROPPED):
        client = memlease.Client(own_server.address)
        client.set("k", i)
        del client
    gc.collect()
    assert server_connections(own_server) <= baseline


def test_an_unclosed_async_client_warns_when_collected(server: MemcachedServer) -> None:
    async def main() -> None:
        client = memlease.AsyncClient(server.address)
        await client.set("k", 1)
        with pytest.warns(
            ResourceWarning, match=f"unclosed memlease.AsyncClient of .*{server.address}"
        ):
            del client
            gc.collect()

    asyncio.run(main())


@pytest.mark.parametrize("closing", ["close", "async with"])
def test_a_closed_async_client_does_not_warn(server: MemcachedServer, closing: str) -> None:
    async def main() -> None:
        if closing == "close":
            client = memlease.AsyncClient(server.address)
            await client.set("k", 1)
            await client.close()
        else:
            async with memlease.AsyncClient(server.address) as client:
                await client.set("k", 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del client
            gc.collect()
        assert [w.message for w in caught if w.category is ResourceWarning] == []

    asyncio.run(main())


def test_an_unused_async_client_has_nothing_to_warn_about(server: MemcachedServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = memlease.AsyncClient(server.address)
        del client
        gc.collect()
    assert [w.message for w in caught if w.category is ResourceWarning] == []
