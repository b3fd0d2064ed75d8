"""stats: the table, JSON, and a fleet with one server down."""

from __future__ import annotations

import json

import memlease
from memlease.testing import MemcachedServer
from tests.cli.conftest import RunCli, invoke


def test_stats_table_shows_each_server(run_cli: RunCli, server: MemcachedServer) -> None:
    result = run_cli("stats")
    assert result.exit_code == 0, result.output
    for heading in ("version", "uptime", "items", "memory", "hit ratio", "evictions", "conns"):
        assert heading in result.stdout
    assert server.address in result.stdout
    assert "64.0 MiB" in result.stdout  # the fixture's -m 64 limit


def test_stats_json_counts_items_and_hit_ratio(own_server: MemcachedServer) -> None:
    # A server of its own: flush_all leaves other tests' items counted until they are reclaimed.
    with memlease.Client(own_server.address) as client:
        client.set("a", b"1")
        client.get("a")
        client.get("missing")
    result = invoke(own_server.address, ["stats", "--json"])
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)
    assert row["server"] == own_server.address
    assert row["hit_ratio"] == 0.5
    assert row["items"] == 1
    assert row["limit_maxbytes"] == 64 * 1024 * 1024
    assert row["error"] is None
    assert isinstance(row["version"], str)
    assert 0 < row["hit_ratio"] < 1
    for field in ("uptime", "bytes", "evictions", "curr_connections"):
        assert isinstance(row[field], int)


def test_stats_all_lists_raw_stats(run_cli: RunCli, server: MemcachedServer) -> None:
    data = json.loads(run_cli("stats", "--all", "--json").stdout)
    assert data[server.address]["pid"] == server.pid


def test_one_server_down_is_reported_on_its_row_and_in_the_exit_code(
    server: MemcachedServer, dead_address: str
) -> None:
    result = invoke(f"{server.address},{dead_address}", ["stats", "--json"])
    assert result.exit_code == 3
    rows = {row["server"]: row for row in json.loads(result.stdout)}
    assert rows[server.address]["error"] is None
    assert rows[dead_address]["error"].startswith("MemcacheConnectionError")
    assert result.stderr.count("\n") == 1
    assert dead_address in result.stderr


def test_an_unreachable_fleet_prints_no_table_and_one_line(dead_address: str) -> None:
    result = invoke(dead_address, ["stats"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith(f"memlease: {dead_address}: MemcacheConnectionError")
    assert result.stderr.count("\n") == 1
