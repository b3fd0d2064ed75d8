"""Leases, stale marking, recache and early expiry against a real memcached, for both clients
(the `make_client` fixture runs each test with Client and with AsyncClient)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import pytest

import memlease
from memlease import LeasePolicy, RecachePolicy, StalePolicy
from memlease import _consistency as c_
from memlease._consistency import xfetch_due
from memlease.testing import MemcachedServer

NO_WAIT = LeasePolicy(retries=0)


def test_one_winner_and_placeholders_are_never_values(client: Any) -> None:
    first = client.lease_get("k", lease_ttl=30)
    assert first.won and not first.found and first.value is None and first.cas
    second = client.lease_get("k", lease_ttl=30)
    assert not second.won and second.already_won and not second.found and second.value is None
    # Plain reads do not see the placeholder either.
    assert client.get("k") is None
    assert client.get("k", default="miss") == "miss"
    assert client.get_many(["k"]) == {}
    assert client.gets("k") == (None, None)
    assert client.fill("k", {"computed": True}, first.cas, 60)
    hit = client.get_or_lease("k")
    assert hit.found and not hit.won and hit.value == {"computed": True}
    assert client.get("k") == {"computed": True}


def test_fill_takes_the_lease_result(client: Any) -> None:
    lease = client.get_or_lease("by-result")
    assert lease.won and lease.key == "by-result"
    assert client.fill(lease, [1, 2], 60)
    assert client.get("by-result") == [1, 2]
    assert 0 < client.get_or_lease("by-result").ttl <= 60
    assert not client.fill(lease, "again", 60), "the lease's CAS is spent"
    with pytest.raises(memlease.InvalidArgument, match="LeaseResult"):
        client.fill(memlease.LeaseResult(won=True), "v", 60)  # no key, no CAS
    # Only the winner fills by result: a loser filling first would refuse the winner's fill.
    held = client.lease_get("contended", lease_ttl=30)
    loser = client.get_or_lease("contended", lease=NO_WAIT)
    assert held.won and not loser.won
    with pytest.raises(memlease.InvalidArgument, match="won"):
        client.fill(loser, "v", 60)
    assert client.fill(held, "v", 60)


@pytest.mark.parametrize("raised", [GeneratorExit, StopIteration])
def test_a_loader_raising_generator_exit_or_stop_iteration_hands_the_lease_on(
    client: Any, flavor: str, raised: type[BaseException]
) -> None:
    own = raised("the loader's own")

    def loader() -> Any:
        raise own

    # A StopIteration cannot leave a coroutine: Python turns it into RuntimeError, chained.
    expected = RuntimeError if flavor != "sync" and raised is StopIteration else raised
    with pytest.raises(expected) as caught:
        client.get_or_compute("gx", loader, 60)
    assert caught.value is own or caught.value.__cause__ is own
    # Released: the next caller wins now, not after lease_ttl.
    assert client.get_or_lease("gx", lease=NO_WAIT).won


def test_an_async_loader_raising_generator_exit_hands_the_lease_on(server: Any) -> None:
    async def main() -> None:
        async with memlease.AsyncClient(server.address) as c:
            await c.delete("agx")
            own = GeneratorExit("the loader's own")

            async def loader() -> Any:
                await asyncio.sleep(0)
                raise own

            with pytest.raises(GeneratorExit) as caught:
                await c.get_or_compute("agx", loader, 60)
            assert caught.value is own
            assert (await c.get_or_lease("agx", lease=NO_WAIT)).won

    asyncio.run(main())


def test_an_empty_filled_value_is_a_value(client: Any) -> None:
    lease = client.lease_get("empty", lease_ttl=30)
    assert client.fill("empty", b"", lease.cas, 60)
    result = client.get_or_lease("empty")
    assert result.found and result.value == b"" and not result.won
    assert client.get("empty") == b""


def test_losers_wait_for_the_winner(client: Any, server: MemcachedServer) -> None:
    lease = client.lease_get("slow", lease_ttl=30)
    assert lease.won

    def winner() -> None:
        time.sleep(0.15)
        with memlease.Client(server.address) as other:
            assert other.fill("slow", "done", lease.cas, 60)

    thread = threading.Thread(target=winner)
    thread.start()
    started = time.monotonic()
    result = client.get_or_lease("slow", lease=LeasePolicy(retries=20, wait=0.01, max_wait=0.05))
    thread.join()
    assert result.found and result.value == "done" and not result.won
    assert 0.1 < time.monotonic() - started < 2.0
    assert client.read_through_stats()["waits"] >= 2


def test_waiting_gives_up_after_retries(client: Any) -> None:
    assert client.lease_get("held", lease_ttl=30).won
    slept: list[float] = []
    policy = LeasePolicy(retries=3, wait=0.01, backoff=2.0, max_wait=0.03, sleep=slept.append)
    result = client.get_or_lease("held", lease=policy)
    assert not result.found and not result.won and result.value is None
    assert slept == [0.01, 0.02, 0.03]  # the pluggable wait function saw the backoff
    assert client.read_through_stats()["wait_exhausted"] == 1


@pytest.mark.slow
def test_a_dead_winner_loses_its_lease_after_lease_ttl(client: Any) -> None:
    assert client.lease_get("orphan", lease_ttl=2).won  # this winner never fills
    started = time.monotonic()
    result = client.get_or_lease(
        "orphan", lease=LeasePolicy(lease_ttl=2, retries=100, wait=0.05, max_wait=0.05)
    )
    elapsed = time.monotonic() - started
    assert result.won and not result.found
    # memcached's clock ticks in whole seconds: a 2 s placeholder lasts between 1 and 2 s.
    assert 0.9 < elapsed < 4.0, elapsed


def test_invalidation_during_compute_refuses_the_stale_fill(client: Any) -> None:
    lease = client.lease_get("row", lease_ttl=30)
    assert lease.won
    client.invalidate("row")  # the row changed while the winner computed
    assert client.fill("row", "old", lease.cas, 60) is False
    assert client.get("row") is None
    # Marking stale also refuses it.
    client.set("row2", "v1")
    lease2 = client.lease_get("row2", lease_ttl=30)
    assert lease2.found and not lease2.won
    client.invalidate("row2", stale_ttl=30)
    assert client.fill("row2", "computed-before-invalidation", lease2.cas, 60) is False


def test_stale_values_served_while_one_caller_refreshes(client: Any) -> None:
    client.set("page", "v1", 300)
    assert client.invalidate("page", stale_ttl=30)
    accept = StalePolicy(accept=True)
    results = [client.get_or_lease("page", stale=accept) for _ in range(4)]
    assert [(r.value, r.stale, r.won) for r in results] == [("v1", True, True)] + [
        ("v1", True, False)
    ] * 3
    # A caller that does not accept stale values waits (here: not at all) and gets nothing.
    refused = client.get_or_lease("page", lease=NO_WAIT)
    assert not refused.found and refused.value is None
    assert client.get("page") is None  # plain reads do not return invalidated values
    assert client.fill("page", "v2", results[0].cas, 300)
    fresh = client.get_or_lease("page")
    assert (fresh.value, fresh.stale, fresh.won) == ("v2", False, False)


def test_get_or_compute_refreshes_stale_values(client: Any) -> None:
    calls: list[int] = []

    def loader() -> str:
        calls.append(1)
        return f"v{len(calls)}"

    assert client.get_or_compute("item", loader, 300) == "v1"
    assert client.get_or_compute("item", loader, 300) == "v1"
    client.invalidate("item", stale_ttl=30)
    assert client.get_or_compute("item", loader, 300) == "v2"
    assert calls == [1, 1]


def test_recache_hands_one_reader_an_early_refresh(client: Any) -> None:
    lease = client.lease_get("feed", lease_ttl=30)
    client.fill("feed", "old", lease.cas, 5)
    early = RecachePolicy(threshold=10)
    first = client.get_or_lease("feed", recache=early)
    second = client.get_or_lease("feed", recache=early)
    assert (first.value, first.won) == ("old", True)
    assert (second.value, second.won, second.already_won) == ("old", False, True)
    # get_or_compute: the winner recomputes, others keep the current value meanwhile.
    client.fill("feed2", "old", None, 5)
    assert client.get_or_compute("feed2", lambda: "new", 300, recache=early) == "new"
    assert client.get("feed2") == "new"
    # Items stored without a TTL never qualify.
    client.set("forever", "x")
    assert not client.get_or_lease("forever", recache=early).won


def test_xfetch_recomputes_early_with_the_papers_probability(client: Any) -> None:
    # Unit: gap = compute_time * beta * -ln(u) against the remaining TTL.
    result = memlease.LeaseResult(value=1, found=True, ttl=10, compute_time=2.0)
    assert xfetch_due(result, 1.0, rand=lambda: 0.999)  # -ln(0.001)*2 = 13.8 >= 10
    assert not xfetch_due(result, 1.0, rand=lambda: 0.5)  # 1.39 < 10
    assert not xfetch_due(memlease.LeaseResult(found=True, ttl=-1, compute_time=9.0), 1.0)
    # Live: a value that took long to compute and expires soon is recomputed.
    calls: list[int] = []

    def recompute() -> str:
        calls.append(1)
        return "new"

    # Due unless -ln(u) < 3e-6: a chance of 3 in a million.
    client.fill("report", "old", None, 3, compute_time=1_000_000.0)
    assert client.get_or_lease("report").compute_time == 1_000_000.0
    value = client.get_or_compute("report", recompute, 300, beta=1.0)
    assert value == "new" and calls == [1]
    # A cheap value far from expiry is not.
    client.fill("cheap", "kept", None, 3600, compute_time=0.001)
    assert client.get_or_compute("cheap", lambda: "recomputed", 300, beta=1.0) == "kept"


def test_a_failing_loader_hands_the_lease_on(client: Any) -> None:
    def broken() -> Any:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        client.get_or_compute("fragile", broken, 60)
    started = time.monotonic()
    assert client.get_or_compute("fragile", lambda: "ok", 60) == "ok"
    assert time.monotonic() - started < 0.5, "the next caller wins at once"


def test_none_is_not_cached_unless_asked(client: Any) -> None:
    calls: list[int] = []

    def absent() -> None:
        calls.append(1)

    assert client.get_or_compute("ghost", absent, 60) is None
    assert client.get_or_compute("ghost", absent, 60) is None
    assert len(calls) == 2
    assert client.get_or_compute("ghost2", absent, 60, none_ttl=30) is None
    assert client.get_or_compute("ghost2", absent, 60, none_ttl=30) is None
    assert len(calls) == 3


def test_without_leases(client: Any) -> None:
    assert client.get_or_compute("plain", lambda: "v", 60, lease=None) == "v"
    assert client.get_or_compute("plain", lambda: "other", 60, lease=None) == "v"


def test_without_leases_stale_values_are_refreshed_not_served(client: Any) -> None:
    client.set("doc", "v1", 300)
    client.invalidate("doc", stale_ttl=30)
    # The first reader is handed the refresh: it loads and stores with the item's CAS.
    assert client.get_or_compute("doc", lambda: "v2", 60, lease=None) == "v2"
    assert client.get("doc") == "v2"
    # A stale item someone else is refreshing is theirs to fill: load, do not store.
    client.invalidate("doc", stale_ttl=30)
    refresher = client.get_or_lease("doc", stale=StalePolicy(accept=True))
    assert refresher.won and refresher.stale
    assert client.get_or_compute("doc", lambda: "v3", 60, lease=None) == "v3"
    assert client.fill("doc", "v3", refresher.cas, 60), "the refresher's fill was not undercut"
    # Nor is someone's lease placeholder overwritten.
    lease = client.lease_get("fresh", lease_ttl=30)
    assert client.get_or_compute("fresh", lambda: "x", 60, lease=None) == "x"
    assert client.fill("fresh", "y", lease.cas, 60)


def test_touch_passes_the_refresh_of_a_stale_item_on(client: Any) -> None:
    client.set("t", "v1", 300)
    client.invalidate("t", stale_ttl=30)
    assert client.touch("t", 60)  # memcached hands the refresh to the first request: this one
    result = client.get_or_lease("t", stale=StalePolicy(accept=True))
    assert result.stale and result.won, "the next reader still gets the refresh"


def test_an_async_wait_function_needs_the_async_client(server: MemcachedServer) -> None:
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    with memlease.Client(server.address) as c:
        assert c.lease_get("held-by-other", lease_ttl=30).won
        with pytest.raises(memlease.InvalidArgument, match="async"):
            c.get_or_lease("held-by-other", lease=LeasePolicy(retries=2, sleep=sleep))


def test_a_closed_coroutine_does_not_run_cleanup_steps() -> None:
    """Closing a read-through coroutine mid-await (never resumed) must not try to await the
    lease release: the generator's cleanup is abandoned, the placeholder expires."""

    class Pending:
        def __await__(self) -> Any:
            yield None

    class FakeClient:
        def lease_get(self, *args: Any, **kwargs: Any) -> Any:
            async def won() -> memlease.LeaseResult:
                return memlease.LeaseResult(won=True, cas=1)

            return won()

        def invalidate(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no step may run after the coroutine is closed")

    async def loader() -> str:
        await Pending()
        return "never"

    steps = c_.get_or_compute(
        "k",
        loader,
        60,
        LeasePolicy(),
        None,
        None,
        None,
        None,
        c_.Counters(),
        memlease.WriteFailureTracker(),
        lambda key: ("cache", key),
    )
    coroutine = c_.run_async(FakeClient(), steps)
    coroutine.send(None)  # now awaiting the loader
    coroutine.close()  # raises RuntimeError("coroutine ignored GeneratorExit") if mishandled


def test_unreachable_cache_falls_back_to_the_loader(make_client: Any) -> None:
    srv = MemcachedServer().start()
    c = make_client(srv.address, timeout=0.2)
    srv.stop()
    assert c.get_or_compute("k", lambda: "from db", 60) == "from db"
    assert c.read_through_stats()["cache_errors"] >= 1
    with pytest.raises(memlease.MemcacheConnectionError):
        c.get_or_lease("k")


def test_policies_are_checked() -> None:
    with pytest.raises(memlease.InvalidArgument):
        LeasePolicy(lease_ttl=0)
    with pytest.raises(memlease.InvalidArgument):
        LeasePolicy(backoff=0.5)
    with pytest.raises(memlease.InvalidArgument):
        RecachePolicy(threshold=0)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("policy", "fields", "named"),
    [
        (LeasePolicy, {"lease_ttl": NAN}, "lease_ttl"),
        (LeasePolicy, {"lease_ttl": -1}, "lease_ttl"),
        (LeasePolicy, {"lease_ttl": 2.5}, "lease_ttl"),
        (LeasePolicy, {"lease_ttl": True}, "lease_ttl"),
        (LeasePolicy, {"retries": -1}, "retries"),
        (LeasePolicy, {"retries": NAN}, "retries"),
        (LeasePolicy, {"retries": 2.0}, "retries"),
        (LeasePolicy, {"retries": True}, "retries"),
        (LeasePolicy, {"wait": NAN}, "wait"),
        (LeasePolicy, {"wait": -0.1}, "wait"),
        (LeasePolicy, {"wait": INF}, "wait"),
        (LeasePolicy, {"wait": 1e9}, "wait"),
        (LeasePolicy, {"max_wait": NAN}, "max_wait"),
        (LeasePolicy, {"max_wait": INF}, "max_wait"),
        (LeasePolicy, {"max_wait": -1}, "max_wait"),
        (LeasePolicy, {"backoff": NAN}, "backoff"),
        (LeasePolicy, {"backoff": INF}, "backoff"),
        (LeasePolicy, {"retries": 10_000, "max_wait": 1.0}, "retries * max_wait"),
        (LeasePolicy, {"sleep": "time.sleep"}, "sleep"),
        (RecachePolicy, {"threshold": NAN}, "threshold"),
        (RecachePolicy, {"threshold": -5}, "threshold"),
        (RecachePolicy, {"threshold": INF}, "threshold"),
        (StalePolicy, {"accept": NAN}, "accept"),
    ],
)
def test_policies_reject_nan_negative_and_infinite_values(
    policy: Any, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(memlease.InvalidArgument, match=re.escape(named)):
        policy(**fields)


def test_policies_accept_their_bounds() -> None:
    LeasePolicy(lease_ttl=1, retries=0, wait=0, backoff=1, max_wait=0)
    LeasePolicy(retries=1000, wait=0.3, max_wait=0.3)
    RecachePolicy(threshold=30 * 24 * 3600)
    StalePolicy(accept=False)


@pytest.mark.parametrize("beta", [NAN, INF, -1.0, True])
def test_beta_is_checked_where_it_is_passed(client: Any, beta: Any) -> None:
    client.set("b", "cached")
    with pytest.raises(memlease.InvalidArgument, match="beta"):
        client.get_or_compute("b", lambda: "loaded", 60, beta=beta)
    with pytest.raises(memlease.InvalidArgument, match="beta"):
        client.get_or_compute("b", lambda: "loaded", 60, beta=beta, lease=None)


# Herds: many callers, one cold key.

HERD = 200


def slow_loader(calls: list[int]) -> Any:
    def load() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "value"

    return load


@pytest.mark.parametrize("leases", [True, False], ids=["leases", "no-leases"])
def test_thread_herd_runs_the_loader_once(server: MemcachedServer, leases: bool) -> None:
    calls: list[int] = []
    results: list[Any] = []
    lease = LeasePolicy(retries=50, wait=0.01, max_wait=0.05) if leases else None
    with memlease.Client(server.address, max_connections=32) as c:
        c.invalidate(f"herd-{leases}")
        barrier = threading.Barrier(HERD)

        def caller() -> None:
            barrier.wait()
            results.append(c.get_or_compute(f"herd-{leases}", slow_loader(calls), 60, lease=lease))

        threads = [threading.Thread(target=caller) for _ in range(HERD)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == ["value"] * HERD
    print(f"\nthreads, leases={leases}: {len(calls)} loader calls for {HERD} callers")
    if leases:
        assert len(calls) == 1
    else:
        assert len(calls) > 1  # the herd the lease prevents


@pytest.mark.parametrize("leases", [True, False], ids=["leases", "no-leases"])
def test_coroutine_herd_runs_the_loader_once(server: MemcachedServer, leases: bool) -> None:
    calls: list[int] = []
    lease = LeasePolicy(retries=50, wait=0.01, max_wait=0.05) if leases else None

    async def main() -> list[Any]:
        async with memlease.AsyncClient(server.address) as c:
            await c.invalidate(f"aherd-{leases}")

            async def load() -> str:
                calls.append(1)
                await asyncio.sleep(0.05)
                return "value"

            return await asyncio.gather(
                *(c.get_or_compute(f"aherd-{leases}", load, 60, lease=lease) for _ in range(HERD))
            )

    results = asyncio.run(main())
    assert results == ["value"] * HERD
    print(f"\ncoroutines, leases={leases}: {len(calls)} loader calls for {HERD} callers")
    if leases:
        assert len(calls) == 1
    else:
        assert len(calls) == HERD


def test_read_through_values_stay_readable_by_other_clients(client: Any) -> None:
    # Without early expiry no compute time is stored: the flags are pymemcache's (str: 16).
    assert client.get_or_compute("interop", lambda: "text", 60) == "text"
    assert client.meta_get("interop", "f").client_flags == 16
    assert client.get_or_lease("interop").compute_time is None
    # With beta the compute time rides along (a reserved flag bit), still readable here.
    assert client.get_or_compute("timed", lambda: "text", 60, beta=1.0) == "text"
    assert client.meta_get("timed", "f").client_flags == 16 | 1 << 29
    assert client.get_or_lease("timed").compute_time is not None
    assert client.get("timed") == "text"
