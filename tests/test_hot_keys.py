"""Hot keys: split keys stored as several copies, and the local cache of keys the server reports
hot. Both clients, real memcached processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer

COPIES = ["hot", "hot:memlease-copy-1", "hot:memlease-copy-2"]


def holders(cluster: list[MemcachedServer], key: str) -> list[str]:
    """The servers that hold `key`, looked up behind the client's back."""
    found = []
    for srv in cluster:
        with memlease.Client(srv.address) as direct:
            if direct.get(key) is not None:
                found.append(srv.address)
    return found


def set_where_held(cluster: list[MemcachedServer], key: str, value: Any) -> None:
    """Overwrite `key` on the one server that holds it, behind the client's back."""
    (address,) = holders(cluster, key)
    with memlease.Client(address) as direct:
        direct.set(key, value)


@pytest.fixture
def split_client(cluster: list[MemcachedServer], make_client: Any) -> Any:
    c = make_client([s.address for s in cluster], hot_keys=["hot"], hot_key_copies=3)
    c.flush_all()
    return c


def test_a_split_key_is_written_to_every_copy_on_several_servers(
    split_client: Any, cluster: list[MemcachedServer]
) -> None:
    assert split_client.set("hot", "v1")
    places = {copy: holders(cluster, copy) for copy in COPIES}
    assert all(len(p) == 1 for p in places.values()), places
    # Three copies, three servers: each copy has a server of its own.
    assert len({p[0] for p in places.values()}) == 3, places
    assert places["hot"] == [split_client.server_for("hot")]
    # A key not configured hot is stored once.
    split_client.set("cold", "v")
    assert holders(cluster, "cold:memlease-copy-1") == []


def test_reads_of_a_split_key_spread_over_its_copies(
    split_client: Any, cluster: list[MemcachedServer]
) -> None:
    split_client.set("hot", "same")
    # Give each copy its own value behind the client's back: reads must see all three.
    for i, copy in enumerate(COPIES):
        set_where_held(cluster, copy, f"copy{i}")
    seen = {split_client.get("hot") for _ in range(60)}
    assert seen == {"copy0", "copy1", "copy2"}
    seen_many = {split_client.get_many(["hot", "cold"]).get("hot") for _ in range(60)}
    assert seen_many == {"copy0", "copy1", "copy2"}
    # gets() reads the key itself: its CAS token belongs to that item.
    assert all(split_client.gets("hot")[0] == "copy0" for _ in range(10))


def test_writes_and_invalidations_reach_every_copy(
    split_client: Any, cluster: list[MemcachedServer]
) -> None:
    def values() -> list[Any]:
        """Each copy's value, wherever it is held (None if nowhere)."""
        found = []
        for copy in COPIES:
            value = None
            for srv in cluster:
                with memlease.Client(srv.address) as direct:
                    value = direct.get(copy) if value is None else value
            found.append(value)
        return found

    split_client.set("hot", "a")
    assert values() == ["a"] * 3
    # An append or a counter drops the copies (a copy that missed a write would otherwise
    # grow or count from the wrong value); reads of a dropped copy go to the key itself.
    assert split_client.append("hot", "b")
    assert values() == ["ab", None, None]
    assert {split_client.get("hot") for _ in range(30)} == {"ab"}
    assert split_client.delete("hot")
    assert values() == [None] * 3
    assert split_client.add("hot", "x")
    assert values() == ["x"] * 3
    assert not split_client.add("hot", "y"), "the key itself decides a conditional write"
    assert values() == ["x"] * 3
    _, token = split_client.gets("hot")
    assert split_client.cas("hot", "z", token)
    assert values() == ["z"] * 3
    assert split_client.set_many({"hot": "m", "other": 1}) == []
    assert values() == ["m"] * 3
    assert split_client.delete_many(["hot", "other"]) == 2
    assert values() == [None] * 3
    assert split_client.incr("hot", 5, initial=10) == 10
    assert split_client.incr("hot", 5) == 15
    assert values() == [b"15", None, None]
    assert {split_client.get("hot") for _ in range(30)} == {b"15"}
    assert split_client.touch("hot", 100)


def test_a_leased_fill_of_a_split_key_reaches_its_copies(
    split_client: Any, cluster: list[MemcachedServer]
) -> None:
    lease = split_client.lease_get("hot", lease_ttl=30)
    assert lease.won
    assert split_client.fill("hot", "computed", lease.cas, 60)
    copies = ["hot"] + [f"hot:memlease-copy-{i}" for i in (1, 2)]
    assert all(len(holders(cluster, name)) == 1 for name in copies)
    assert {split_client.get("hot") for _ in range(30)} == {"computed"}
    # A refused fill (the key changed while computing) leaves the copies alone.
    stale_lease = split_client.lease_get("hot", lease_ttl=30)
    split_client.set("hot", "newer")
    assert not split_client.fill("hot", "older", stale_lease.cas, 60)
    assert {split_client.get("hot") for _ in range(30)} == {"newer"}


