"""Stand-ins never undo an acknowledged write (issue 10, cases 1-6).

A stand-in answers for a key's primary server P while P is unreachable: the gutter pool's
server, or under ``remap_on_failure`` the next live server of P's pool. A mirror answers reads
when P fails; a split hot key has copies on other servers. Each test writes, takes a server
away (kills, restarts or freezes it with SIGSTOP), brings it back and checks the promise: once
a write or invalidation was acknowledged, no later read returns an older value (a miss is
allowed), whichever server answers; conditional writes and counters are decided by P alone,
never by a stand-in; every copy a stand-in holds has a capped TTL. Every test runs for
``Client`` and ``AsyncClient`` against real memcached processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer

# Small deadlines: a frozen server costs one timeout, then is marked down for a short while
# (long enough for a test's requests in between to fail over without probing it again).
MARK_DOWN_PERIOD = 0.5
FAST = {"timeout": 0.2, "connect_timeout": 0.2, "mark_down_period": MARK_DOWN_PERIOD}
OLD, NEW = "v1", "v2"


@pytest.fixture
def fleet() -> Iterator[list[MemcachedServer]]:
    """Three servers of the test's own, which it may stop, restart or freeze."""
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        yield servers
    finally:
        for srv in servers:
            srv.stop()  # SIGKILL: ends a frozen process too


@contextmanager
def frozen(
    server: MemcachedServer, client: Any, probe: Callable[[], object] | None = None
) -> Iterator[None]:
    """`server` frozen (SIGSTOP) for the block, and marked down by `client` first: `probe`
    (default: a read of a key on `server`) times out on it. So the block's requests fail over
    at once and send the frozen server nothing it could act on once it thaws (a request that
    merely timed out might still be applied then, or might not have fallen back)."""
    server.freeze()
    try:
        with suppress(memlease.MemcacheConnectionError):
            (probe or (lambda: client.get(key_on(client, server, "probe"))))()
        assert client.health()[server.address]["down"], "the probe did not mark it down"
        yield
    finally:
        server.thaw()


def let_rejoin() -> None:
    """Wait out the mark-down period: the next request to a thawed or restarted server probes
    it, and it takes its keys back from the stand-in."""
    time.sleep(MARK_DOWN_PERIOD + 0.1)


def direct(server: MemcachedServer) -> memlease.Client:
    """A client of `server` alone, to look behind the client under test. It waits longer: a
    server just thawed may lag."""
    return memlease.Client(server.address, timeout=2.0, connect_timeout=2.0)


def held(server: MemcachedServer, *keys: str) -> dict[str, Any]:
    """What `server` itself holds for `keys`."""
    with direct(server) as client:
        return client.get_many(keys)


def key_on(client: Any, server: MemcachedServer, prefix: str = "k") -> str:
    """A key that `client` places on `server`."""
    for i in range(10_000):
        if client.server_for(f"{prefix}{i}") == server.address:
            return f"{prefix}{i}"
    raise AssertionError(f"no key maps to {server.address}")


def acknowledge(client: Any, action: str, key: str) -> Any:
    """Write NEW to `key` (``set``, ``set_many``) or invalidate it (``invalidate``,
    ``delete``), checking that the client acknowledged it; returns what reads may return from
    now on besides a miss (None after an invalidation)."""
    if action == "set":
        assert client.set(key, NEW) is True
        return NEW
    if action == "set_many":
        assert client.set_many({key: NEW}) == []
        return NEW
    getattr(client, action)(key)  # acknowledged: it returned instead of raising
    return None


def assert_never_older(reads: dict[str, Any], newer: Any) -> None:
    """Each read returned the acknowledged value or missed, never the value it replaced."""
    wrong = {how: value for how, value in reads.items() if value not in (newer, None)}
    assert not wrong, f"acknowledged {newer!r} replaced {OLD!r}, yet read {wrong!r}"


@dataclass
class StandIn:
    """A client whose keys on `primary` are answered by `spare` while `primary` is
    unreachable; `connect` makes another client of the same servers."""

    client: Any
    primary: MemcachedServer
    spare: MemcachedServer
    connect: Callable[[], Any]

    def key(self, prefix: str = "k") -> str:
        return key_on(self.client, self.primary, prefix)


@pytest.fixture(params=["gutter", "remap"])
def stand_in(
    request: pytest.FixtureRequest, fleet: list[MemcachedServer], make_client: Any
) -> StandIn:
    primary, spare = fleet[0], fleet[1]
    if request.param == "gutter":
        servers: Any = primary.address
        options: dict[str, Any] = {"gutter": [spare.address]}
    else:
        servers = [primary.address, spare.address]
        options = {"remap_on_failure": True}

    def connect() -> Any:
        return make_client(servers, **FAST, **options)

    return StandIn(connect(), primary, spare, connect)


