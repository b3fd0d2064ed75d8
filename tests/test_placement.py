"""Key placement agrees with pylibmc/libmemcached `ketama_weighted`, checked on real servers:
pylibmc writes, and each key must be on the server memlease names and readable by memlease."""

from __future__ import annotations

import pytest

import memlease
from memlease.testing import MemcachedServer
from tests.peers import PYLIBMC_MISSING, pylibmc

if pylibmc is None:
    pytest.skip(PYLIBMC_MISSING, allow_module_level=True)

KEYS = (
    [f"user:{i}:profile" for i in range(1500)]
    + [f"k{i}" for i in range(500)]
    + ["foo", "bar", "a" * 250]
)


def owners_by_direct_lookup(servers: list[MemcachedServer], keys: list[str]) -> dict[str, str]:
    """Which server holds each key, asking every server on its own."""
    found: dict[str, str] = {}
    for srv in servers:
        with memlease.Client(srv.address) as single:
            for key in single.get_many(keys):
                assert key not in found, f"{key} stored on two servers"
                found[key] = srv.address
    return found


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 5)], ids=["equal", "weighted"])
def test_pylibmc_ketama_weighted_placement_agrees(
    cluster: list[MemcachedServer], weights: tuple[int, ...]
) -> None:
    specs = [f"{s.address}:{w}" for s, w in zip(cluster, weights, strict=True)]
    peer = pylibmc.Client(specs, behaviors={"ketama_weighted": True})
    peer.flush_all()
    for key in KEYS:
        peer.set(key, key)
    servers = [f"{s.address} {w}" for s, w in zip(cluster, weights, strict=True)]
    with memlease.Client(servers) as client:
        owners = owners_by_direct_lookup(cluster, KEYS)
        assert len(owners) == len(KEYS)
        agree = sum(client.server_for(key) == owners[key] for key in KEYS)
        assert agree == len(KEYS)
        # And memlease reads every pylibmc-written value through its own routing.
        assert client.get_many(KEYS) == {key: key for key in KEYS}
        # Both ways: what memlease writes, pylibmc finds.
        client.flush_all()
        client.set_many({key: f"m:{key}" for key in KEYS})
        assert peer.get_multi(KEYS) == {key: f"m:{key}" for key in KEYS}
    if weights != (1, 1, 1):
        # Weights matter: the heaviest server holds the most keys.
        counts = {s.address: list(owners.values()).count(s.address) for s in cluster}
        assert counts[cluster[2].address] > counts[cluster[0].address]
