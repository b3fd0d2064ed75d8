"""Regenerate src/route/ring/testdata/jump.txt (preset `jump`) from reference implementations.

The key hash is XXH3-64 with seed 0 of the key's bytes (str keys as UTF-8) from the `xxhash`
bindings of the reference C library, as memcached's proxy hashes keys (`mcp.hash_xxhash`:
`XXH3_64bits_withSeed`, seed 0) before `mcp.dist_jump_hash`. The bucket is the paper's
JumpConsistentHash (Lamping & Veach 2014) as compiled in the `jump-consistent-hash` C
extension, over the servers in configuration order. Weights are ignored.

Jump hash has no failover of its own, so there are no `live` lines: the preset's fallback is
memlease's own (documented and tested in src/route/ring/jump.rs).

    .venv/bin/pip install xxhash==4.1.0 jump-consistent-hash==3.6.0
    .venv/bin/python -m tests.tools.gen_jump_vectors
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from tests.tools.placement_common import FLEETS, Key, Node, write_vectors

xxhash: Any = importlib.import_module("xxhash")  # not dev requirements
jump: Any = importlib.import_module("jump")
assert jump.hash is jump.c_hash, "the C extension, not the pure-Python fallback"


def place(fleet: list[Node]) -> Callable[[Key], int]:
    return lambda key: int(jump.hash(xxhash.xxh3_64_intdigest(key.data), len(fleet)))


if __name__ == "__main__":
    write_vectors(
        "jump.txt",
        f"preset jump: xxhash {version('xxhash')} (libxxhash {xxhash.XXHASH_VERSION}) xxh3_64,"
        f" jump-consistent-hash {version('jump-consistent-hash')}",
        FLEETS,
        place,
    )
