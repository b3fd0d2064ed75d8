"""Pools: dedicated pools routed by prefix, gutter, mirror, max-TTL, remapping, routing keys.
Every test runs against both clients and real memcached processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[list[MemcachedServer]]:
    """Servers of the test's own (as many as its `fleet_size` mark asks, default 2), which it
    may stop."""
    marker = request.node.get_closest_marker("fleet_size")
    servers = [MemcachedServer().start() for _ in range(marker.args[0] if marker else 2)]
    yield servers
    for srv in servers:
        srv.stop()


def direct(server: MemcachedServer) -> memlease.Client:
    """A client of one server, to look behind the client under test."""
    return memlease.Client(server.address)


def key_on(client: Any, address: str, prefix: str = "k") -> str:
    for i in range(10_000):
        if client.server_for(f"{prefix}{i}") == address:
            return f"{prefix}{i}"
    raise AssertionError(f"no key maps to {address}")


@pytest.mark.fleet_size(4)
def test_dedicated_pools_route_by_prefix(fleet: list[MemcachedServer], make_client: Any) -> None:
    main, sessions = fleet[:2], fleet[2:4]
    c = make_client(
        pools={
            "default": [s.address for s in main],
            "sessions": {"servers": [s.address for s in sessions], "timeout": 0.5},
        },
        routes={"session:": "sessions"},
    )
    for i in range(40):
        c.set(f"session:{i}", i)
        c.set(f"user:{i}", i)
    assert {c.server_for(f"session:{i}") for i in range(40)} <= {s.address for s in sessions}
    assert {c.server_for(f"user:{i}") for i in range(40)} <= {s.address for s in main}
    # The data really lives there.
    in_sessions: dict[str, Any] = {}
    for srv in sessions:
        with direct(srv) as d:
            in_sessions.update(d.get_many([f"session:{i}" for i in range(40)]))
    assert len(in_sessions) == 40
    assert c.get_many([f"session:{i}" for i in range(40)] + [f"user:{i}" for i in range(40)]) == {
        **{f"session:{i}": i for i in range(40)},
        **{f"user:{i}": i for i in range(40)},
    }


@pytest.mark.fleet_size(3)
def test_routing_key_tuples_keep_related_keys_together(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    c = make_client([s.address for s in fleet[:3]])
    home = c.server_for("user:1")
    keys = [("user:1", f"user:1:{part}") for part in ("profile", "settings", "avatar", "friends")]
    for key in keys:
        assert c.server_for(key) == home
        assert c.set(key, key[1])
    assert c.get_many(keys) == {key: key[1] for key in keys}
    # Stored under the key itself, on the routing key's server.
    srv = next(s for s in fleet if s.address == home)
    with direct(srv) as d:
        assert d.get("user:1:profile") == "user:1:profile"
    with pytest.raises(memlease.InvalidKey):
        c.get(("user:1",))


def test_gutter_takes_over_a_dead_server_with_short_ttls(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    primary, spare = fleet[0], fleet[1]
    c = make_client(primary.address, gutter=[spare.address], gutter_ttl=5, mark_down_period=5.0)
    c.set("k", "primary value", ttl=1000)
    primary.stop()
    assert c.get("k") is None  # the gutter has nothing yet: a miss, not an error
    assert c.set("k", "from gutter", ttl=0) is True  # written to the gutter...
    assert c.get("k") == "from gutter"
    with direct(spare) as d:
        ttl = d.meta_get("k", "t").ttl
        assert ttl is not None and 0 < ttl <= 5  # ...with its TTL capped
        c.set("long", 1, ttl=3600)
        assert 0 < (d.meta_get("long", "t").ttl or 0) <= 5
    # A delete clears the gutter's copy, yet reports that the primary was not reached: its
    # old value would be back with it.
    with pytest.raises(memlease.ServerDown):
        c.delete("k")
    with direct(spare) as d:
        assert d.get("k") is None
    assert c.health()[primary.address]["down"] is True


def test_mirror_gets_writes_and_serves_reads_when_primary_fails(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    primary, mirror = fleet[0], fleet[1]
    c = make_client(primary.address, mirror=[mirror.address], mark_down_period=5.0)
    c.set("k", "v")
    c.set_many({"a": 1, "b": 2})
    with direct(mirror) as d:
        assert d.get_many(["k", "a", "b"]) == {"k": "v", "a": 1, "b": 2}
    c.delete("b")
    with direct(mirror) as d:
        assert d.get("b") is None
    primary.stop()
    assert c.get("k") == "v"  # failed over to the mirror
    assert c.get_many(["k", "a"]) == {"k": "v", "a": 1}


def test_a_lease_read_with_counters_fails_over_to_the_mirror_as_one_batch(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    # The entry and its counters share a server, so they go as one batch without a round's
    # plan (dispatch/few.rs); a dead primary still sends every key to its fallback.
    primary, mirror = fleet[0], fleet[1]
    c = make_client(primary.address, mirror=[mirror.address], mark_down_period=5.0)
    c.set("tag:a", b"5")
    c.set("tag:b", b"7")
    c.set("entry", b"value")
    result, _, counters = c._lease_get_with_counters("entry", ["tag:a", "tag:b", "tag:c"])
    assert (result.found, counters) == (True, [5, 7, None])
    primary.stop()
    result, _, counters = c._lease_get_with_counters("entry", ["tag:a", "tag:b"], lease_ttl=30)
    assert (result.found, result.value, counters) == (True, b"value", [5, 7])  # the mirror's


def test_max_ttl_clamps_every_write(server: MemcachedServer, make_client: Any) -> None:
    c = make_client(server.address, max_ttl=30)
    c.flush_all()
    c.set("never", 1)
    c.set("long", 1, ttl=3600)
    c.set("short", 1, ttl=10)
    c.set("absolute", 1, ttl=int(time.time()) + 86400 * 40)
    c.set_many({"many": 1}, ttl=0)
    c.incr("counter", initial=1, ttl=0)
    with direct(server) as d:
        ttls = {
            k: d.meta_get(k, "t").ttl
            for k in ["never", "long", "short", "absolute", "many", "counter"]
        }
    assert all(ttl is not None and 0 < ttl <= 30 for ttl in ttls.values()), ttls
    assert (ttls["short"] or 0) <= 10
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, max_ttl=0)


@pytest.mark.fleet_size(3)
def test_remap_on_failure_moves_keys_to_the_next_server(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    trio = fleet[:3]
    c = make_client([s.address for s in trio], remap_on_failure=True, mark_down_period=5.0)
    dead = trio[0]
    key = key_on(c, dead.address)
    dead.stop()
    assert c.set(key, "moved") is True
    assert c.get(key) == "moved"
    holders = []
    for srv in trio[1:]:
        with direct(srv) as d:
            if d.get(key) == "moved":
                holders.append(srv.address)
    assert len(holders) == 1
    with pytest.raises(memlease.ServerDown):
        c.delete(key)  # gone from the stand-in, but the dead server was not reached
    assert c.get(key) is None


@pytest.mark.parametrize(
    "options",
    [
        {"pools": {"sessions": ["127.0.0.1:1"]}, "routes": {"session:": "nowhere"}},
        {"pools": {"gutter": ["127.0.0.1:1"]}},
        {"pools": {"sessions": {"servers": ["127.0.0.1:1"], "bogus": 1}}},
        {"pools": {"sessions": {"timeout": 1}}},
        {"gutter": ["127.0.0.1:1"], "gutter_ttl": 0},
        {"hashing": "md5"},
        {"routes": {"": "default"}},
        {"pools": {"default": ["127.0.0.1:2"]}},
    ],
    ids=repr,
)
def test_bad_pool_options_are_refused(make_client: Any, options: dict[str, Any]) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client("127.0.0.1:1", **options)


def test_default_pool_may_come_from_pools(server: MemcachedServer, make_client: Any) -> None:
    c = make_client(pools={"default": [server.address]})
    assert c.set("k", 1) and c.get("k") == 1
    with pytest.raises(memlease.InvalidArgument):
        make_client()