# Case 1: a stand-in's copy outlives the primary's rejoin.


@pytest.mark.parametrize("action", ["set", "invalidate"])
def test_writes_after_the_primary_rejoins_clear_the_stand_in_copy(
    stand_in: StandIn, action: str
) -> None:
    """Outage 1 puts OLD on the stand-in; the primary comes back (restarted) and takes an
    acknowledged write or invalidation; it fails again (frozen) well within the stand-in's TTL:
    reads that fall back to the stand-in must not find OLD, and ``get_or_compute`` must call the
    loader rather than return OLD."""
    c, key = stand_in.client, stand_in.key()
    stand_in.primary.stop()
    assert c.set(key, OLD) is True
    assert held(stand_in.spare, key) == {key: OLD}  # the stand-in answered the write
    stand_in.primary.restart()
    let_rejoin()
    newer = acknowledge(c, action, key)
    with frozen(stand_in.primary, c):
        read = c.get(key)
        computed = c.get_or_compute(key, lambda: "loaded", 5)
    assert_never_older({"get": read}, newer)
    assert computed in (newer or "loaded", "loaded"), "get_or_compute served the older copy"


# Case 2: a write answered by a stand-in leaves the primary's old value behind.


@pytest.mark.parametrize("action", ["set", "set_many"])
def test_a_write_answered_by_the_stand_in_retires_the_frozen_primary_copy(
    stand_in: StandIn, action: str
) -> None:
    """The primary holds OLD and is frozen (not restarted, so it keeps OLD); the write of NEW
    is answered by the stand-in and acknowledged. After the primary thaws and rejoins, no
    client of this process reads OLD, not even one that never saw the outage: the primary
    owed a delete of the key, sent before anything else this process asked it."""
    c, key = stand_in.client, stand_in.key()
    assert c.set(key, OLD) is True
    with frozen(stand_in.primary, c):
        newer = acknowledge(c, action, key)
        assert held(stand_in.spare, key) == {key: NEW}  # the stand-in answered the write
        assert c.health()[stand_in.primary.address]["owed_deletes"] == 1
    let_rejoin()
    late_comer = stand_in.connect()
    assert_never_older({"another client": late_comer.get(key), "the writer": c.get(key)}, newer)
    assert held(stand_in.primary, key) in ({}, {key: NEW}), "the primary still holds OLD"
    assert c.health()[stand_in.primary.address]["owed_deletes"] == 0, "paid"


# Case 3: conditional writes and counters decided by a stand-in without the primary's data.

CONDITIONAL = ["add", "replace", "cas", "append", "prepend"]
COUNTERS = ["incr", "decr"]


def attempt(client: Any, op: str, key: str, token: Any, mode: str) -> Any:
    """Run the conditional write or counter `op` on `key`; its result or the MemcacheError."""
    try:
        if op == "cas":
            return client.cas(key, "second", token, on_server_error=mode)
        if op in COUNTERS:
            return getattr(client, op)(key, 1, initial=100, on_server_error=mode)
        return getattr(client, op)(key, "second", on_server_error=mode)
    except memlease.MemcacheError as error:
        return error


@pytest.mark.parametrize("mode", ["raise", "miss"])
def test_conditional_writes_and_counters_are_never_decided_by_a_stand_in(
    stand_in: StandIn, mode: str
) -> None:
    """With the primary frozen while it holds a lock, a string and counters, a second ``add``
    of the lock, the other conditional writes and the counters fail as the primary's failure
    does (a MemcacheConnectionError, or False / None under ``on_server_error="miss"``), and
    nothing of theirs is written to the stand-in."""
    c = stand_in.client
    keys = {op: stand_in.key(op) for op in CONDITIONAL + COUNTERS}
    for op, key in keys.items():
        if op in COUNTERS:
            assert c.incr(key, 0, initial=5) == 5
        else:
            assert c.set(key, "first") is True
    _, token = c.gets(keys["cas"])
    with frozen(stand_in.primary, c):
        outcomes = {op: attempt(c, op, key, token, mode) for op, key in keys.items()}
        on_stand_in = held(stand_in.spare, *keys.values())
    if mode == "raise":
        wrong = {
            op: outcome
            for op, outcome in outcomes.items()
            if not isinstance(outcome, memlease.MemcacheConnectionError)
        }
        assert not wrong, f"decided without the primary: {wrong!r}"
    else:
        expected = {op: None if op in COUNTERS else False for op in keys}
        assert {op: repr(v) for op, v in outcomes.items()} == {
            op: repr(v) for op, v in expected.items()
        }
    assert on_stand_in == {}, "a conditional write or counter reached the stand-in"


