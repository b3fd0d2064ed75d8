"""Regenerate the libmemcached placement vectors:
src/route/ring/testdata/{modula,libmemcached_ketama,ketama}.txt (presets `modula`,
`libmemcached_ketama`, `ketama`).

Loads the libmemcached bundled in the pylibmc wheel (1.0.16) through ctypes and sets it up the way
pylibmc does: behaviors first (pylibmc's constructor sets them before adding servers, which
matters: a server added with weight > 1 to a `ketama` client switches libmemcached to the
weighted md5 continuum), then `memcached_server_add_with_weight` /
`memcached_server_add_unix_socket_with_weight` in order. `memcached_generate_hash` then names the
server index of each key (str keys are UTF-8, as pylibmc encodes them).

- modula: no behaviors (pylibmc's default).
- libmemcached_ketama: `behaviors={"ketama": True}`.
- ketama: `behaviors={"ketama_weighted": True}`.

Failover (`live` lines, ketama presets only): libmemcached itself, with `auto_eject` on
(`failure_limit` 1, `retry_timeout` 3600), on extra fleets of loopback ports nothing listens on:
a `get` of a key owned by a server to take down fails with "connection refused" until libmemcached
ejects the server and rebuilds its continuum. Only fleets with equal weights get `live` lines: with
unequal weights libmemcached's rebuild rescales the live servers' point counts, which the preset
deliberately does not (src/route/ring/ketama.rs); the script prints how many keys that affects.
MODULA
has no failover in libmemcached (the rebuild leaves it alone), so modula gets no `live` lines.

    .venv/bin/python -m tests.tools.gen_libmemcached_vectors
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import socket
from collections.abc import Callable

import pylibmc

from tests.tools.placement_common import FLEETS, Key, Node, down_sets, load_keys, write_vectors

# Positions in libmemcached 1.0.16's memcached_behavior_t.
BEHAVIOR_CONNECT_TIMEOUT = 14
BEHAVIOR_KETAMA = 3
BEHAVIOR_KETAMA_WEIGHTED = 16
BEHAVIOR_RETRY_TIMEOUT = 15
BEHAVIOR_SERVER_FAILURE_LIMIT = 21
BEHAVIOR_AUTO_EJECT_HOSTS = 28
AUTO_EJECT = {
    BEHAVIOR_AUTO_EJECT_HOSTS: 1,
    BEHAVIOR_SERVER_FAILURE_LIMIT: 1,
    BEHAVIOR_RETRY_TIMEOUT: 3600,
    BEHAVIOR_CONNECT_TIMEOUT: 100,
}

# Loopback servers that refuse connections (checked before use), default port included.
FAILOVER_FLEETS = {
    "loopback5": [
        Node("127.0.0.2", 11211, 1),
        Node("127.0.0.1", 11391, 1),
        Node("localhost", 11392, 1),
        Node("127.0.0.3", 11393, 1),
        Node("127.0.0.1", 11394, 1),
    ],
}
WEIGHTED_FAILOVER_FLEET = [
    node._replace(weight=w)
    for node, w in zip(FAILOVER_FLEETS["loopback5"], [1, 2, 3, 1, 5], strict=True)
]


def load_libmemcached() -> ctypes.CDLL:
    libs = os.path.join(
        os.path.dirname(pylibmc.__file__), "..", "pylibmc.libs", "libmemcached-*.so*"
    )
    lib = ctypes.CDLL(sorted(glob.glob(libs))[0])
    lib.memcached_create.restype = ctypes.c_void_p
    lib.memcached_create.argtypes = [ctypes.c_void_p]
    lib.memcached_behavior_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
    lib.memcached_behavior_get.restype = ctypes.c_uint64
    lib.memcached_behavior_get.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.memcached_server_add_with_weight.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_uint,
        ctypes.c_uint32,
    ]
    lib.memcached_server_add_unix_socket_with_weight.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_uint32,
    ]
    lib.memcached_generate_hash.restype = ctypes.c_uint32
    lib.memcached_generate_hash.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.memcached_free.argtypes = [ctypes.c_void_p]
    lib.memcached_get.restype = ctypes.c_void_p
    lib.memcached_get.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_uint32),
        ctypes.POINTER(ctypes.c_int),
    ]
    return lib


LIB = load_libmemcached()


def client(fleet: list[Node], behaviors: dict[int, int]) -> int:
    mc: int = LIB.memcached_create(None)
    for behavior, value in behaviors.items():
        assert LIB.memcached_behavior_set(mc, behavior, value) == 0
    for node in fleet:
        if node.is_unix:
            rc = LIB.memcached_server_add_unix_socket_with_weight(
                mc, node.host.encode(), node.weight
            )
        else:
            rc = LIB.memcached_server_add_with_weight(
                mc, node.host.encode(), node.port, node.weight
            )
        assert rc == 0, rc
    return mc


def placer(behaviors: dict[int, int]) -> Callable[[list[Node]], Callable[[Key], int]]:
    def place(fleet: list[Node]) -> Callable[[Key], int]:
        mc = client(fleet, behaviors)
        return lambda key: int(LIB.memcached_generate_hash(mc, key.data, len(key.data)))

    return place


def refuses_connections(node: Node) -> bool:
    try:
        socket.create_connection((node.host, node.port), timeout=1).close()
    except OSError:
        return True
    return False


def eject(mc: int, fleet: list[Node], down: list[int]) -> None:
    """Make libmemcached eject the `down` servers: fail a get on a key each one owns."""
    for index in down:
        probe = next(
            key
            for key in (f"probe:{n}".encode() for n in itertools.count())
            if LIB.memcached_generate_hash(mc, key, len(key)) == index
        )
        for _ in range(5):
            size, flags, rc = ctypes.c_size_t(), ctypes.c_uint32(), ctypes.c_int()
            LIB.memcached_get(mc, probe, len(probe), size, flags, rc)
            if LIB.memcached_generate_hash(mc, probe, len(probe)) != index:
                break
        else:
            raise RuntimeError(f"libmemcached did not eject {fleet[index]}")


def failover(
    behaviors: dict[int, int],
) -> Callable[[list[Node], list[int]], Callable[[Key], int | None] | None]:
    def live(fleet: list[Node], down: list[int]) -> Callable[[Key], int | None] | None:
        if fleet not in FAILOVER_FLEETS.values() and fleet != WEIGHTED_FAILOVER_FLEET:
            return None
        if len(down) == len(fleet):
            return None  # nothing to eject to: libmemcached keeps its last continuum
        assert all(refuses_connections(node) for node in fleet), "a failover port is in use"
        mc = client(fleet, {**behaviors, **AUTO_EJECT})
        eject(mc, fleet, down)
        return lambda key: int(LIB.memcached_generate_hash(mc, key.data, len(key.data)))

    return live


def weighted_failover_gap(name: str, behaviors: dict[int, int]) -> None:
    """How many keys libmemcached's rebuild puts elsewhere than the next live point does."""
    keys = load_keys()
    fleet = WEIGHTED_FAILOVER_FLEET
    full = placer(behaviors)(fleet)
    for down in down_sets(len(fleet))[:-1]:
        rebuilt = failover(behaviors)(fleet, down)
        assert rebuilt is not None
        moved = sum(full(key) not in down and rebuilt(key) != full(key) for key in keys)
        print(
            f"{name}, weights 1,2,3,1,5, down {down}: {moved}/{len(keys)} keys of live servers move"
        )


def main() -> None:
    version = f"libmemcached {pylibmc.libmemcached_version} (pylibmc {pylibmc.__version__})"
    write_vectors(
        "modula.txt",
        f"preset modula: pylibmc with no behaviors, {version}",
        FLEETS,
        placer({}),
    )
    write_vectors(
        "libmemcached_ketama.txt",
        f'preset libmemcached_ketama: pylibmc behaviors={{"ketama": True}}, {version}',
        {**FLEETS, **FAILOVER_FLEETS},
        placer({BEHAVIOR_KETAMA: 1}),
        failover({BEHAVIOR_KETAMA: 1}),
    )
    write_vectors(
        "ketama.txt",
        f'preset ketama: pylibmc behaviors={{"ketama_weighted": True}}, {version}',
        {**FLEETS, **FAILOVER_FLEETS},
        placer({BEHAVIOR_KETAMA_WEIGHTED: 1}),
        failover({BEHAVIOR_KETAMA_WEIGHTED: 1}),
    )
    weighted_failover_gap("libmemcached_ketama", {BEHAVIOR_KETAMA: 1})
    weighted_failover_gap("ketama", {BEHAVIOR_KETAMA_WEIGHTED: 1})


if __name__ == "__main__":
    main()
