"""watch: refreshes, rates from stats deltas, and what a restarted or dead server shows."""

from __future__ import annotations

import json
import threading

import pytest

import memlease
from memlease.cli.probe import Reading
from memlease.cli.watch import rates
from memlease.testing import MemcachedServer
from tests.cli.conftest import RunCli, invoke


def test_watch_count_2_prints_two_json_refreshes(run_cli: RunCli, server: MemcachedServer) -> None:
    result = run_cli("watch", "--interval", "0.1", "--count", "2", "--json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        (row,) = json.loads(line)["servers"]
        assert row["server"] == server.address
        assert row["error"] is None
        assert row["get/s"] >= 0  # the probe's own stats calls are not gets


def test_watch_table_refreshes(run_cli: RunCli) -> None:
    result = run_cli("watch", "--interval", "0.05", "--count", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("memcached rates") == 2
    assert "hits/s" in result.stdout


def test_watch_sees_traffic(run_cli: RunCli, server: MemcachedServer) -> None:
    stop = threading.Event()

    def traffic() -> None:
        with memlease.Client(server.address) as client:
            while not stop.is_set():
                client.get("watched")

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        result = run_cli("watch", "--interval", "0.3", "--count", "1", "--json")
    finally:
        stop.set()
        thread.join()
    (row,) = json.loads(result.stdout)["servers"]
    assert row["get/s"] > 0
    assert row["misses/s"] > 0
    assert row["hit_ratio"] == 0.0


def test_rates_are_deltas_per_second() -> None:
    before = Reading(
        "s",
        {
            "cmd_get": 100,
            "cmd_set": 10,
            "get_hits": 60,
            "get_misses": 40,
            "evictions": 0,
            "curr_items": 5,
            "curr_connections": 2,
        },
    )
    after = Reading(
        "s",
        {
            "cmd_get": 300,
            "cmd_set": 20,
            "get_hits": 210,
            "get_misses": 90,
            "evictions": 4,
            "curr_items": 9,
            "curr_connections": 3,
        },
    )
    row = rates(before, after, 2.0)
    assert row["get/s"] == 100.0
    assert row["set/s"] == 5.0
    assert row["hits/s"] == 75.0
    assert row["misses/s"] == 25.0
    assert row["evictions/s"] == 2.0
    assert row["hit_ratio"] == pytest.approx(150 / 200)
    assert (row["items"], row["curr_connections"]) == (9, 3)


def test_a_restarted_server_shows_no_rate_rather_than_a_negative_one() -> None:
    before = Reading("s", {"cmd_get": 500, "get_hits": 5, "get_misses": 5})
    after = Reading("s", {"cmd_get": 3, "get_hits": 1, "get_misses": 2})
    row = rates(before, after, 1.0)
    assert row["get/s"] is None
    assert row["hit_ratio"] is None


def test_watch_keeps_going_when_one_server_is_down(
    server: MemcachedServer, dead_address: str
) -> None:
    result = invoke(
        f"{server.address},{dead_address}",
        ["watch", "--interval", "0.05", "--count", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = {r["server"]: r for r in json.loads(result.stdout)["servers"]}
    assert rows[server.address]["error"] is None
    assert rows[dead_address]["error"].startswith("MemcacheConnectionError")


def test_watch_of_an_all_dead_fleet_exits_3(dead_address: str) -> None:
    result = invoke(dead_address, ["watch", "--count", "1"])
    assert result.exit_code == 3
    assert result.stderr.startswith("memlease: MemcacheConnectionError")
