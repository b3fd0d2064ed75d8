"""Write-failure tracking: failed invalidations are recorded, replayed in the background once
the server answers again, bypassed by read-through meanwhile, and never dropped silently.
Real memcached processes, frozen and killed; both clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer

from .raw import raw_get


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def events() -> list[tuple[str, Any, str]]:
    return []


@pytest.fixture
def tracker(events: list[tuple[str, Any, str]]) -> Iterator[memlease.WriteFailureTracker]:
    t = memlease.WriteFailureTracker(
        on_event=lambda *e: events.append(e), retry_interval=0.05, max_backoff=0.2
    )
    yield t
    t.close()


def mark_down(c: Any, server: MemcachedServer, probe: str = "probe") -> None:
    """Get `server` marked down by `c` (one timed-out request while frozen), then thaw it: it
    answers again, but `c` sends it nothing until the mark-down period ends. Invalidations
    made meanwhile are truly lost: they never reach the server."""
    server.freeze()
    try:
        # Raises, or (with a gutter) is answered by the fallback.
        with contextlib.suppress(memlease.MemcacheConnectionError):
            c.get(probe)
    finally:
        server.thaw()
    assert c.health()[server.address]["down"]


def lose_an_invalidation(c: Any, server: MemcachedServer, key: str = "k") -> None:
    """`c` stores "old" under `key`, then fails to invalidate it: `server` is marked down."""
    c.set(key, "old", 300)
    mark_down(c, server)
    with pytest.raises(memlease.ServerDown):
        c.invalidate(key)


def test_a_lost_invalidation_is_replayed_when_the_server_answers_again(
    own_server: MemcachedServer,
    make_client: Any,
    tracker: memlease.WriteFailureTracker,
    events: list[tuple[str, Any, str]],
) -> None:
    c = make_client(own_server.address, timeout=0.1, mark_down_period=1.5, write_failures=tracker)
    c.set("user:1", "old")
    mark_down(c, own_server)
    with pytest.raises(memlease.ServerDown):
        c.invalidate("user:1")
    assert tracker.pending() == ["user:1"]
    # Meanwhile read-through bypasses the cache for that key instead of serving "old".
    assert c.get_or_compute("user:1", lambda: "new", 60) == "new"
    time.sleep(0.3)
    assert tracker.pending() == ["user:1"], "replays keep failing while marked down"
    assert raw_get(own_server, "user:1") == b"old", "the invalidation never reached the server"
    assert wait_for(lambda: tracker.pending() == [])
    assert c.get("user:1") is None, "the replay deleted the old value"
    stats = tracker.stats()
    assert stats["recorded"] == 1 and stats["replayed"] == 1 and stats["pending"] == 0
    assert stats["replay_failures"] >= 1
    assert [e[0] for e in events] == ["recorded", "replayed"]


def test_a_stale_mark_is_replayed_as_a_stale_mark(
    own_server: MemcachedServer, make_client: Any, tracker: memlease.WriteFailureTracker
) -> None:
    c = make_client(own_server.address, timeout=0.1, mark_down_period=0.1, write_failures=tracker)
    c.set("page", "v1", 300)
    own_server.freeze()
    try:
        with pytest.raises(memlease.MemcacheConnectionError):
            c.invalidate("page", stale_ttl=30)
    finally:
        own_server.thaw()
    assert wait_for(lambda: tracker.pending() == [])
    result = c.get_or_lease("page", stale=memlease.StalePolicy(accept=True))
    assert result.stale and result.value == "v1" and result.won


def test_read_through_replays_a_pending_invalidation_itself(
    own_server: MemcachedServer, make_client: Any
) -> None:
    # A tracker that would wait long before replaying: the read path must not.
    slow = memlease.WriteFailureTracker(retry_interval=60, max_backoff=60)
    c = make_client(own_server.address, timeout=0.1, mark_down_period=1.0, write_failures=slow)
    lose_an_invalidation(c, own_server)
    time.sleep(1.05)  # past the mark-down period
    assert c.get_or_compute("k", lambda: "fresh", 60) == "fresh"
    assert slow.pending() == []
    assert c.get("k") == "fresh"
    slow.close()


def test_a_killed_server_misses_nothing_after_restart(
    own_server: MemcachedServer, make_client: Any, tracker: memlease.WriteFailureTracker
) -> None:
    c = make_client(own_server.address, mark_down_period=0.1, write_failures=tracker)
    own_server.stop()
    for i in range(5):
        with pytest.raises(memlease.MemcacheConnectionError):
            c.invalidate(f"k{i}")
    with pytest.raises(memlease.MemcacheConnectionError):
        c.invalidate("k0")  # deduplicated
    assert tracker.pending() == [f"k{i}" for i in range(5)]
    own_server.restart()
    assert wait_for(lambda: tracker.pending() == [])
    assert tracker.stats()["replayed"] == 5


def test_overflow_is_counted_and_reported(events: list[tuple[str, Any, str]]) -> None:
    small = memlease.WriteFailureTracker(2, on_event=lambda *e: events.append(e))
    cache = ("127.0.0.1:1",)

    def fail(key: Any, stale_ttl: int | None) -> None:
        raise memlease.ServerDown("still down")

    for key in ("a", "b", "c"):
        small.record((cache, key), key, None, fail, memlease.ServerDown("down"))
    assert small.pending() == ["b", "c"]
    assert small.stats()["overflowed"] == 1
    assert ("overflow", "a", "down") in events
    assert small.close(timeout=0.1) == ["b", "c"]
    assert [e[1] for e in events if e[0] == "pending_at_close"] == ["b", "c"]


def test_close_reports_what_is_still_pending(make_client: Any) -> None:
    srv = MemcachedServer().start()
    reported: list[tuple[str, Any, str]] = []
    c = make_client(
        srv.address,
        write_failures=memlease.WriteFailureTracker(on_event=lambda *e: reported.append(e)),
    )
    srv.stop()
    with pytest.raises(memlease.MemcacheConnectionError):
        c.invalidate("orphan")
    tracker = c.write_failures
    assert tracker.close(timeout=0.5) == ["orphan"]
    assert ("pending_at_close", "orphan") in [e[:2] for e in reported]


def test_a_clients_own_tracker_is_closed_with_it(make_client: Any) -> None:
    srv = MemcachedServer().start()
    c = make_client(srv.address)
    srv.stop()
    with pytest.raises(memlease.MemcacheConnectionError):
        c.invalidate("lost")
    assert c.close() == ["lost"]


def test_tracker_options_are_checked() -> None:
    with pytest.raises(memlease.InvalidArgument):
        memlease.WriteFailureTracker(0)
    with pytest.raises(memlease.InvalidArgument):
        memlease.WriteFailureTracker(retry_interval=1.0, max_backoff=0.5)


def test_a_success_covers_only_failures_recorded_before_it_was_sent() -> None:
    t = memlease.WriteFailureTracker(retry_interval=60, max_backoff=60)
    cache = ("127.0.0.1:1",)
    since = t.generation()
    # Another thread's invalidation (maybe of a later write) fails while ours is in flight.
    t.record((cache, "k"), "k", None, lambda *a: None, memlease.ServerDown("down"))
    t.resolved((cache, "k"), since)
    assert t.pending() == ["k"], "our success may predate the write that failed to invalidate"
    t.resolved((cache, "k"), t.generation())
    assert t.pending() == []
    t.close()


def test_a_failure_recorded_during_a_replay_survives_it(
    events: list[tuple[str, Any, str]],
) -> None:
    t = memlease.WriteFailureTracker(
        on_event=lambda *e: events.append(e), retry_interval=60, max_backoff=60
    )
    cache = ("127.0.0.1:1",)

    def replay_while_another_fails(key: Any, stale_ttl: int | None) -> None:
        t.record((cache, key), key, None, lambda *a: None, memlease.ServerDown("again"))

    t.record((cache, "k"), "k", None, replay_while_another_fails, memlease.ServerDown("down"))
    assert t.replay_due(now=float("inf")) == 0
    assert t.pending() == ["k"]
    assert "replayed" not in [e[0] for e in events]
    assert t.replay_due(now=float("inf")) == 1  # the newer failure's replay succeeds
    assert t.pending() == []
    t.close()


def test_a_cancelled_invalidation_is_tracked(own_server: MemcachedServer) -> None:
    tracker = memlease.WriteFailureTracker(retry_interval=0.05, max_backoff=0.1)

    client = memlease.AsyncClient(own_server.address, timeout=5.0, write_failures=tracker)

    async def cancel_midway() -> None:
        await client.set("k", "old")
        own_server.freeze()
        task = asyncio.ensure_future(client.invalidate("k"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert tracker.pending() == ["k"], "it may or may not have reached the server"

    try:
        asyncio.run(cancel_midway())
    finally:
        own_server.thaw()
    assert wait_for(lambda: tracker.pending() == [])
    assert tracker.stats()["replayed"] == 1
    asyncio.run(client.close())
    tracker.close()


def test_a_failure_after_close_is_reported_not_dropped(
    events: list[tuple[str, Any, str]],
) -> None:
    t = memlease.WriteFailureTracker(on_event=lambda *e: events.append(e))
    assert t.close() == []
    t.record(("cache", "late"), "late", None, lambda *a: None, memlease.ServerDown("down"))
    assert ("pending_at_close", "late") in [e[:2] for e in events]
    assert t.pending() == ["late"]


def test_async_replays_outlive_the_event_loop_that_failed(own_server: MemcachedServer) -> None:
    tracker = memlease.WriteFailureTracker(retry_interval=0.05, max_backoff=0.1)
    options: dict[str, Any] = {"timeout": 0.1, "mark_down_period": 1.0, "write_failures": tracker}
    client = memlease.AsyncClient(own_server.address, **options)

    async def lose_an_invalidation() -> None:
        await client.set("k", "old")
        own_server.freeze()
        try:
            with pytest.raises(memlease.MemcacheConnectionError):
                await client.get("probe")
        finally:
            own_server.thaw()
        with pytest.raises(memlease.ServerDown):
            await client.invalidate("k")

    asyncio.run(lose_an_invalidation())  # that loop is closed now
    assert tracker.pending() == ["k"]
    assert wait_for(lambda: tracker.pending() == [])
    with memlease.Client(own_server.address) as direct:
        assert direct.get("k") is None, "replayed on a loop of the tracker's own"
    assert asyncio.run(client.close()) == []


def test_get_or_lease_replays_a_pending_invalidation_first(
    own_server: MemcachedServer, make_client: Any
) -> None:
    slow = memlease.WriteFailureTracker(retry_interval=60, max_backoff=60)
    c = make_client(own_server.address, timeout=0.1, mark_down_period=1.0, write_failures=slow)
    lose_an_invalidation(c, own_server)
    with pytest.raises(memlease.ServerDown):
        c.get_or_lease("k")  # it cannot fix the cache, so it does not read it
    time.sleep(1.05)
    result = c.get_or_lease("k")
    assert not result.found and result.won, "the old value was invalidated before the read"
    assert slow.pending() == []
    slow.close()


def test_invalidate_many_tracks_the_keys_it_could_not_reach(
    cluster: list[MemcachedServer], make_client: Any, tracker: memlease.WriteFailureTracker
) -> None:
    addresses = [s.address for s in cluster]
    c = make_client(addresses, timeout=0.1, mark_down_period=1.0, write_failures=tracker)
    keys = [f"im{i}" for i in range(30)]
    c.set_many({k: k for k in keys})
    frozen = cluster[2]
    on_frozen = [k for k in keys if c.server_for(k) == frozen.address]
    assert on_frozen
    frozen.freeze()
    try:
        with pytest.raises(memlease.MemcacheConnectionError, match="tracked for replay"):
            c.invalidate_many(keys)
        assert sorted(tracker.pending()) == sorted(on_frozen)
        with memlease.Client(cluster[0].address) as live:
            assert all(live.get(k) is None for k in keys), "the reachable ones went at once"
    finally:
        frozen.thaw()
    assert wait_for(lambda: tracker.pending() == [], timeout=8.0)
    assert tracker.stats()["replayed"] == len(on_frozen)


def test_invalidate_many_marks_stale(client: Any) -> None:
    client.set_many({"s1": 1, "s2": 2})
    assert client.invalidate_many(["s1", "s2", "s3"], stale_ttl=30) == 2
    results = [
        client.get_or_lease(k, stale=memlease.StalePolicy(accept=True)) for k in ("s1", "s2")
    ]
    assert [(r.value, r.stale, r.won) for r in results] == [(1, True, True), (2, True, True)]
    assert client.invalidate_many(["s1", "s2"]) == 2
    assert client.get_many(["s1", "s2"]) == {}


def test_an_invalidation_answered_by_the_gutter_is_still_replayed_on_the_primary(
    own_server: MemcachedServer, make_client: Any, tracker: memlease.WriteFailureTracker
) -> None:
    with MemcachedServer() as spare:
        gutter_replays_on_primary(own_server, spare, make_client, tracker)


def gutter_replays_on_primary(
    primary: MemcachedServer,
    spare: MemcachedServer,
    make_client: Any,
    tracker: memlease.WriteFailureTracker,
) -> None:
    c = make_client(
        primary.address,
        gutter=[spare.address],
        timeout=0.1,
        mark_down_period=1.0,
        write_failures=tracker,
    )
    c.set("k", "old", 300)
    mark_down(c, primary)
    c.set("k", "in gutter")  # the gutter holds a copy meanwhile
    with pytest.raises(memlease.ServerDown):
        c.invalidate("k")
    assert tracker.pending() == ["k"]
    with memlease.Client(spare.address) as gutter:
        assert gutter.get("k") is None, "the gutter's copy went at once"
    assert raw_get(primary, "k") == b"old", "the primary still holds the old value"
    assert wait_for(lambda: tracker.pending() == [])
    with memlease.Client(primary.address) as direct:
        assert direct.get("k") is None, "replayed on the primary once it was back"


def test_a_closed_clients_failures_are_replayed_through_another_open_client(
    own_server: MemcachedServer, events: list[tuple[str, Any, str]]
) -> None:
    tracker = memlease.WriteFailureTracker(
        on_event=lambda *e: events.append(e), retry_interval=0.05, max_backoff=0.1
    )
    options: dict[str, Any] = {"timeout": 0.1, "mark_down_period": 0.5, "write_failures": tracker}
    survivor = memlease.Client(own_server.address, **options)
    leaver = memlease.Client(own_server.address, **options)
    leaver.set("k", "old")
    mark_down(leaver, own_server)
    with pytest.raises(memlease.ServerDown):
        leaver.invalidate("k")
    leaver.close()  # its own replay is dead now; the survivor's serves the same servers
    assert "pending_at_close" not in [e[0] for e in events]
    assert wait_for(lambda: tracker.pending() == [])
    assert survivor.get("k") is None
    # With no open client left, what stays pending is reported.
    mark_down(survivor, own_server)
    with pytest.raises(memlease.ServerDown):
        survivor.invalidate("k2")
    survivor.close()
    assert ("pending_at_close", "k2") in [e[:2] for e in events]
    tracker.close()


@pytest.mark.parametrize("method", ["get_or_compute", "get_or_lease"])
@pytest.mark.parametrize(
    "spelling", [b"user:1", ("user:1", "user:1")], ids=["bytes", "routed-by-itself"]
)
def test_a_pending_invalidation_is_found_under_any_spelling_of_its_key(
    own_server: MemcachedServer, make_client: Any, method: str, spelling: Any
) -> None:
    # No background replay: only the read path can fix the cache here.
    slow = memlease.WriteFailureTracker(retry_interval=60, max_backoff=60)
    c = make_client(own_server.address, timeout=0.1, mark_down_period=0.5, write_failures=slow)
    lose_an_invalidation(c, own_server, "user:1")
    time.sleep(0.55)  # past the mark-down period
    if method == "get_or_compute":
        assert c.get_or_compute(spelling, lambda: "new", 60) == "new"
    else:
        result = c.get_or_lease(spelling)
        assert not result.found and result.won, "the old value was read, not replayed over"
    assert slow.pending() == [], "the read replayed the invalidation"
    with memlease.Client(own_server.address) as direct:
        assert direct.get("user:1") != "old"
    slow.close()


def test_clients_listing_the_same_servers_in_another_order_share_pending_invalidations(
    make_client: Any,
) -> None:
    slow = memlease.WriteFailureTracker(retry_interval=60, max_backoff=60)
    with MemcachedServer() as first, MemcachedServer() as second:
        options: dict[str, Any] = {"timeout": 0.1, "mark_down_period": 5, "write_failures": slow}
        writer = make_client([first.address, second.address], **options)
        reader = make_client([second.address, first.address], **options)
        home = writer.server_for("user:1")
        assert reader.server_for("user:1") == home  # ketama: the order does not matter
        writer.set("user:1", "old", 300)
        mark_down(writer, first if home == first.address else second, probe="user:1")
        with pytest.raises(memlease.ServerDown):
            writer.invalidate("user:1")
        # The reader can reach the server: it replays the writer's invalidation before reading.
        assert reader.get_or_compute("user:1", lambda: "new", 60) == "new"
        assert slow.pending() == []
    slow.close()


def test_placement_identity_reflects_order_only_where_placement_depends_on_it() -> None:
    servers = ["127.0.0.1:11", "127.0.0.1:12", "127.0.0.1:13"]
    reordered = servers[::-1]
    for hashing, order_matters in [("ketama", False), ("pymemcache", False), ("modula", True)]:
        with (
            memlease.Client(servers, hashing=hashing) as one,
            memlease.Client(reordered, hashing=hashing) as other,
        ):
            same = one._placement_identity == other._placement_identity
            assert same is not order_matters, hashing
    with memlease.Client(servers) as one, memlease.Client(servers[:2]) as fewer:
        assert one._placement_identity != fewer._placement_identity
