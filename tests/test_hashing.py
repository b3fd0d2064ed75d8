"""Placement presets agree with the client they name, key for key: the real library writes to
three real servers, each server is asked what it holds, and memlease must name the same owner
(and read the keys back through its own routing). Algorithm-level vectors for more server
lists (default ports, hostnames, IPv6, unix sockets, failover) are replayed in src/route/ring/."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymemcache.client.hash import HashClient

import memlease
from memlease.testing import MemcachedServer
from tests.peers import needs_pylibmc, pylibmc

memcache: Any = importlib.import_module("memcache")  # python-memcached
meta_memcache: Any = importlib.import_module("meta_memcache")
xxhash: Any = importlib.import_module("xxhash")
jump: Any = importlib.import_module("jump")

KEY_COUNT = 2000


def sample_keys() -> list[str]:
    """Printable keys of varied shapes and lengths, the same every run."""
    rng = random.Random(4)
    alphabet = [chr(c) for c in range(0x21, 0x7F)]
    keys = [f"user:{i}:profile" for i in range(500)] + [f"k{i}" for i in range(500)]
    keys += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
        for _ in range(KEY_COUNT - 1000)
    ]
    return list(dict.fromkeys(keys))


KEYS = sample_keys()


@pytest.fixture(scope="module")
def trio() -> Iterator[list[MemcachedServer]]:
    servers = [MemcachedServer().start() for _ in range(3)]
    yield servers
    for srv in servers:
        srv.stop()


def owners(servers: list[MemcachedServer], keys: list[Any]) -> dict[Any, str]:
    """Ask every server on its own which of `keys` it holds."""
    found: dict[Any, str] = {}
    for srv in servers:
        with memlease.Client(srv.address, serde="raw") as single:
            for key in single.get_many(keys):
                assert key not in found, f"{key!r} stored on two servers"
                found[key] = srv.address
    return found


def assert_agrees(
    servers: list[MemcachedServer], store: Callable[[Any], object], keys: list[Any], **options: Any
) -> None:
    for srv in servers:
        with memlease.Client(srv.address) as single:
            single.flush_all()
    for key in keys:
        assert store(key), key
    placed = owners(servers, keys)
    assert len(placed) == len(keys)
    weights = options.pop("weights", (1,) * len(servers))
    specs = [f"{srv.address} {w}" for srv, w in zip(servers, weights, strict=True)]
    with memlease.Client(specs, serde="raw", **options) as client:
        disagree = [key for key in keys if client.server_for(key) != placed[key]]
        assert disagree == [], f"{len(disagree)} of {len(keys)} keys placed differently"
        # And memlease finds every key through its own routing.
        assert set(client.get_many(keys)) == set(keys)


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 5)], ids=["equal", "weighted"])
@pytest.mark.parametrize(
    ("hashing", "behaviors"),
    [
        ("ketama", {"ketama_weighted": True}),
        ("libmemcached_ketama", {"ketama": True}),
        ("modula", None),
    ],
)
@needs_pylibmc
def test_pylibmc_presets(
    trio: list[MemcachedServer], hashing: str, behaviors: Any, weights: tuple[int, ...]
) -> None:
    peer = pylibmc.Client(
        [f"{s.address}:{w}" for s, w in zip(trio, weights, strict=True)], behaviors=behaviors
    )
    assert_agrees(trio, lambda key: peer.set(key, b"x"), KEYS, hashing=hashing, weights=weights)


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 5)], ids=["equal", "weighted"])
def test_python_memcached_preset(trio: list[MemcachedServer], weights: tuple[int, ...]) -> None:
    peer = memcache.Client([(s.address, w) for s, w in zip(trio, weights, strict=True)])
    assert_agrees(
        trio, lambda key: peer.set(key, "x"), KEYS, hashing="python_memcached", weights=weights
    )
    peer.disconnect_all()


def test_pymemcache_preset(trio: list[MemcachedServer]) -> None:
    peer = HashClient([(s.host, s.port) for s in trio], default_noreply=False)
    assert_agrees(trio, lambda key: peer.set(key, b"x"), KEYS, hashing="pymemcache")
    # pymemcache places b"k" by its repr "b'k'": bytes keys route apart from str keys.
    byte_keys = [key.encode() for key in KEYS[:500]]
    assert_agrees(trio, lambda key: peer.set(key, b"x"), byte_keys, hashing="pymemcache")
    peer.close()


# meta-memcache has no way to close its connections; they are garbage-collected unclosed.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_uhashring_preset_is_meta_memcache(trio: list[MemcachedServer]) -> None:
    address = meta_memcache.ServerAddress
    peer = meta_memcache.CacheClient.cache_client_from_servers(
        [address(s.host, s.port) for s in trio], meta_memcache.connection_pool_factory_builder()
    )
    # meta-memcache rewrites long keys on the wire; compare the ones it stores as they are.
    keys = [key for key in KEYS if len(key) < 180]
    assert_agrees(
        trio, lambda key: peer.set(meta_memcache.Key(key), b"x", ttl=0), keys, hashing="uhashring"
    )


def test_jump_preset_is_memcached_proxy_jump_hash(trio: list[MemcachedServer]) -> None:
    # No Python client uses jump hashing; memcached's proxy does: XXH3-64 of the key, then
    # jump consistent hash over the servers in order.
    def store(key: str) -> bool:
        bucket = jump.hash(xxhash.xxh3_64_intdigest(key.encode()), len(trio))
        with memlease.Client(trio[bucket].address, serde="raw") as single:
            return single.set(key, b"x")

    assert_agrees(trio, store, KEYS[:500], hashing="jump")


def test_hashing_name_is_checked(trio: list[MemcachedServer]) -> None:
    with pytest.raises(memlease.InvalidArgument, match="hashing must be one of"):
        memlease.Client(trio[0].address, hashing="crc")