def test_split_copies_must_be_sane(cluster: list[MemcachedServer], make_client: Any) -> None:
    servers = [s.address for s in cluster]
    with pytest.raises(memlease.InvalidArgument, match="hot_key_copies"):
        make_client(servers, hot_keys=["k"], hot_key_copies=0)
    with pytest.raises(memlease.InvalidArgument, match="collection"):
        make_client(servers, hot_keys="k")
    with pytest.raises(memlease.InvalidKey):
        make_client(servers, hot_keys=["ok", 3])


@pytest.fixture
def local_client(server: MemcachedServer, make_client: Any) -> Any:
    c = make_client(
        server.address, local_cache_size=8, local_cache_ttl=0.4, local_cache_admission=1.0
    )
    c.flush_all()
    return c


def warm(client: Any, key: str | tuple[str, str]) -> None:
    """Read `key` until the server calls it hot (fetched before, accessed just now)."""
    for _ in range(3):
        client.get(key)


def test_hot_keys_are_served_locally_until_their_ttl(
    local_client: Any, server: MemcachedServer
) -> None:
    assert local_client.local_cache_stats() == {
        "hits": 0,
        "misses": 0,
        "admissions": 0,
        "evictions": 0,
        "refreshes": 0,
        "size": 0,
    }
    local_client.set("k", "v1")
    local_client.get("k")  # first fetch: not hot yet
    assert local_client.local_cache_stats()["admissions"] == 0
    local_client.get("k")  # fetched before and just accessed: hot
    assert local_client.local_cache_stats()["admissions"] == 1
    # Another client changes it: this one serves its local copy until the TTL runs out.
    with memlease.Client(server.address) as other:
        other.set("k", "v2")
    assert local_client.get("k") == "v1"
    assert local_client.get_many(["k"]) == {"k": "v1"}
    time.sleep(0.5)
    assert local_client.get("k") == "v2"
    stats = local_client.local_cache_stats()
    assert stats["hits"] >= 2 and stats["refreshes"] == 1 and stats["size"] == 1


def test_own_writes_are_read_back_at_once(local_client: Any) -> None:
    local_client.set("k", "v1")
    warm(local_client, "k")
    assert local_client.local_cache_stats()["size"] == 1
    writes: list[tuple[Callable[[], object], object]] = [
        (lambda: local_client.set("k", "v2"), "v2"),
        (lambda: local_client.set_many({"k": "v3"}), "v3"),
        (lambda: local_client.append("k", "+"), "v3+"),
        (lambda: local_client.meta_set("k", b"raw"), b"raw"),
        (lambda: local_client.delete("k"), None),
    ]
    for write, expected in writes:
        warm(local_client, "k")
        hits = local_client.local_cache_stats()["hits"]
        local_client.get("k")
        assert local_client.local_cache_stats()["hits"] == hits + 1, "cached before the write"
        write()
        assert local_client.get("k") == expected
    local_client.set("n", 1)
    warm(local_client, "n")
    local_client.incr("n")
    assert local_client.get("n") == 2
    local_client.set("gone", "x")
    warm(local_client, "gone")
    local_client.flush_all()
    assert local_client.get("gone") is None


def test_local_cache_is_bounded(local_client: Any) -> None:
    keys = [f"k{i}" for i in range(30)]
    local_client.set_many({k: k for k in keys})
    for key in keys:
        warm(local_client, key)
    stats = local_client.local_cache_stats()
    assert stats["size"] == 8
    assert stats["admissions"] == 30 and stats["evictions"] == 22
    assert local_client.get_many(keys) == {k: k for k in keys}


def test_one_refresher_per_expired_key(local_client: Any, server: MemcachedServer) -> None:
    local_client.set("k", "v")
    warm(local_client, "k")
    time.sleep(0.5)  # the local copy expires

    def gets_before() -> int:
        with memlease.Client(server.address) as direct:
            return int(direct.stats()[server.address]["cmd_get"])

    before = gets_before()
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def reader() -> None:
        barrier.wait()
        results.extend(local_client.get("k") for _ in range(25))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["v"] * 200
    assert gets_before() - before == 1, "exactly one caller refreshes the expired copy"
    assert local_client.local_cache_stats()["refreshes"] == 1


