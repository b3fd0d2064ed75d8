"""The asyncio clients under test: memlease's AsyncClient and its peers."""

from __future__ import annotations

from collections.abc import Awaitable
from importlib.metadata import version
from typing import Any

import memlease

from .client_api import AsyncBenchClient, split_address


class MemleaseAsyncClient(AsyncBenchClient):
    name = "memlease"

    def __init__(self, address: str) -> None:
        super().__init__()
        self._client = self.make_in_loop(
            lambda: memlease.AsyncClient(address, serde="raw", compress_threshold=None)
        )

    def get(self, key: str) -> Awaitable[Any]:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Awaitable[Any]:
        return self._client.set(key, value)

    def describe(self) -> str:
        return (
            f"{memlease.__version__} AsyncClient (serde='raw', compress_threshold=None, default "
            "timeouts and max_connections; the coroutines share the one AsyncClient)"
        )

    async def aclose(self) -> None:
        await self._client.close()


class AiomcacheClient(AsyncBenchClient):
    name = "aiomcache"

    def __init__(self, address: str) -> None:
        import aiomcache

        super().__init__()
        host, port = split_address(address)
        self._client = self.make_in_loop(lambda: aiomcache.Client(host, port))

    def get(self, key: str) -> Awaitable[Any]:
        return self._client.get(key.encode())

    def set(self, key: str, value: bytes) -> Awaitable[Any]:
        return self._client.set(key.encode(), value)

    def describe(self) -> str:
        return f"{version('aiomcache')} (Client(host, port): default pool_size=2; shared)"

    async def aclose(self) -> None:
        await self._client.close()


class EmcacheClient(AsyncBenchClient):
    name = "emcache"
    # create_client's own default; an operation that takes longer raises TimeoutError.
    TIMEOUT: float | None = 1.0

    def __init__(self, address: str) -> None:
        import emcache

        super().__init__()
        host, port = split_address(address)
        self._client = self.run(
            emcache.create_client([emcache.MemcachedHostAddress(host, port)], timeout=self.TIMEOUT)
        )

    async def get(self, key: str) -> Any:
        item = await self._client.get(key.encode())
        return None if item is None else item.value

    async def set(self, key: str, value: bytes) -> Any:
        await self._client.set(key.encode(), value)  # raises if not stored; returns None

    def describe(self) -> str:
        return (
            f"{version('emcache')} (create_client defaults: max_connections=2, timeout=1.0; shared)"
        )

    async def aclose(self) -> None:
        await self._client.close()


class EmcacheNoTimeoutClient(EmcacheClient):
    name = "emcache-notimeout"
    TIMEOUT = None

    def describe(self) -> str:
        return f"{version('emcache')} (create_client with timeout=None, max_connections=2; shared)"
