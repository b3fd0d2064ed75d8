"""What a client under test offers the scenarios: the sync and the async base classes."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class BenchClient(ABC):
    """One client under test, driven from one thread.

    Scenarios only call ``get``, ``set``, ``get_many`` and ``set_many`` (str keys, bytes
    values). Threaded scenarios ask ``thread_clients`` for the client each thread calls. Async
    clients have a sibling base class, AsyncBenchClient, whose rounds run inside an event loop;
    the scenario table, the round loop and the report do not depend on how a call is made.
    """

    name: str
    # Scenarios this client can run; the raw socket loop only knows how to get.
    scenarios: frozenset[str] | None = None  # None: all the synchronous ones

    # Whether it has a lease-aware read (lease_get_100B); pymemcache and pylibmc do not.
    leases = False

    # The servers it spreads keys over: a Scenario runs only on clients with as many.
    servers = 1

    # Whether it has an in-process layer (local_hit): memlease's LocalLayer, cachetools.
    local_layer = False

    def local_get(self, key: str) -> Any:
        """The value, from the client's in-process layer (no I/O)."""
        raise NotImplementedError(f"{self.name} has no in-process layer")

    def lease_get(self, key: str) -> Any:
        """The value, read the way a lease-protected read-through reads a hit."""
        raise NotImplementedError(f"{self.name} has no leases")

    # Whether it has named caches with tags (named_get_2tags_100B): memlease only.
    named = False

    def named_get(self, id: int) -> Any:
        """The value of `id` read through a named cache whose entries carry two tags."""
        raise NotImplementedError(f"{self.name} has no named caches")

    @abstractmethod
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: bytes) -> Any:
        raise NotImplementedError(f"{self.name} has no set scenario")

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        raise NotImplementedError(f"{self.name} has no get_many scenario")

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        """Store every item; return the keys that were not stored."""
        raise NotImplementedError(f"{self.name} has no set_many scenario")

    def thread_clients(self, threads: int) -> list[BenchClient]:
        """What each of `threads` threads calls: this client shared, or one it owns per thread.

        Clients made here belong to this one and are closed with it.
        """
        raise NotImplementedError(f"{self.name} has no threaded scenario")

    @abstractmethod
    def describe(self) -> str:
        """Version and the options that matter for reading its numbers."""

    @abstractmethod
    def close(self) -> None: ...


class AsyncBenchClient(ABC):
    """One asyncio client under test, on an event loop of its own (asyncio's default loop).

    Async scenarios only call ``get`` and ``set`` (str keys, bytes values), from coroutines
    that ``run`` hands to that loop. The client is opened in the loop, used there by every
    round and closed there. The loop runs all along on a thread of its own, as an
    application's would: a client's own timers and background tasks (emcache opens its
    connections in one) go on between rounds instead of all firing late when the next round
    starts. It idles while other clients run.
    """

    name: str
    scenarios: frozenset[str] | None = None  # None: all the async ones

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"bench-loop-{self.name}", daemon=True
        )
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` on the client's loop and wait for its result."""

        async def on_loop() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result()

    def make_in_loop(self, factory: Callable[[], T]) -> T:
        """Call `factory` from a coroutine on this client's loop (clients that bind to it)."""

        async def make() -> T:
            return factory()

        return self.run(make())

    @abstractmethod
    def get(self, key: str) -> Awaitable[Any]: ...

    @abstractmethod
    def set(self, key: str, value: bytes) -> Awaitable[Any]:
        """Store the value; the result is False (or an exception) if it was not stored."""

    @abstractmethod
    def describe(self) -> str:
        """Version and the options that matter for reading its numbers."""

    @abstractmethod
    async def aclose(self) -> None: ...

    def close(self) -> None:
        async def shut_down() -> None:
            try:
                await self.aclose()
            finally:  # the client's background tasks, if any: not left pending at exit
                others = asyncio.all_tasks() - {asyncio.current_task()}
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)

        try:
            self.run(shut_down())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


AnyClient = BenchClient | AsyncBenchClient


def split_address(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)
