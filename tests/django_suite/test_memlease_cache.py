"""What ``MemleaseCache`` adds to Django's memcached semantics, beyond Django's own suite
(``test_django_cache_suite.py``): leased ``get_or_set``, async calls from many loops and
threads, shared clients, and the TTLs memcached is given."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache.backends.base import BaseCache

import memlease
from memlease.django import MemleaseCache
from tests.django_suite.conftest import PATIENT, SERVER

COLD_CALLERS = 100


def backend(**options: Any) -> MemleaseCache:
    return MemleaseCache(SERVER.address, {"KEY_PREFIX": "t", "OPTIONS": {**PATIENT, **options}})


def cold_key() -> str:
    return f"cold-{uuid.uuid4().hex}"


class CountingDefault:
    """A slow `default` (so every caller arrives while it runs) that counts its calls."""

    def __init__(self) -> None:
        self.calls = itertools.count()
        self.made = 0

    def __call__(self) -> str:
        self.made = next(self.calls) + 1
        time.sleep(0.3)
        return "computed"


def test_get_or_set_from_100_threads_on_a_cold_key_calls_default_once() -> None:
    cache, key, default = backend(), cold_key(), CountingDefault()
    barrier = threading.Barrier(COLD_CALLERS)

    def request() -> Any:
        barrier.wait()
        return cache.get_or_set(key, default, 60)

    with ThreadPoolExecutor(COLD_CALLERS) as pool:
        values = list(pool.map(lambda _: request(), range(COLD_CALLERS)))
    assert values == ["computed"] * COLD_CALLERS
    assert default.made == 1
    assert cache.get(key) == "computed"


def test_aget_or_set_from_100_coroutines_on_a_cold_key_calls_default_once() -> None:
    cache, key, default = backend(), cold_key(), CountingDefault()

    async def main() -> list[Any]:
        # The slow default blocks the loop: the others' first reads are already sent.
        return await asyncio.gather(
            *(cache.aget_or_set(key, default, 60) for _ in range(COLD_CALLERS))
        )

    assert asyncio.run(main()) == ["computed"] * COLD_CALLERS
    assert default.made == 1


def test_aget_or_set_from_threads_with_their_own_loops_calls_default_once() -> None:
    cache, key, default = backend(), cold_key(), CountingDefault()

    def request() -> Any:
        return asyncio.run(cache.aget_or_set(key, default, 60))

    with ThreadPoolExecutor(20) as pool:
        values = list(pool.map(lambda _: request(), range(20)))
    assert values == ["computed"] * 20
    assert default.made == 1


def test_django_own_get_or_set_would_call_default_many_times() -> None:
    # What the lease is for: Django's BaseCache.get_or_set (get, default(), add) on the same
    # cold key from the same threads calls `default` once per thread that missed.
    cache, key, default = backend(), cold_key(), CountingDefault()
    barrier = threading.Barrier(10)

    def request() -> Any:
        barrier.wait()
        return BaseCache.get_or_set(cache, key, default, 60)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: request(), range(10)))
    assert default.made > 1


def test_get_or_set_caches_none_and_skips_the_lease_for_timeout_zero() -> None:
    cache, key = backend(), cold_key()
    assert cache.get_or_set(key, lambda: None, 60) is None
    assert cache.has_key(key)
    zero = cold_key()
    assert cache.get_or_set(zero, "now", 0) == "now"
    assert not cache.has_key(zero)
    assert asyncio.run(cache.aget_or_set(zero, "now", 0)) == "now"


def test_async_methods_from_new_loops_and_threads_beside_sync_calls() -> None:
    # ASGI and WSGI in one process: coroutines on several threads' loops (a new loop for
    # each request, as async_to_sync makes) and plain threads, all on one backend config.
    cache = backend()
    wrong: list[tuple[str, Any]] = []

    async def async_request(n: int, i: int) -> None:
        key = f"loop-{n}-{i}"
        await cache.aset(key, {"n": n, "i": i})
        got = await cache.aget_many([key, "absent"])
        if got != {key: {"n": n, "i": i}}:
            wrong.append((key, got))
        assert await cache.aincr(f"hits-{n}", 1) if i else await cache.aadd(f"hits-{n}", 1)

    def async_worker(n: int) -> None:
        for i in range(30):
            asyncio.run(async_request(n, i))

    def sync_worker(n: int) -> None:
        for i in range(30):
            key = f"thread-{n}-{i}"
            cache.set(key, i)
            if cache.get(key) != i:
                wrong.append((key, cache.get(key)))

    threads = [threading.Thread(target=async_worker, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=sync_worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert wrong == []
    assert cache.get_many([f"hits-{n}" for n in range(4)]) == {f"hits-{n}": 30 for n in range(4)}


def test_backends_of_one_config_share_their_clients_across_threads() -> None:
    # Django builds a backend per thread; the pools must not multiply with them.
    made: list[MemleaseCache] = []
    threads = [threading.Thread(target=lambda: made.append(backend())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(b._cache) for b in made}) == 1
    assert len({id(b._async_cache) for b in made}) == 1
    assert backend(timeout=3.0)._cache is not made[0]._cache


def test_close_keeps_the_pooled_connection() -> None:
    cache = backend()
    cache.set("k", 1)
    before = cache._cache.pool_stats()[SERVER.address]["open"]
    cache.close()
    asyncio.run(cache.aclose())
    assert cache._cache.pool_stats()[SERVER.address]["open"] == before >= 1
    assert cache.get("k") == 1


@pytest.mark.parametrize(
    ("timeout", "remaining"),
    [(None, -1), (300, 300), (31 * 24 * 3600, 31 * 24 * 3600)],
    ids=["forever", "seconds", "over-30-days-as-a-timestamp"],
)
def test_the_ttl_memcached_is_given(timeout: Any, remaining: int) -> None:
    # memcached's remaining TTL (-1: none): a timeout over 30 days must become an absolute
    # time, or memcached would read it as a 1970s timestamp and drop the item at once.
    cache, key = backend(), cold_key()
    cache.set(key, "v", timeout)
    ttl = cache._cache.meta_get(cache.make_key(key), "t").ttl
    assert ttl is not None
    assert remaining - 5 <= ttl <= remaining + 1  # + 1: the timestamp's rounding


@pytest.mark.parametrize(
    "call",
    [
        lambda c, k: c.set(k, "v", 0),
        lambda c, k: c.set_many({k: "v"}, 0),
        lambda c, k: asyncio.run(c.aset(k, "v", 0)),
        lambda c, k: c.delete(k) and c.add(k, "v", 0),
        lambda c, k: c.delete(k) and asyncio.run(c.aadd(k, "v", 0)),
    ],
    ids=["set", "set_many", "aset", "add", "aadd"],
)
def test_timeout_zero_stores_nothing(call: Callable[[MemleaseCache, str], Any]) -> None:
    # Django's timeout 0 is "expire now": the old value goes too.
    cache, key = backend(), cold_key()
    cache.set(key, "old")
    call(cache, key)
    assert cache.get(key, "gone") == "gone"


def test_a_value_over_the_item_limit_raises_and_leaves_no_old_value() -> None:
    cache, key = backend(compress_threshold=None), cold_key()
    cache.set(key, "small")
    with pytest.raises(memlease.ValueTooLarge):
        cache.set(key, "x" * (2 * 2**20))
    assert cache.get(key) is None


class ThreadRecordingSerde:
    """Plain str values; remembers the threads it ran on."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        self.threads.add(threading.get_ident())
        return str(value).encode(), 0

    def deserialize(self, key: Any, data: bytes, flags: int) -> Any:
        self.threads.add(threading.get_ident())
        return data.decode()


def test_async_methods_run_on_the_event_loop_thread_not_in_a_worker() -> None:
    # Native: the value is converted on the loop's own thread. BaseCache's a* methods would
    # run the sync method in sync_to_async's worker thread.
    serde = ThreadRecordingSerde()
    cache = backend(serde=serde)

    async def request() -> Any:
        await cache.aset("native", "yes")
        return await cache.aget("native")

    assert asyncio.run(request()) == "yes"
    assert serde.threads == {threading.get_ident()}
