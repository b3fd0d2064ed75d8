"""Migration between two real clusters: every phase, and a randomized run across the whole
schedule checking that no read returns a value older than the last acknowledged write."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator

import pytest

import memlease
from memlease.migration import AsyncMigratingClient, MigratingClient, Phase, Schedule
from memlease.testing import MemcachedServer

Clusters = tuple[list[MemcachedServer], list[MemcachedServer]]


@pytest.fixture
def clusters() -> Iterator[tuple[list[MemcachedServer], list[MemcachedServer]]]:
    servers = [MemcachedServer().start() for _ in range(4)]
    yield servers[:2], servers[2:]
    for srv in servers:
        srv.stop()


def clients(
    clusters: tuple[list[MemcachedServer], list[MemcachedServer]],
) -> tuple[memlease.Client, memlease.Client]:
    origin, destination = clusters
    return memlease.Client([s.address for s in origin]), memlease.Client(
        [s.address for s in destination]
    )


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


def test_whole_migration_never_serves_an_older_value(clusters: Clusters) -> None:
    """Writers (one per key range, so each key's writes are ordered) set increasing versions
    and sometimes delete; readers check every value against the last write acknowledged
    before their read began. The schedule walks all five phases."""
    origin, destination = clients(clusters)
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


def test_async_migration_never_serves_an_older_value(clusters: Clusters) -> None:
    origin_servers, destination_servers = clusters

    async def main() -> tuple[list[str], int]:
        origin = memlease.AsyncClient([s.address for s in origin_servers])
        destination = memlease.AsyncClient([s.address for s in destination_servers])
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