def test_a_cas_token_is_only_handed_out_by_the_keys_own_server(stand_in: StandIn) -> None:
    """CAS tokens are counted per server: one a stand-in handed out could match an unrelated
    item's on the primary. With the primary unreachable, ``gets`` and ``touch`` fail as its
    failure does (a miss under ``on_server_error="miss"``), while lease reads still go to
    the stand-in."""
    c, key = stand_in.client, stand_in.key()
    with frozen(stand_in.primary, c):
        assert c.set(key, NEW) is True  # the stand-in holds a copy
        with pytest.raises(memlease.MemcacheConnectionError):
            c.gets(key)
        assert c.gets(key, on_server_error="miss") == (None, None)
        with pytest.raises(memlease.MemcacheConnectionError):
            c.touch(key, 30)
        assert c.lease_get(key, lease_ttl=5).value == NEW


# Case 4: remapped copies keep their TTL (0: forever) and are served when the primary fails
# again. Serving them again is case 1's remap variant; the cap is checked here.


def remapped_ttls(fleet: list[MemcachedServer], client: Any) -> list[int | None]:
    """Write two keys of the (stopped) first server with TTL 0 and 3600; the TTLs their
    copies have on the server they were remapped to."""
    primary, spare = fleet[0], fleet[1]
    keys = [key_on(client, primary, "forever"), key_on(client, primary, "hour")]
    primary.stop()
    assert client.set(keys[0], OLD, ttl=0) is True
    assert client.set(keys[1], OLD, ttl=3600) is True
    with direct(spare) as client:
        return [client.meta_get(key, "t").ttl for key in keys]


