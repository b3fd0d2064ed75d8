"""Migration between two real clusters: every phase, and a randomized run across the whole
schedule checking that no read returns a value older than the last acknowledged write."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memlease
from memlease.migration import AsyncMigratingClient, MigratingClient, Phase, Schedule
from memlease.testing import MemcachedServer
from tests.conftest import EventLoopThread
from tests.proxies import WriteFailingProxy

Clusters = tuple[list[MemcachedServer], list[MemcachedServer]]


@pytest.fixture
def clusters() -> Iterator[tuple[list[MemcachedServer], list[MemcachedServer]]]:
    servers = [MemcachedServer().start() for _ in range(4)]
    yield servers[:2], servers[2:]
    for srv in servers:
        srv.stop()


def clients(
    clusters: tuple[list[MemcachedServer], list[MemcachedServer]], **options: Any
) -> tuple[memlease.Client, memlease.Client]:
    origin, destination = clusters
    return memlease.Client([s.address for s in origin], **options), memlease.Client(
        [s.address for s in destination], **options
    )


# The randomized runs check values, not latency: on a loaded 2-core CI machine a 0.25 s
# timeout can strike and mark a healthy server down, failing writes the test then counts on.
PATIENT: dict[str, Any] = {"timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}


def test_phases_route_reads_and_writes(clusters: Clusters) -> None:
    origin, destination = clients(clusters)
    origin.set("old", "from origin")

    m = MigratingClient(origin, destination, phase="origin_only")
    m.set("a", 1)
    assert destination.get("a") is None and origin.get("a") == 1

    m = MigratingClient(origin, destination, phase="dual_write")
    assert m.set("b", 2)
    assert origin.get("b") == 2 and destination.get("b") == 2  # real dual write
    assert m.get("old") == "from origin"
    assert destination.get("old") is None  # no backfill in this phase

    m = MigratingClient(origin, destination, phase="backfill", backfill_ratio=1.0)
    assert m.get("old") == "from origin"
    assert destination.get("old") == "from origin"  # warmed

    origin.set("cold", "only in origin")
    m = MigratingClient(origin, destination, phase="read_destination")
    destination.set("b", "destination copy")
    assert m.get("b") == "destination copy"  # reads the destination
    assert m.get("cold") == "only in origin"  # miss there: read origin, backfill
    assert destination.get("cold") == "only in origin"
    assert m.set("c", 3) and origin.get("c") == 3 and destination.get("c") == 3

    m = MigratingClient(origin, destination, phase="destination_only")
    assert m.set("d", 4) and destination.get("d") == 4 and origin.get("d") is None
    assert m.get("old") == "from origin"  # backfilled earlier
    origin.set("only-origin", 1)
    assert m.get("only-origin") is None


def test_deletes_leave_tombstones_that_block_stale_backfills(clusters: Clusters) -> None:
    origin, destination = clients(clusters)
    m = MigratingClient(origin, destination, phase="read_destination", tombstone_ttl=30)
    m.set("k", "v1")
    stale = origin.get("k")
    assert m.delete("k")
    assert m.get("k") is None  # gone from the origin; the destination's tombstone hides nothing
    # A backfill carrying the value read before the delete cannot bring it back.
    assert destination.add("k", stale) is False
    assert m.get("k") is None
    assert m.set("k", "v2") and m.get("k") == "v2"


@pytest.mark.parametrize("phase", ["dual_write", "read_destination", "destination_only"])
def test_placeholders_and_stale_items_are_not_values(clusters: Clusters, phase: str) -> None:
    """The migrating reads see raw items: another reader's lease placeholder and an item an
    acknowledged invalidation marked stale are misses to them, as to a plain ``get``."""
    origin, destination = clients(clusters)
    reading = origin if phase == "dual_write" else destination
    m = MigratingClient(origin, destination, phase=phase)
    if phase == "read_destination":
        origin.set("p", "origin value")
    assert reading.lease_get("p", lease_ttl=30).won  # another reader computes "p"
    expected = "origin value" if phase == "read_destination" else None
    assert m.get("p") == expected, "served another reader's lease placeholder"
    for client in (origin, destination):
        client.set("k", "old")
        client.invalidate("k", stale_ttl=30)
    assert m.get("k") is None, "served an item marked stale by an acknowledged invalidation"
    assert reading.lease_get("k").won, "the stale item's refresh was not passed on"


def test_async_placeholders_and_stale_items_are_not_values(clusters: Clusters) -> None:
    async def main() -> None:
        origin_servers, destination_servers = clusters
        origin = memlease.AsyncClient([s.address for s in origin_servers])
        dest = memlease.AsyncClient([s.address for s in destination_servers])
        async with origin, dest:
            m = AsyncMigratingClient(origin, dest, phase="read_destination")
            await origin.set("p", "origin value")
            assert (await dest.lease_get("p", lease_ttl=30)).won
            assert await m.get("p") == "origin value"
            for client in (origin, dest):
                await client.set("k", "old")
                await client.invalidate("k", stale_ttl=30)
            assert await m.get("k") is None
            assert (await dest.lease_get("k")).won, "the refresh was passed on"

    asyncio.run(main())


def test_a_slower_writer_cannot_overwrite_the_destination(clusters: Clusters) -> None:
    origin, destination = clients(clusters)
    m = MigratingClient(origin, destination, phase="read_destination")
    m.set("k", "v1")
    # Someone else changes the destination between our CAS read and our write: our write must
    # not land there; the key is tombstoned instead, and reads fall back to the origin.
    real_meta_get = destination.meta_get

    class Racing:
        def __getattr__(self, name: str) -> object:
            return getattr(destination, name)

        def meta_get(self, key: str, flags: str = "") -> memlease.MetaResult:
            result = real_meta_get(key, flags)
            destination.set(key, "written by the racer")
            return result

    racing = MigratingClient(origin, Racing(), phase="read_destination")  # type: ignore[arg-type]
    assert racing.set("k", "v2") is True
    assert destination.meta_get("k", "f").client_flags != 0  # tombstone, not "v2" or the racer's
    assert m.get("k") == "v2"  # served from the origin


# Writes the destination loses: it answers reads again later, and must not serve what it held
# before an acknowledged write.


class Blocking:
    """An ``AsyncMigratingClient`` behind the blocking interface of ``MigratingClient``: every
    call is awaited on the test's loop, so one test checks both."""

    def __init__(self, runner: EventLoopThread, target: AsyncMigratingClient) -> None:
        self._runner = runner
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._runner.run(lambda: attribute(*args, **kwargs))


