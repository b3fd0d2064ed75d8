"""Failing fast: a failing server is marked down, calls to it fail at once, one caller probes
it after the period, and it rejoins. Run against both clients."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer


@pytest.fixture
def trio() -> Iterator[list[MemcachedServer]]:
    """Three servers of the test's own, to freeze and kill."""
    servers = [MemcachedServer().start() for _ in range(3)]
    yield servers
    for srv in servers:
        srv.stop()


def key_on(client: Any, server: MemcachedServer, prefix: str = "k") -> str:
    """A key the client places on `server`."""
    for i in range(10_000):
        key = f"{prefix}{i}"
        if client.server_for(key) == server.address:
            return key
    raise AssertionError("no key maps to that server")


def test_frozen_server_costs_one_timeout_then_nothing(
    own_server: MemcachedServer, make_client: Any
) -> None:
    events: list[tuple[str, str, str]] = []
    c = make_client(
        own_server.address,
        timeout=0.2,
        mark_down_period=0.5,
        on_event=lambda *event: events.append(event),
    )
    c.set("k", "v")
    own_server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(memlease.ReadTimeout):
            c.get("k")
        first = time.monotonic() - started
        assert 0.19 <= first < 0.6
        # Marked down: the next calls fail at once, without network I/O.
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(memlease.ServerDown) as info:
                c.get("k")
        assert (time.monotonic() - started) / 20 < 0.02
        assert 0 < info.value.retry_in <= 0.5
        assert isinstance(info.value, memlease.MemcacheConnectionError)
    finally:
        own_server.thaw()
    assert [e[:2] for e in events] == [("marked_down", own_server.address)]
    time.sleep(0.55)
    # The period is over: this call probes the server, which answers, so it rejoins.
    assert c.get("k") == "v"
    assert [e[:2] for e in events] == [
        ("marked_down", own_server.address),
        ("rejoined", own_server.address),
    ]
    health = c.health()[own_server.address]
    assert health["down"] is False
    assert health["mark_downs"] == 1 and health["rejoins"] == 1
    assert health["refused"] >= 20
    assert health["failures"] == 1 and "timed out" in health["last_error"]


def test_killed_server_is_marked_down_and_rejoins_after_restart(
    own_server: MemcachedServer, make_client: Any
) -> None:
    c = make_client(own_server.address, mark_down_period=0.3)
    c.set("k", "v")
    own_server.stop()
    with pytest.raises(memlease.MemcacheConnectionError) as info:
        c.get("k")
    assert not isinstance(info.value, memlease.ServerDown)
    with pytest.raises(memlease.ServerDown):
        c.get("k")
    own_server.restart()
    # Still inside the period: refused without trying.
    with pytest.raises(memlease.ServerDown):
        c.get("k")
    time.sleep(0.35)
    assert c.get("k") is None  # the restarted server is empty, and reachable
    assert c.set("k", "again") and c.get("k") == "again"
    assert c.health()[own_server.address]["rejoins"] == 1


def test_a_failed_probe_keeps_it_down(own_server: MemcachedServer, make_client: Any) -> None:
    events: list[tuple[str, str, str]] = []
    c = make_client(own_server.address, mark_down_period=0.2, on_event=lambda *e: events.append(e))
    own_server.stop()
    with pytest.raises(memlease.MemcacheConnectionError):
        c.get("k")
    time.sleep(0.25)
    with pytest.raises(memlease.MemcacheConnectionError) as info:
        c.get("k")  # the probe: refused again
    assert not isinstance(info.value, memlease.ServerDown)
    with pytest.raises(memlease.ServerDown):
        c.get("k")
    assert [e[0] for e in events] == ["marked_down", "probe_failed"]


def test_failures_to_mark_down_counts_consecutive_failures(
    own_server: MemcachedServer, make_client: Any
) -> None:
    c = make_client(own_server.address, failures_to_mark_down=3, mark_down_period=5.0)
    own_server.stop()
    for _ in range(3):
        with pytest.raises(memlease.MemcacheConnectionError) as info:
            c.get("k")
        assert not isinstance(info.value, memlease.ServerDown)
    with pytest.raises(memlease.ServerDown):
        c.get("k")
    assert c.health()[own_server.address]["consecutive_failures"] == 3


def test_other_servers_keep_serving(trio: list[MemcachedServer], make_client: Any) -> None:
    c = make_client([s.address for s in trio], mark_down_period=5.0)
    dead, alive = trio[0], trio[1]
    dead_key, alive_key = key_on(c, dead), key_on(c, alive)
    c.set(alive_key, "fine")
    dead.stop()
    with pytest.raises(memlease.MemcacheConnectionError):
        c.get(dead_key)
    assert c.get(alive_key) == "fine"
    # The ring is not rebuilt: the dead server's keys are not moved to the others.
    assert c.server_for(dead_key) == dead.address


def test_on_server_error_miss_turns_failures_into_misses(
    trio: list[MemcachedServer], make_client: Any
) -> None:
    c = make_client([s.address for s in trio], mark_down_period=5.0, on_server_error="miss")
    dead = trio[0]
    keys = [f"m{i}" for i in range(60)]
    assert c.set_many({k: k for k in keys}) == []
    on_dead = [k for k in keys if c.server_for(k) == dead.address]
    assert on_dead
    dead.stop()
    dead_key = on_dead[0]
    assert c.get(dead_key) is None  # the connect failure
    assert c.get(dead_key, "fallback") == "fallback"  # marked down now: still a miss
    assert c.gets(dead_key) == (None, None)
    assert c.set(dead_key, "x") is False
    assert c.add(dead_key, "x") is False
    assert c.delete(dead_key) is False
    assert c.touch(dead_key, 10) is False
    assert c.incr(dead_key) is None
    # Multi-key calls serve what they can.
    assert c.get_many(keys) == {k: k for k in keys if k not in on_dead}
    assert sorted(c.set_many({k: "new" for k in keys})) == sorted(on_dead)
    assert c.delete_many(keys) == len(keys) - len(on_dead)
    # The per-call override wins over the client's setting.
    with pytest.raises(memlease.ServerDown):
        c.get(dead_key, on_server_error="raise")
    with pytest.raises(memlease.InvalidArgument):
        c.get(dead_key, on_server_error="ignore")
    # Client errors are never hidden.
    with pytest.raises(memlease.InvalidKey):
        c.get("")


