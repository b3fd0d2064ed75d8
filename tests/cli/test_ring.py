"""ring: placement by the client's own server_for, for every preset; --balance arithmetic."""

from __future__ import annotations

import json

import pytest

import memlease
from memlease.cli.connect import HASHING_PRESETS
from memlease.testing import MemcachedServer
from tests.cli.conftest import invoke

KEYS = [f"user:{i}" for i in range(40)]


@pytest.mark.parametrize("hashing", HASHING_PRESETS)
def test_placement_is_the_clients_own(cluster: list[MemcachedServer], hashing: str) -> None:
    specs = [cluster[0].address, f"{cluster[1].address} 2", cluster[2].address]
    result = invoke(",".join(specs), ["--hashing", hashing, "ring", "--json", *KEYS])
    assert result.exit_code == 0, result.output
    placement = json.loads(result.stdout)["placement"]
    with memlease.Client(specs, hashing=hashing) as client:
        assert placement == {key: client.server_for(key) for key in KEYS}
    assert len(set(placement.values())) > 1  # the keys did spread: the test can tell presets apart


def test_presets_place_keys_differently(cluster: list[MemcachedServer]) -> None:
    servers = ",".join(s.address for s in cluster)
    placements = {
        json.dumps(json.loads(invoke(servers, ["--hashing", h, "ring", "--json", *KEYS]).stdout))
        for h in ("ketama", "modula", "jump")
    }
    assert len(placements) == 3


def test_ring_table_names_key_and_server(cluster: list[MemcachedServer]) -> None:
    servers = ",".join(s.address for s in cluster)
    result = invoke(servers, ["ring", "user:1", "[red]k"])
    with memlease.Client([s.address for s in cluster]) as client:
        assert client.server_for("user:1") in result.stdout
    assert "user:1" in result.stdout
    assert "[red]k" in result.stdout  # a key is shown as given, not read as markup


@pytest.mark.parametrize("hashing", ["ketama", "python_memcached"])
def test_balance_counts_sum_to_n_and_follow_weights(hashing: str) -> None:
    # ring contacts no server: placement is computed locally, so any addresses do.
    servers = "10.0.0.1:11211,10.0.0.2:11211 2,10.0.0.3:11211"
    args = ["--hashing", hashing, "ring", "--balance", "20000", "--seed", "7", "--json"]
    result = invoke(servers, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {row["server"]: row for row in data["servers"]}
    assert sum(row["keys"] for row in rows.values()) == data["keys"] == 20000
    assert sum(row["share"] for row in rows.values()) == pytest.approx(1.0)
    assert [row["expected"] for row in data["servers"]] == [0.25, 0.5, 0.25]
    assert rows["10.0.0.2:11211"]["weight"] == 2
    for row in rows.values():  # weighted presets: within a few points of the weight's share
        assert abs(row["share"] - row["expected"]) < 0.05
    assert invoke(servers, args).stdout == result.stdout  # --seed repeats the run


def test_balance_table(cluster: list[MemcachedServer]) -> None:
    result = invoke(",".join(s.address for s in cluster), ["ring", "--balance", "300"])
    assert result.exit_code == 0
    assert "300 random keys" in result.stdout
    assert "33.33%" in result.stdout  # the expected share of each of 3 equal servers


def test_ring_without_keys_or_balance_is_a_usage_error(cluster: list[MemcachedServer]) -> None:
    result = invoke(cluster[0].address, ["ring"])
    assert result.exit_code == 2
    assert "--balance" in result.stderr