@pytest.fixture
def lossy(
    clusters: Clusters, flavor: str, loop_thread: EventLoopThread
) -> Iterator[tuple[Callable[..., Any], WriteFailingProxy, MemcachedServer]]:
    """A factory of migrating clients (of the test's flavour) whose destination is behind a
    proxy that can fail writes; the proxy; the destination server itself."""
    origin, destination = clusters[0][0], clusters[1][0]
    proxy = WriteFailingProxy(destination)
    made: list[Any] = []

    def make(**options: Any) -> Any:
        # Never marked down: the point is a destination that answers reads, not one that is out.
        pair = (origin.address, proxy.address)
        if flavor == "sync":
            o, d = (memlease.Client(a, failures_to_mark_down=1000) for a in pair)
            m: Any = MigratingClient(o, d, **options)
        else:

            async def build() -> AsyncMigratingClient:
                o, d = (memlease.AsyncClient(a, failures_to_mark_down=1000) for a in pair)
                return AsyncMigratingClient(o, d, **options)

            m = Blocking(loop_thread, loop_thread.run(build))
        made.append(m)
        return m

    yield make, proxy, destination
    for m in made:
        m.close()
    proxy.close()


WRITES: dict[str, Callable[[Any], object]] = {
    "set": lambda m: m.set("k", "new"),
    "set_many": lambda m: m.set_many({"k": "new"}),
    "replace": lambda m: m.replace("k", "new"),
    "delete": lambda m: m.delete("k"),
    "delete_many": lambda m: m.delete_many(["k"]),
    "incr": lambda m: m.incr("k", 1),
}
AFTER = {"set": "new", "set_many": "new", "replace": "new", "incr": "2"}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_the_destination_lost_is_not_undone_by_it(
    lossy: tuple[Callable[..., Any], WriteFailingProxy, MemcachedServer], write: str
) -> None:
    make, proxy, destination = lossy
    m = make(phase="read_destination")
    assert m.set("k", "1") and m.get("k") == "1"
    proxy.failing = True
    acknowledged = WRITES[write](m)
    assert acknowledged not in (False, None, 0, ["k"]), "the origin took the write"
    assert proxy.writes_failed >= 1, "the destination's write (or tombstone) failed"
    tracked = "k" in m.destination.write_failures.pending()
    proxy.failing = False
    # The destination answers again and still holds "1": it is not trusted for the key.
    assert m.get("k") == AFTER.get(write)
    assert tracked, "the key waits in the destination's write-failure tracker"
    with memlease.Client(destination.address) as direct:
        assert wait_for(lambda: direct.get("k") in (None, AFTER.get(write)))
    assert wait_for(lambda: not m.destination.write_failures.pending())
    assert m.get("k") == AFTER.get(write)


