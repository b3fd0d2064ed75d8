"""Refresh-ahead datasets against a real memcached: served from memory, refreshed in the
background, the last good copy kept when the loader fails, one load per period across 4
processes, and a snapshot over the item size limit."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import memlease
from memlease.named._dataset import AsyncDataset, Dataset, DatasetNotLoaded
from memlease.testing import MemcachedServer

PERIOD = 1.0


class CountingLoader:
    """Appends one line per call to a file shared by every process (O_APPEND: whole lines);
    returns {"version": <calls so far>}, and raises on the calls listed in `fail_on`."""

    def __init__(self, path: Path, fail_on: tuple[int, ...] = ()) -> None:
        self.path = path
        self.fail_on = fail_on

    def __call__(self) -> dict[str, Any]:
        with open(self.path, "a") as f:
            f.write(f"{time.time()} {os.getpid()}\n")
        calls = len(self.path.read_text().splitlines())
        if calls in self.fail_on:
            raise ConnectionError(f"source down (call {calls})")
        return {"version": calls, "rates": {"EUR": 1.0, "USD": 1.1}}

    def calls(self) -> list[float]:
        return [float(line.split()[0]) for line in self.path.read_text().splitlines()]


@pytest.fixture
def sync_client(server: MemcachedServer) -> Iterator[memlease.Client]:
    with memlease.Client(server.address) as client:
        client.flush_all()
        yield client


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_serves_from_memory_and_refreshes(sync_client: memlease.Client, tmp_path: Path) -> None:
    loader = CountingLoader(tmp_path / "calls")
    ds = Dataset(sync_client, "ds:rates", loader, refresh_every=PERIOD)
    with pytest.raises(DatasetNotLoaded):
        ds["version"]
    ds.load()
    try:
        assert ds["version"] == 1 and ds.get("missing", 5) == 5 and "rates" in ds
        assert len(ds) == 2 and sorted(ds) == ["rates", "version"]
        first = ds.last_refresh
        wait_until(lambda: ds["version"] >= 2)
        assert ds.last_refresh is not None and first is not None
        assert ds.last_refresh - first >= PERIOD * 0.9
        stats = ds.stats()
        assert stats["refreshes"] >= 2 and stats["failures"] == 0 and stats["entries"] == 2
    finally:
        ds.close()


def test_a_failing_loader_keeps_the_last_good_copy(
    sync_client: memlease.Client, tmp_path: Path
) -> None:
    loader = CountingLoader(tmp_path / "calls", fail_on=(2,))
    ds = Dataset(sync_client, "ds:failing", loader, refresh_every=PERIOD).load()
    try:
        wait_until(lambda: ds.stats()["failures"] == 1)
        assert ds["version"] == 1
        assert ds.last_error is not None and "source down" in ds.last_error
        wait_until(lambda: ds["version"] == 3)  # it comes back
        assert ds.last_error is None
    finally:
        ds.close()


def test_a_first_load_that_fails_raises_the_loaders_error(
    sync_client: memlease.Client, tmp_path: Path
) -> None:
    ds = Dataset(sync_client, "ds:down", CountingLoader(tmp_path / "c", (1,)), refresh_every=5)
    with pytest.raises(ConnectionError, match="source down"):
        ds.load()


def test_a_second_client_takes_the_snapshot(sync_client: memlease.Client, tmp_path: Path) -> None:
    loader = CountingLoader(tmp_path / "calls")
    first = Dataset(sync_client, "ds:shared", loader, refresh_every=30).load()
    with memlease.Client(sync_client.servers) as other:
        second = Dataset(other, "ds:shared", loader, refresh_every=30).load()
        assert second["version"] == 1 and len(loader.calls()) == 1
        assert second.stats()["snapshot_reads"] == 1 and second.stats()["refreshes"] == 0
        second.close()
    first.close()


def test_a_snapshot_over_the_item_size_limit_is_a_clear_error(tmp_path: Path) -> None:
    with MemcachedServer(item_size_max="1m") as small, memlease.Client(small.address) as client:
        big = {i: os.urandom(1024) for i in range(2048)}  # 2 MiB that does not compress
        ds = Dataset(client, "ds:big", lambda: big, refresh_every=30).load()
        assert len(ds) == 2048  # the winner serves what it loaded
        assert ds.last_error is not None and "ValueTooLarge" in ds.last_error
        assert ds.stats()["failures"] == 1
        ds.close()


def test_async_dataset(server: MemcachedServer, tmp_path: Path) -> None:
    loader = CountingLoader(tmp_path / "calls", fail_on=(2,))

    async def main() -> None:
        async with memlease.AsyncClient(server.address) as client:
            ds = await AsyncDataset(client, "ds:async", loader, refresh_every=PERIOD).load()
            assert ds["version"] == 1
            deadline = time.monotonic() + 10
            while ds["version"] < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert ds["version"] == 3 and ds.stats()["failures"] == 1
            await ds.aclose()

    asyncio.run(main())


def run_process(address: str, calls: str, run_for: float) -> dict[str, Any]:
    """One of the 4 processes: load, then read the dataset every 50 ms for `run_for` s."""
    seen: list[int] = []
    with memlease.Client(address) as client:
        loader = CountingLoader(Path(calls), fail_on=(2,))
        ds = Dataset(client, "ds:fleet", loader, refresh_every=PERIOD).load()
        deadline = time.monotonic() + run_for
        while time.monotonic() < deadline:
            seen.append(ds["version"])
            time.sleep(0.05)
        ds.close()
        return {"seen": seen, "stats": ds.stats()}


@pytest.mark.slow
def test_four_processes_load_once_per_period(server: MemcachedServer, tmp_path: Path) -> None:
    """Counting: every loader call appends its start time to one file. Successive loads across
    the 4 processes must start at least a period apart (less 10% for scheduling between the
    stamp a refresh takes and the loader's own), so a run of T seconds has at most
    T / period + 1 loads. The loader fails on its 2nd call; every process keeps serving."""
    calls = tmp_path / "calls"
    calls.touch()
    run_for = 3.5
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        started = time.time()
        results = pool.starmap(run_process, [(server.address, str(calls), run_for)] * 4)
        elapsed = time.time() - started
    times = CountingLoader(calls).calls()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 3 <= len(times) <= elapsed / PERIOD + 1, times
    assert min(gaps) >= PERIOD * 0.9, gaps
    for result in results:
        seen = result["seen"]
        assert seen[0] >= 1 and seen == sorted(seen)  # never goes back, never empty
        assert seen[-1] >= 3  # refreshed past the failure
        assert 2 not in seen  # the failed load served nothing
    assert sum(r["stats"]["snapshot_reads"] for r in results) >= 3 * 2