def test_local_cache_options_are_checked(server: MemcachedServer, make_client: Any) -> None:
    with pytest.raises(memlease.InvalidArgument, match="local_cache_admission"):
        make_client(server.address, local_cache_size=4, local_cache_admission=0)
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, local_cache_size=-1)
    assert make_client(server.address).local_cache_stats() is None


def tenants_on(client: Any, same_server: bool) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two `(tenant, "settings")` keys: one stored key, routed to different servers (or, with
    `same_server`, to one server, where they name the same item)."""
    first = ("tenant:0", "settings")
    for i in range(1, 200):
        other = (f"tenant:{i}", "settings")
        if (client.server_for(other) == client.server_for(first)) == same_server:
            return first, other
    raise AssertionError("no such pair of routing keys")


@pytest.fixture
def local_cluster_client(cluster: list[MemcachedServer], make_client: Any) -> Any:
    c = make_client(
        [s.address for s in cluster],
        local_cache_size=8,
        local_cache_ttl=30,
        local_cache_admission=1.0,
    )
    c.flush_all()
    return c


def test_routing_keys_sharing_a_stored_key_have_their_own_local_copies(
    local_cluster_client: Any,
) -> None:
    c = local_cluster_client
    one, two = tenants_on(c, same_server=False)
    assert c.set(one, "one's") and c.set(two, "two's")
    warm(c, one)
    assert c.get(two) == "two's", "served the other tenant's local copy"
    warm(c, two)
    assert c.local_cache_stats()["size"] == 2, "each tenant's key is cached on its own"
    for _ in range(3):
        assert c.get(one) == "one's"
        assert c.get(two) == "two's"
        assert c.get_many([one, two]) == {one: "one's", two: "two's"}
    # A write through one tenant's key leaves the other's value (another item) as it was.
    assert c.set(one, "one's new")
    assert c.get(two) == "two's"
    assert c.get(one) == "one's new"


def test_a_write_drops_the_local_copy_of_every_spelling_of_the_item(
    local_cluster_client: Any,
) -> None:
    # Routed to one server, both keys name one memcached item: a write through either is
    # read back through both at once (this client reads its own writes).
    c = local_cluster_client
    one, two = tenants_on(c, same_server=True)
    assert c.set(one, "v1")
    warm(c, one)
    warm(c, two)
    assert c.get(two) == "v1"
    assert c.set(one, "v2")
    assert c.get(two) == "v2"
    assert c.get_many([one, two]) == {one: "v2", two: "v2"}


def test_get_many_naming_a_key_twice_never_serves_an_expired_copy(
    local_client: Any, server: MemcachedServer
) -> None:
    local_client.set("k", "v1")
    warm(local_client, "k")
    with memlease.Client(server.address) as other:
        other.set("k", "v2")
    time.sleep(0.5)  # past local_cache_ttl: the local copy has expired
    before = local_client.local_cache_stats()
    assert local_client.get_many(["k", "k"]) == {"k": "v2"}
    after = local_client.local_cache_stats()
    lookups = {name: after[name] - before[name] for name in ("hits", "misses", "refreshes")}
    assert lookups == {"hits": 0, "misses": 0, "refreshes": 1}, "one lookup for the key twice"
    assert local_client.get("k") == "v2"


def test_a_hot_key_given_with_a_routing_key_is_not_split(
    cluster: list[MemcachedServer], make_client: Any
) -> None:
    # Copies are named and placed by the stored key: two tenants' copies would be one item.
    c = make_client([s.address for s in cluster], hot_keys=["settings"], hot_key_copies=3)
    c.flush_all()
    one, two = tenants_on(c, same_server=False)
    assert c.set(one, "one's") and c.set(two, "two's")
    reads = {c.get(one) for _ in range(60)} | {c.get_many([one])[one] for _ in range(20)}
    assert reads == {"one's"}, "read another tenant's copy"
    assert {c.get(two) for _ in range(60)} == {"two's"}
    assert c.set("settings", "plain")  # the key itself, unrouted, is still split
    copies = [memlease.Client(s.address).get("settings:memlease-copy-1") for s in cluster]
    assert "plain" in copies


def test_raw_meta_writes_to_a_split_key_drop_its_copies(split_client: Any) -> None:
    # A raw command's effect cannot be repeated faithfully on the copies: they are dropped,
    # and reads that pick one read the key itself.
    c = split_client
    assert c.set("hot", "v1")
    assert c.meta_set("hot", "v2").status == "HD"
    assert {c.get("hot") for _ in range(30)} == {"v2"}
    assert c.set("hot", "v3")
    assert c.meta_delete("hot").status == "HD"
    assert {c.get("hot") for _ in range(30)} == {None}