def test_a_write_lost_during_dual_write_is_not_served_later(
    lossy: tuple[Callable[..., Any], WriteFailingProxy, MemcachedServer],
) -> None:
    make, proxy, _ = lossy
    now = [1.5]
    schedule = Schedule([(1, "dual_write"), (2, "read_destination")], clock=lambda: now[0])
    m = make(schedule=schedule)
    assert m.set("k", "old") and m.get("k") == "old"
    proxy.failing = True
    assert m.set("k", "new")
    assert proxy.writes_failed >= 2
    proxy.failing = False
    now[0] = 2.5  # reads move to the destination, which still holds "old"
    assert m.get("k") == "new"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_schedule_follows_the_clock() -> None:
    now = [100.0]
    schedule = Schedule(
        [(110, "dual_write"), (120, Phase.BACKFILL), (130, "read_destination")],
        clock=lambda: now[0],
    )
    assert schedule.phase() is Phase.ORIGIN_ONLY
    now[0] = 115
    assert schedule.phase() is Phase.DUAL_WRITE
    now[0] = 1e9
    assert schedule.phase() is Phase.READ_DESTINATION
    with pytest.raises(ValueError):
        Schedule([(1, "sideways")])


def test_bad_options(clusters: Clusters) -> None:
    origin, destination = clients(clusters)
    with pytest.raises(memlease.InvalidArgument):
        MigratingClient(origin, destination)
    with pytest.raises(memlease.InvalidArgument):
        MigratingClient(origin, destination, phase="dual_write", backfill_ratio=2)


def run_schedule(start: float, step: float) -> Schedule:
    phases = ["dual_write", "backfill", "read_destination", "destination_only"]
    return Schedule([(start + step * (i + 1), phase) for i, phase in enumerate(phases)])


@pytest.mark.slow
def test_whole_migration_never_serves_an_older_value(clusters: Clusters) -> None:
    """Writers (one per key range, so each key's writes are ordered) set increasing versions
    and sometimes delete; readers check every value against the last write acknowledged
    before their read began. The schedule walks all five phases."""
    origin, destination = clients(clusters, **PATIENT)
    step = 0.8
    m = MigratingClient(
        origin, destination, schedule=run_schedule(time.time(), step), backfill_ratio=0.5
    )
    keys = [f"key:{i}" for i in range(60)]
    acked: dict[str, int] = {}
    lock = threading.Lock()
    violations: list[str] = []
    stop = time.time() + step * 5 + 0.5
    counts = {"reads": 0, "writes": 0}

    def writer(mine: list[str], seed: int) -> None:
        rng = random.Random(seed)
        version = 0
        while time.time() < stop:
            key = rng.choice(mine)
            version += 1
            if rng.random() < 0.15:
                m.delete(key)
            else:
                m.set(key, (key, version, seed))
            with lock:
                acked[key] = version
                counts["writes"] += 1

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < stop:
            key = rng.choice(keys)
            with lock:
                floor = acked.get(key, 0)
            value = m.get(key)
            with lock:
                counts["reads"] += 1
            if value is not None and value[1] < floor:
                violations.append(
                    f"{key}: read version {value[1]} after {floor} was acknowledged ({m.phase})"
                )

    writers = [threading.Thread(target=writer, args=(keys[i::3], i)) for i in range(3)]
    readers = [threading.Thread(target=reader, args=(100 + i,)) for i in range(4)]
    for t in writers + readers:
        t.start()
    for t in writers + readers:
        t.join()
    assert violations == []
    assert counts["reads"] > 500 and counts["writes"] > 300
    assert m.phase is Phase.DESTINATION_ONLY


@pytest.mark.slow
def test_async_migration_never_serves_an_older_value(clusters: Clusters) -> None:
    origin_servers, destination_servers = clusters

    async def main() -> tuple[list[str], int]:
        origin = memlease.AsyncClient([s.address for s in origin_servers], **PATIENT)
        destination = memlease.AsyncClient([s.address for s in destination_servers], **PATIENT)
        step = 0.6
        m = AsyncMigratingClient(
            origin, destination, schedule=run_schedule(time.time(), step), backfill_ratio=0.5
        )
        keys = [f"akey:{i}" for i in range(40)]
        acked: dict[str, int] = {}
        violations: list[str] = []
        stop = time.time() + step * 5 + 0.3
        reads = 0

        async def writer(mine: list[str], seed: int) -> None:
            rng = random.Random(seed)
            version = 0
            while time.time() < stop:
                key = rng.choice(mine)
                version += 1
                if rng.random() < 0.15:
                    await m.delete(key)
                else:
                    await m.set(key, (key, version))
                acked[key] = version

        async def reader(seed: int) -> None:
            nonlocal reads
            rng = random.Random(seed)
            while time.time() < stop:
                key = rng.choice(keys)
                floor = acked.get(key, 0)
                value = await m.get(key)
                reads += 1
                if value is not None and value[1] < floor:
                    violations.append(f"{key}: {value[1]} < {floor}")

        await asyncio.gather(
            *(writer(keys[i::4], i) for i in range(4)), *(reader(10 + i) for i in range(8))
        )
        await m.close()
        return violations, reads

    violations, reads = asyncio.run(main())
    assert violations == []
    assert reads > 500