def test_per_call_miss_on_a_raising_client(own_server: MemcachedServer, make_client: Any) -> None:
    c = make_client(own_server.address, mark_down_period=5.0)
    own_server.stop()
    assert c.get("k", on_server_error="miss") is None
    assert c.set("k", 1, on_server_error="miss") is False
    with pytest.raises(memlease.ServerDown):
        c.get("k")


def test_a_hook_that_raises_does_not_fail_the_call(
    own_server: MemcachedServer, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hook(event: str, server: str, detail: str) -> None:
        raise RuntimeError("hook bug")

    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))
    c = make_client(own_server.address, on_event=hook, on_server_error="miss")
    own_server.stop()
    assert c.get("k") is None
    assert len(reported) == 1 and isinstance(reported[0], RuntimeError)


@pytest.mark.parametrize(
    "options",
    [
        {"failures_to_mark_down": 0},
        {"mark_down_period": 0},
        {"on_server_error": "ignore"},
        {"on_event": 5},
    ],
    ids=repr,
)
def test_bad_failure_options_are_refused(
    server: MemcachedServer, make_client: Any, options: dict[str, Any]
) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, **options)


@pytest.mark.slow
def test_freezing_and_killing_servers_under_load(
    trio: list[MemcachedServer], make_client: Any
) -> None:
    """Eight threads read and write their own keys while one server is frozen and another is
    killed: no call raises (on_server_error="miss"), no read returns a value other than the
    last one written, the live server's keys keep working, and each caller pays the timeout
    only until the frozen server is marked down."""
    c = make_client(
        [s.address for s in trio], timeout=0.2, mark_down_period=30.0, on_server_error="miss"
    )
    frozen, killed, alive = trio
    failures: list[BaseException] = []
    slow_calls: list[float] = []
    alive_ok = [0]
    phase = {"name": "before"}
    stop = threading.Event()

    def worker(n: int) -> None:
        last: dict[str, int] = {}
        i = 0
        try:
            while not stop.is_set():
                key = f"w{n}:{i % 40}"
                i += 1
                started = time.monotonic()
                got = c.get(key)
                if got is not None and got != last.get(key):
                    raise AssertionError(f"{key}: read {got}, last wrote {last.get(key)}")
                stored = c.set(key, i)
                elapsed = time.monotonic() - started
                if elapsed > 0.1:
                    slow_calls.append(elapsed)
                if stored:
                    last[key] = i
                else:
                    last.pop(key, None)  # unknown whether it landed: accept any later value
                if c.server_for(key) == alive.address and phase["name"] == "after" and stored:
                    alive_ok[0] += 1
                assert elapsed < 0.5, f"a call took {elapsed:.3f}s"
        except BaseException as e:  # reported by the main thread
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        frozen.freeze()
        killed.stop()
        time.sleep(0.4)
        phase["name"] = "after"
        slow_before_steady = len(slow_calls)
        time.sleep(0.6)
    finally:
        stop.set()
        for t in threads:
            t.join()
        frozen.thaw()
    assert failures == []
    health = c.health()
    assert health[frozen.address]["down"] and health[killed.address]["down"]
    assert not health[alive.address]["down"]
    # Each thread paid the frozen server's timeout at most a few times (calls in flight when it
    # froze), never again once it was marked down.
    assert slow_before_steady <= 16
    assert len(slow_calls) == slow_before_steady
    assert alive_ok[0] > 50


def test_a_probe_that_cannot_connect_in_a_multi_key_call_keeps_probing(
    trio: list[MemcachedServer], make_client: Any
) -> None:
    c = make_client([s.address for s in trio[:2]], mark_down_period=0.2, on_server_error="miss")
    dead = trio[1]
    on_dead, on_live = key_on(c, dead), key_on(c, trio[0])
    dead.stop()
    assert c.get(on_dead) is None  # refused: marked down
    time.sleep(0.3)
    # This call's batch for the dead server is the probe, and its connection is refused.
    assert c.get_many([on_live, on_dead]) == {}
    dead.restart()
    time.sleep(0.3)
    assert c.set(on_dead, "back") is True, "a later call probes again and the server rejoins"
    assert c.health()[dead.address]["down"] is False


def test_a_cancelled_probe_does_not_wedge_the_server(own_server: MemcachedServer) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(own_server.address, timeout=5.0, mark_down_period=0.2) as c:
            own_server.stop()
            with pytest.raises(memlease.MemcacheConnectionError):
                await c.get("k")
            own_server.restart()
            own_server.freeze()
            await asyncio.sleep(0.3)
            probe = asyncio.ensure_future(c.get("k"))  # the probe, stuck on the frozen server
            await asyncio.sleep(0.1)
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe
            own_server.thaw()
            await asyncio.sleep(0.05)
            assert await c.set("k", "v") is True, "the next call probes; the server rejoins"

    asyncio.run(main())
