"""Check the vector generators against real clients writing to real servers.

The generators ask each library where a key goes (libmemcached's `memcached_generate_hash`,
pymemcache's hasher, python-memcached's `_get_server`, meta-memcache's pool provider). This script
makes sure that is where the client really stores it: three throwaway memcached servers on
loopback, each client sets every key that is valid on the wire, every server is asked which keys
it holds, and the owner must be the generator's answer (so, by the Rust replay tests, memlease's).
str and bytes keys run separately where they route differently (pymemcache, meta-memcache),
since "k" and b"k" are the same wire key. Needs `make build` (memlease.testing) and memcached.

    .venv/bin/python -m tests.tools.check_placement_on_servers
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterable
from typing import Any

import pylibmc
from pymemcache.client.hash import HashClient

from memlease.testing import MemcachedServer
from tests.tools import gen_libmemcached_vectors as libmemcached
from tests.tools import gen_pymemcache_vectors as pymemcache
from tests.tools import gen_python_memcached_vectors as python_memcached
from tests.tools import gen_uhashring_vectors as uhashring
from tests.tools.placement_common import Key, Node, load_keys

meta_memcache: Any = importlib.import_module("meta_memcache")


def holds(port: int, key: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"mg " + key + b" v\r\n")
        reply = b""
        while not reply.endswith(b"\r\n") or (reply.startswith(b"VA") and reply.count(b"\r\n") < 2):
            reply += conn.recv(65536)
    return not reply.startswith(b"EN")


def flush(ports: list[int]) -> None:
    for port in ports:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"flush_all\r\n")
            conn.recv(100)


def check(
    label: str,
    ports: list[int],
    keys: list[Key],
    store: Callable[[Key], object],
    expected: Callable[[Key], int],
) -> None:
    flush(ports)
    for key in keys:
        assert store(key), key
    agree = 0
    for key in keys:
        owners = [i for i, port in enumerate(ports) if holds(port, key.data)]
        assert len(owners) == 1, (key, owners)
        agree += owners[0] == expected(key)
    print(f"{label}: {agree}/{len(keys)}")
    assert agree == len(keys)


def setter(client: Any, value: object) -> Callable[[Key], object]:
    return lambda key: client.set(key.python(), value)


def port_of(server: MemcachedServer) -> int:
    assert server.port is not None
    return server.port


def of_kind(keys: Iterable[Key], is_bytes: bool) -> list[Key]:
    return [key for key in keys if key.is_bytes == is_bytes]


def main() -> None:
    # Keys the text protocol carries as they are (no whitespace or control bytes, <= 250).
    keys = [
        key
        for key in load_keys()
        if len(key.data) <= 250 and all(0x20 < b != 0x7F for b in key.data)
    ]
    # The generator stubs out connecting; the real client needs the real method back.
    importlib.reload(python_memcached.memcache)
    with MemcachedServer() as a, MemcachedServer() as b, MemcachedServer() as c:
        ports = [port_of(a), port_of(b), port_of(c)]
        for weights in [(1, 1, 1), (1, 2, 5)]:
            fleet = [Node("127.0.0.1", p, w) for p, w in zip(ports, weights, strict=True)]
            specs = [f"127.0.0.1:{n.port}:{n.weight}" for n in fleet]
            for name, behaviors, numeric in [
                ("modula", None, {}),
                ("libmemcached_ketama", {"ketama": True}, {libmemcached.BEHAVIOR_KETAMA: 1}),
                ("ketama", {"ketama_weighted": True}, {libmemcached.BEHAVIOR_KETAMA_WEIGHTED: 1}),
            ]:
                mc = pylibmc.Client(specs, behaviors=behaviors)
                check(
                    f"pylibmc {name} {weights}",
                    ports,
                    keys,
                    setter(mc, b"x"),
                    libmemcached.placer(numeric)(fleet),
                )
            pmc = python_memcached.memcache.Client(
                [(f"127.0.0.1:{n.port}", n.weight) for n in fleet]
            )
            check(
                f"python-memcached {weights}",
                ports,
                keys,
                setter(pmc, "x"),
                python_memcached.place(fleet),
            )
        fleet = [Node("127.0.0.1", p, 1) for p in ports]
        hc = HashClient(
            [("127.0.0.1", p) for p in ports], allow_unicode_keys=True, default_noreply=False
        )
        address = meta_memcache.ServerAddress
        cc = meta_memcache.CacheClient.cache_client_from_servers(
            [address("127.0.0.1", p) for p in ports],
            meta_memcache.connection_pool_factory_builder(),
        )
        for is_bytes in (False, True):
            kind = "bytes" if is_bytes else "str"
            check(
                f"pymemcache {kind}",
                ports,
                of_kind(keys, is_bytes),
                setter(hc, b"x"),
                pymemcache.place(fleet),
            )
            # meta-memcache rewrites long or non-ASCII keys on the wire (placement still uses the
            # key itself): check the keys it stores verbatim.
            verbatim = [
                k for k in of_kind(keys, is_bytes) if len(k.data) < 180 and k.data.isascii()
            ]
            check(
                f"meta-memcache {kind}",
                ports,
                verbatim,
                lambda key: cc.set(meta_memcache.Key(key.python()), b"x", ttl=0),
                uhashring.place(fleet),
            )


if __name__ == "__main__":
    main()
