"""Fixtures: real memcached processes on free loopback ports, started once per session, and
clients of both flavours. Tests written against `client` / `cluster_client` / `make_client`
run twice: once with `Client`, once with `AsyncClient` driven from a background event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer

# Attributes of AsyncClient that are plain (not awaitable).
_PLAIN = {
    "server_for",
    "servers",
    "pool_stats",
    "health",
    "local_cache_stats",
    "read_through_stats",
    "write_failures",
}


class EventLoopThread:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, make_awaitable: Callable[[], Any], timeout: float = 30.0) -> Any:
        async def call() -> Any:
            return await make_awaitable()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class AwaitingClient:
    """`AsyncClient` behind the synchronous interface of `Client`: every call is awaited on the
    background loop, so the same assertions check both clients."""

    def __init__(self, runner: EventLoopThread, *args: Any, **kwargs: Any) -> None:
        self._runner = runner
        self.inner = memlease.AsyncClient(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name in _PLAIN or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(lambda: getattr(self.inner, name)(*args, **kwargs))

        return call

    def __enter__(self) -> AwaitingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[EventLoopThread]:
    runner = EventLoopThread()
    yield runner
    runner.stop()


@pytest.fixture(params=["sync", "async", "async-runtime"])
def flavor(request: pytest.FixtureRequest) -> str:
    """`Client`; `AsyncClient` doing its I/O on the event loop (its default); `AsyncClient`
    doing it on memlease's runtime (`io="runtime"`)."""
    return str(request.param)


@pytest.fixture(params=["loop", "runtime"])
def async_io(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice, with every `memlease.AsyncClient` it makes on each I/O path (modules
    that build their clients themselves use it through `pytestmark`)."""
    path = str(request.param)

    class OnPath(memlease.AsyncClient):
        def __new__(cls, *args: Any, **kwargs: Any) -> OnPath:
            kwargs.setdefault("io", path)
            return super().__new__(cls, *args, **kwargs)

    monkeypatch.setattr(memlease, "AsyncClient", OnPath)
    return path


@pytest.fixture
def make_client(flavor: str, loop_thread: EventLoopThread) -> Iterator[Callable[..., Any]]:
    """Build a client of the test's flavour; all are closed at the end of the test."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        client: Any
        if flavor == "sync":
            client = memlease.Client(*args, **kwargs)
        elif flavor == "async-runtime":
            client = AwaitingClient(loop_thread, *args, io="runtime", **kwargs)
        else:
            client = AwaitingClient(loop_thread, *args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def cluster() -> Iterator[list[MemcachedServer]]:
    """Three servers, for placement and multi-server tests."""
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        yield servers
    finally:
        for srv in servers:
            srv.stop()


@pytest.fixture
def client(server: MemcachedServer, make_client: Callable[..., Any]) -> Any:
    c = make_client(server.address)
    c.flush_all()
    return c


@pytest.fixture
def cluster_client(cluster: list[MemcachedServer], make_client: Callable[..., Any]) -> Any:
    c = make_client([s.address for s in cluster])
    c.flush_all()
    return c


@pytest.fixture
def own_server() -> Iterator[MemcachedServer]:
    """A server of the test's own, which it may stop, restart or freeze."""
    with MemcachedServer() as srv:
        yield srv
