"""Regenerate src/route/ring/testdata/ketama_libmemcached.txt from libmemcached itself.

Loads the libmemcached bundled in the pylibmc wheel (1.0.16) through ctypes, builds
KETAMA_WEIGHTED continua for a few fleets and records which server index each key lands on.
The Rust test `ring::ketama::tests::matches_generated_libmemcached_vectors` replays them.

    .venv/bin/python tests/tools/gen_ketama_vectors.py \
        > src/route/ring/testdata/ketama_libmemcached.txt
"""

from __future__ import annotations

import ctypes
import glob
import os
import random

import pylibmc

BEHAVIOR_KETAMA_WEIGHTED = 16  # position in memcached_behavior_t

FLEETS = {
    # libmemcached's own fixture fleet (default port: "host-k" point names).
    "fixture": [
        ("10.0.1.1", 11211, 600),
        ("10.0.1.2", 11211, 300),
        ("10.0.1.3", 11211, 200),
        ("10.0.1.4", 11211, 350),
        ("10.0.1.5", 11211, 1000),
        ("10.0.1.6", 11211, 800),
        ("10.0.1.7", 11211, 950),
        ("10.0.1.8", 11211, 100),
    ],
    # Hostnames and non-default ports ("host:port-k"), mixed weights.
    "mixed": [
        ("cache-a.internal", 11211, 1),
        ("cache-b.internal", 11311, 2),
        ("127.0.0.1", 22122, 1),
        ("cache-c", 11211, 5),
    ],
    "equal": [(f"10.1.0.{i}", 11211, 1) for i in range(1, 11)],
}


def load_libmemcached() -> ctypes.CDLL:
    libs = os.path.join(
        os.path.dirname(pylibmc.__file__), "..", "pylibmc.libs", "libmemcached-*.so*"
    )
    lib = ctypes.CDLL(sorted(glob.glob(libs))[0])
    lib.memcached_create.restype = ctypes.c_void_p
    lib.memcached_create.argtypes = [ctypes.c_void_p]
    lib.memcached_behavior_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
    lib.memcached_server_add_with_weight.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_uint,
        ctypes.c_uint32,
    ]
    lib.memcached_generate_hash.restype = ctypes.c_uint32
    lib.memcached_generate_hash.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.memcached_free.argtypes = [ctypes.c_void_p]
    return lib


def main() -> None:
    lib = load_libmemcached()
    rng = random.Random(20261127)
    alphabet = [chr(c) for c in range(0x21, 0x7F)]
    print(
        "# fleet <name> host:port:weight ...  then  key<TAB>server index, from libmemcached 1.0.16"
    )
    for name, fleet in FLEETS.items():
        mc = lib.memcached_create(None)
        lib.memcached_behavior_set(mc, BEHAVIOR_KETAMA_WEIGHTED, 1)
        for host, port, weight in fleet:
            lib.memcached_server_add_with_weight(mc, host.encode(), port, weight)
        print("fleet", name, *(f"{h}:{p}:{w}" for h, p, w in fleet))
        for _ in range(300):
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).encode()
            print(key.decode(), lib.memcached_generate_hash(mc, key, len(key)), sep="\t")
        lib.memcached_free(mc)


if __name__ == "__main__":
    main()