def test_remapped_copies_have_their_ttl_capped_at_ten_seconds_by_default(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    c = make_client([s.address for s in fleet[:2]], remap_on_failure=True, **FAST)
    ttls = remapped_ttls(fleet, c)
    assert all(ttl is not None and 0 < ttl <= 10 for ttl in ttls), ttls


def test_remap_ttl_caps_remapped_copies(fleet: list[MemcachedServer], make_client: Any) -> None:
    servers = [s.address for s in fleet[:2]]
    c = make_client(servers, remap_on_failure=True, remap_ttl=2, **FAST)
    ttls = remapped_ttls(fleet, c)
    assert all(ttl is not None and 0 < ttl <= 2 for ttl in ttls), ttls


@pytest.mark.parametrize("remap_ttl", [0, -5])
def test_remap_ttl_must_be_positive(make_client: Any, remap_ttl: int) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client(["127.0.0.1:1", "127.0.0.1:2"], remap_on_failure=True, remap_ttl=remap_ttl)


def tenants(client: Any, stored: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two routing keys naming the same stored key, placed on different servers."""
    first = ("tenant:0", stored)
    for i in range(1, 500):
        other = (f"tenant:{i}", stored)
        if client.server_for(other) != client.server_for(first):
            return first, other
    raise AssertionError("no two tenants on different servers")


def test_a_stand_in_copy_of_a_routed_key_is_not_another_routing_keys_item(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    """Two tenants store "settings" (and a "lock") on different servers, routed by tenant. One
    tenant's server dies and its writes are remapped onto the other's server: they must not
    overwrite the other tenant's item there, and once the first server is back, the clears of
    the remapped copies must not delete it (nor release the other tenant's lock)."""
    c = make_client([s.address for s in fleet[:2]], remap_on_failure=True, **FAST)
    away, home = tenants(c, "settings")
    victim = next(s for s in fleet if s.address == c.server_for(away))
    # The tenant whose "lock" lives on the other server holds it.
    other_lock, home_lock = sorted(
        tenants(c, "lock"), key=lambda k: c.server_for(k) != victim.address
    )
    assert c.set(home, "home's") is True
    assert c.add(home_lock, "held") is True
    victim.stop()
    assert c.set(away, "away's") is True  # remapped onto home's server
    assert c.get(home) == "home's", "the remapped copy overwrote another tenant's item"
    victim.restart()
    let_rejoin()
    assert c.set(away, "away's, later") is True  # clears the remapped copy, by its own name
    assert c.add(other_lock, "other") is True
    assert c.get(home) == "home's", "clearing a remapped copy deleted another tenant's item"
    assert c.add(home_lock, "second holder") is False, "another tenant's lock was released"


# Case 5: a mirror that missed a write serves the value it replaced when the primary fails.


@pytest.mark.parametrize("action", ["set", "set_many", "invalidate", "delete"])
def test_a_write_the_mirror_missed_is_never_served_by_it(
    fleet: list[MemcachedServer], make_client: Any, action: str
) -> None:
    """Both hold OLD; the mirror is frozen while the primary takes an acknowledged write or
    invalidation; the mirror thaws and rejoins; then the primary dies and reads fail over to
    the mirror: they miss or find NEW, never OLD."""
    primary, mirror = fleet[0], fleet[1]
    c = make_client(primary.address, mirror=[mirror.address], **FAST)
    assert c.set("k", OLD) is True
    with frozen(mirror, c, probe=lambda: c.set("probe", 0)):
        newer = acknowledge(c, action, "k")
    let_rejoin()
    primary.stop()
    assert_never_older({"get": c.get("k"), "get_many": c.get_many(["k"]).get("k")}, newer)


def test_read_through_keeps_caching_on_the_mirror_while_the_primary_is_down(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    """A touch is copied to the mirror (not dropped there), and while the primary is down a
    lease read and its fill both go to the mirror: the loader runs once, not per read."""
    primary, mirror = fleet[0], fleet[1]
    c = make_client(primary.address, mirror=[mirror.address], **FAST)
    assert c.set("plain", "x") is True
    assert c.touch("plain", 300) is True
    assert held(mirror, "plain") == {"plain": "x"}, "the touch dropped the mirror's copy"
    primary.stop()
    calls = []

    def load() -> str:
        calls.append(1)
        return "computed"

    assert [c.get_or_compute("k", load, 300) for _ in range(5)] == ["computed"] * 5
    assert len(calls) == 1, "the fills did not reach the mirror the lease reads went to"
    assert c.get("plain") == "x"


def test_conditional_writes_on_a_mirrored_key_delete_the_mirror_copy(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    """The mirror is not asked to decide a conditional write or counter on its own (possibly
    older) data: its copy is deleted instead, and the primary's result stands."""
    primary, mirror = fleet[0], fleet[1]
    c = make_client(primary.address, mirror=[mirror.address], **FAST)
    assert c.set("text", "a") is True
    assert held(mirror, "text") == {"text": "a"}  # a plain write is copied
    assert c.incr("counter", 0, initial=5) == 5
    assert c.add("lock", "holder") is True
    assert c.append("text", "b") is True
    assert c.incr("counter", 1) == 6
    assert held(primary, "lock", "text", "counter") == {
        "lock": "holder",
        "text": "ab",
        "counter": b"6",
    }
    assert held(mirror, "lock", "text", "counter") == {}


# Case 6: a split hot key's copy that missed a write.

HOT_COPY = "hot:memlease-copy-1"


@pytest.mark.parametrize("action", ["set", "set_many", "delete_many"])
def test_a_split_copy_that_missed_a_write_never_serves_the_replaced_value(
    fleet: list[MemcachedServer], make_client: Any, action: str
) -> None:
    """One copy's server is frozen during a write or delete of the split key: the key is
    reported not stored / not deleted (``on_server_error="miss"``); after the server thaws
    and rejoins, reads, which pick a copy at random, miss or find NEW, never OLD."""
    c = make_client(
        [s.address for s in fleet],
        hot_keys=["hot"],
        hot_key_copies=3,
        on_server_error="miss",
        **FAST,
    )
    assert c.set("hot", OLD) is True
    (copy_server,) = [srv for srv in fleet if held(srv, HOT_COPY)]
    assert copy_server.address != c.server_for("hot")
    with frozen(copy_server, c):
        if action == "set":
            assert c.set("hot", NEW) is False
        elif action == "set_many":
            assert c.set_many({"hot": NEW}) == ["hot"], "a copy was not stored"
        else:
            assert c.delete_many(["hot"]) == 0, "a copy was not deleted"
    newer = None if action == "delete_many" else NEW
    let_rejoin()
    reads = {f"read {i}": c.get("hot") for i in range(60)}
    assert_never_older(reads, newer)
    assert held(copy_server, HOT_COPY) in ({}, {HOT_COPY: newer}), "the copy still holds OLD"


def test_a_split_counter_never_reads_behind_its_last_count(
    fleet: list[MemcachedServer], make_client: Any
) -> None:
    """Counting on a split key: one copy's server is frozen during an increment, then comes
    back. Counting on each copy would leave that copy behind for good; reads (which pick a
    copy at random) must return the last acknowledged count."""
    c = make_client([s.address for s in fleet], hot_keys=["ctr"], hot_key_copies=3, **FAST)
    assert c.set("ctr", 10) is True
    copy_server = next(srv for srv in fleet if held(srv, "ctr:memlease-copy-1"))
    with frozen(copy_server, c), suppress(memlease.MemcacheConnectionError):
        c.incr("ctr", 1)
    let_rejoin()
    last = c.incr("ctr", 1)
    assert last in (11, 12)
    reads = {c.get("ctr") for _ in range(60)} | {c.get_many(["ctr"])["ctr"] for _ in range(20)}
    assert reads == {last}, f"the last count is {last}, reads gave {reads}"
