"""After os.fork() the child never uses the parent's sockets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import memlease
from memlease.testing import MemcachedServer


@pytest.fixture
def client(server: MemcachedServer) -> Iterator[memlease.Client]:
    """Fork safety is a property of the blocking client; AsyncClient forks are covered in
    test_async.py."""
    with memlease.Client(server.address) as c:
        c.flush_all()
        yield c


def run_in_child(body) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_child_gets_fresh_connections_and_both_stay_correct(
    client: memlease.Client, server
) -> None:
    client.set_many({f"p{i}": f"parent-{i}" for i in range(50)})
    assert client.get("p0") == "parent-0"
    assert client.pool_stats()[server.address]["idle"] >= 1

    def child() -> int:
        # No connection of the parent's survives in the child's pools.
        if client.pool_stats()[server.address] != {
            "open": 0,
            "idle": 0,
            "multiplexed": 0,
            "queued": 0,
        }:
            return 2
        for round_ in range(200):
            client.set(f"c{round_ % 10}", f"child-{round_}")
            if client.get(f"c{round_ % 10}") != f"child-{round_}":
                return 3
            if client.get(f"p{round_ % 50}") != f"parent-{round_ % 50}":
                return 4
        return 0 if client.pool_stats()[server.address]["open"] >= 1 else 5

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child()
        finally:
            os._exit(code)
    # The parent keeps using its own connections while the child runs.
    for round_ in range(200):
        assert client.get(f"p{round_ % 50}") == f"parent-{round_ % 50}"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_child_starts_with_empty_pools(client: memlease.Client, server) -> None:
    client.get("warm")

    def child() -> int:
        if client.pool_stats()[server.address] != {
            "open": 0,
            "idle": 0,
            "multiplexed": 0,
            "queued": 0,
        }:
            return 2
        client.get("x")
        return (
            0
            if client.pool_stats()[server.address]
            == {"open": 1, "idle": 1, "multiplexed": 0, "queued": 0}
            else 3
        )

    assert run_in_child(child) == 0
    # Parent's pool is untouched by the child's exit.
    assert client.get("warm") is None


def test_write_failure_tracker_works_in_the_child() -> None:
    tracker = memlease.WriteFailureTracker(retry_interval=0.01, max_backoff=0.02)

    def still_down(key: object, stale_ttl: int | None) -> None:
        raise memlease.ServerDown("down")

    tracker.record(
        ("cache", "parent-key"), "parent-key", None, still_down, memlease.ServerDown("down")
    )
    # The parent's replay thread is busy retrying (and taking the lock) while we fork.

    def child() -> int:
        tracker.record(
            ("cache", "child-key"), "child-key", None, still_down, memlease.ServerDown("down")
        )
        pending = tracker.close(timeout=0.5)
        return 0 if pending == ["parent-key", "child-key"] else 6

    assert run_in_child(child) == 0
    assert tracker.close(timeout=0.5) == ["parent-key"]
