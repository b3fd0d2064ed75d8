"""@manager.cached on sync and async functions: ids from the arguments, static and
result-derived tags, and .invalidate(*args)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import memlease
from memlease import CacheManager, InvalidArgument


def test_cached_sync_function(server: Any) -> None:
    with memlease.Client([server.address]) as client:
        client.flush_all()
        manager = CacheManager(client, "shop")
        manager.cache("prices", ttl=60)
        calls: list[tuple[Any, ...]] = []

        @manager.cached("prices", tags=lambda args, result: [f"sku-{args[0]}"])
        def price(sku: int, currency: str) -> float:
            calls.append((sku, currency))
            return 9.5 if currency == "EUR" else 10.0

        assert price(1, "EUR") == 9.5
        assert price(1, "EUR") == 9.5
        assert price(1, "USD") == 10.0
        assert calls == [(1, "EUR"), (1, "USD")]
        assert price.cache.key((1, "EUR")) == "urn:shop:prices:1:EUR"  # type: ignore[attr-defined]
        assert price.invalidate(1, "EUR") is True  # type: ignore[attr-defined]
        price(1, "EUR")
        assert len(calls) == 3
        manager.invalidate_tags(["sku-1"])  # both currencies carry the result-derived tag
        price(1, "EUR")
        price(1, "USD")
        assert len(calls) == 5


def test_cached_async_function(server: Any) -> None:
    calls: list[int] = []

    async def main() -> None:
        async with memlease.AsyncClient([server.address]) as client:
            await client.flush_all()
            manager = CacheManager(client, "shop")

            @manager.cached("users", key=lambda user_id, **_: user_id, tags=["users"], ttl=60)
            async def user(user_id: int, *, verbose: bool = False) -> dict[str, Any]:
                calls.append(user_id)
                await asyncio.sleep(0)
                return {"id": user_id}

            assert await user(3) == {"id": 3}
            assert await user(3, verbose=True) == {"id": 3}
            assert calls == [3]
            assert await user.invalidate(3) is True  # type: ignore[attr-defined]
            await user(3)
            await manager.ainvalidate_tags(["users"])
            await user(3)
            assert calls == [3, 3, 3]

    asyncio.run(main())


def test_decorator_misuse_raises_invalid_argument(server: Any) -> None:
    with memlease.Client([server.address]) as client:
        manager = CacheManager(client, "shop")
        with pytest.raises(InvalidArgument, match="declare the cache"):
            manager.cached("undeclared")
        manager.cache("c", ttl=60)

        async def coroutine_function() -> None:
            return None

        with pytest.raises(InvalidArgument, match="AsyncClient"):
            manager.cached("c")(coroutine_function)

        @manager.cached("c")
        def plain(x: int = 0) -> int:
            return x

        with pytest.raises(InvalidArgument, match="key="):
            plain(x=1)
