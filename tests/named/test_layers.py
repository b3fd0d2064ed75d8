"""NamedCache.get's layers: memcached fill and hit, request-scope write-back, typed errors,
enabled=false without memcached traffic, stats shape. Each test runs for Client and
AsyncClient (both I/O paths) through the `named` harness."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import memlease
from memlease import InvalidArgument
from tests.named.conftest import Calls, Named


def test_miss_calls_the_fallback_once_then_memcached_serves(named: Named) -> None:
    users = named.manager().cache("users", ttl=60)
    load = Calls({"name": "alice"})
    assert named.get(users, 1, load) == {"name": "alice"}
    assert named.get(users, 1, load) == {"name": "alice"}
    assert load.count == 1
    layers = named.managers[0].stats()["caches"]["users"]["layers"]
    assert layers["memcached"]["misses"] == 1
    assert layers["memcached"]["hits"] == 1
    assert layers["memcached"]["fills"] == 1


def test_another_client_reads_the_filled_entry(named: Named) -> None:
    first = named.manager().cache("users", ttl=60)
    named.get(first, 1, Calls("stored"))
    second = named.manager(client=named.make_client()).cache("users", ttl=60)
    other = Calls("recomputed")
    assert named.get(second, 1, other) == "stored"
    assert other.count == 0


def test_none_from_the_fallback_is_cached_like_any_value(named: Named) -> None:
    cache = named.manager().cache("maybe", ttl=60)
    load = Calls(None)
    assert named.get(cache, "gone", load) is None
    assert named.get(cache, "gone", load) is None
    assert load.count == 1


def test_request_scope_reads_memcached_once_per_id(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    load = Calls("v")
    before = int(named.server_stats()["cmd_get"])
    values = named.in_scope(manager, [(users, 1, load), (users, 1, load), (users, 1, load)])
    assert values == ["v", "v", "v"]
    assert load.count == 1
    layers = manager.stats()["caches"]["users"]["layers"]
    assert layers["memcached"]["requests"] == 1
    assert layers["request"]["hits"] == 2
    assert layers["request"]["fills"] == 1
    # The miss's one read (entry and no tags): one get command reached memcached.
    assert int(named.server_stats()["cmd_get"]) - before == 1
    # A new scope reads memcached again (a hit this time), the old scope's values are gone.
    assert named.in_scope(manager, [(users, 1, load)]) == ["v"]
    assert manager.stats()["caches"]["users"]["layers"]["memcached"]["hits"] == 1


def test_request_layer_off_reads_memcached_each_time(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60, request_layer=False)
    named.in_scope(manager, [(users, 1, Calls()), (users, 1, Calls())])
    assert manager.stats()["caches"]["users"]["layers"]["memcached"]["requests"] == 2


def test_invalidate_drops_the_entry(named: Named) -> None:
    users = named.manager().cache("users", ttl=60)
    named.get(users, 1, Calls("old"))
    assert named.invalidate(users, 1) is True
    assert named.get(users, 1, Calls("new")) == "new"
    assert named.invalidate(users, 2) is False


def test_fallback_errors_propagate_and_release_the_lease(named: Named) -> None:
    users = named.manager().cache("users", ttl=60)

    def broken() -> Any:
        raise KeyError("db down")

    with pytest.raises(KeyError):
        named.get(users, 1, broken)
    # The lease was released: the next caller wins at once and stores its value.
    assert named.get(users, 1, Calls("ok")) == "ok"
    stats = named.managers[0].stats()["caches"]["users"]
    assert stats["fallback_calls"] == 2
    assert stats["fallback_errors"] == 1


def test_disabled_cache_calls_the_fallback_with_no_memcached_traffic(named: Named) -> None:
    manager = named.manager(config={"caches": {"users": {"enabled": False}}})
    users = manager.cache("users", ttl=60)
    before = named.server_stats()
    load = Calls("direct")
    for _ in range(3):
        assert named.get(users, 1, load) == "direct"
    after = named.server_stats()
    assert load.count == 3
    for counter in ("cmd_get", "cmd_set", "cmd_touch", "delete_misses", "delete_hits"):
        assert after[counter] == before[counter], counter
    assert manager.stats()["caches"]["users"]["layers"]["memcached"]["requests"] == 0


def test_stats_have_the_documented_shape(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    named.get(users, 1, Calls())
    stats = manager.stats()
    assert set(stats) == {"caches", "datasets", "client"}
    cache = stats["caches"]["users"]
    assert set(cache) == {"layers", "fallback_calls", "fallback_errors", "shadow"}
    assert set(cache["layers"]) == {"request", "local", "memcached"}
    for layer in cache["layers"].values():
        assert set(layer) == {"requests", "hits", "misses", "fills", "errors", "p50_ms", "p99_ms"}
    memcached = cache["layers"]["memcached"]
    assert isinstance(memcached["p50_ms"], float) and memcached["p99_ms"] >= memcached["p50_ms"]
    assert cache["layers"]["local"]["p50_ms"] is None  # no samples: no percentile
    assert set(cache["shadow"]) == {
        "checks",
        "matches",
        "mismatches",
        "errors",
        "dropped",
        "staleness_p50_s",
        "staleness_max_s",
    }


def test_same_name_gives_the_same_cache_and_conflicts_are_refused(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60, compression="zlib")
    assert manager.cache("users", ttl=60, compression="zlib") is users
    with pytest.raises(InvalidArgument, match="other settings"):
        manager.cache("users", ttl=30, compression="zlib")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": -1},
        {"ttl": "60"},
        {"ttl": 60, "compression": "lz4"},
        {"ttl": 60, "local_ttl": -1},
        {"ttl": 60, "version": 0},
        {"ttl": 60, "local_max_entries": 0},
        {"ttl": 60, "request_layer": "yes"},
    ],
)
def test_bad_cache_settings_raise_invalid_argument(named: Named, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        named.manager().cache("c", **kwargs)


def test_bad_call_arguments_raise_invalid_argument(named: Named) -> None:
    cache = named.manager().cache("c", ttl=60)
    for kwargs in ({"tags": "one-tag"}, {"tags": [1]}, {"tags": [""]}, {"ttl": -5}):
        with pytest.raises(InvalidArgument):
            named.get(cache, 1, Calls(), **kwargs)


def test_calls_of_the_other_flavour_are_refused(named: Named) -> None:
    cache = named.manager().cache("c", ttl=60)
    if named.is_async:
        with pytest.raises(InvalidArgument, match="aget"):
            cache.get(1, Calls())
    else:
        with pytest.raises(InvalidArgument, match="use get"):
            asyncio.run(cache.aget(1, Calls()))


def test_manager_needs_a_memlease_client() -> None:
    with pytest.raises(InvalidArgument):
        memlease.CacheManager(object(), "shop")  # type: ignore[arg-type]


def test_invalidate_tags_inside_a_request_scope_drops_what_the_scope_holds(
    named: Named,
) -> None:
    # A request that changes the source, invalidates the tag and reads again must see the
    # change: the scope holds values without their tags, so the invalidation empties it.
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    source = {"value": "old"}

    def load() -> str:
        return source["value"]

    def in_one_request() -> tuple[Any, Any]:
        with manager.request_scope():
            first = users.get(1, load, tags=("team:7",))
            source["value"] = "new"
            manager.invalidate_tags(["team:7"])
            return first, users.get(1, load, tags=("team:7",))

    async def in_one_async_request() -> tuple[Any, Any]:
        async with manager.request_scope():
            first = await users.aget(1, load, tags=("team:7",))
            source["value"] = "new"
            await manager.ainvalidate_tags(["team:7"])
            return first, await users.aget(1, load, tags=("team:7",))

    if named.is_async:
        assert named.runner.run(in_one_async_request) == ("old", "new")
    else:
        assert in_one_request() == ("old", "new")
