"""The data every scenario reads or writes, and the memcached the bench stores it in."""

from __future__ import annotations

import os
import random

from .raw_socket import RawSocketConnection

# Data set. Random bytes: incompressible, so every client moves the same bytes on the wire.
SMALL_VALUE = os.urandom(100)
BIG_VALUE = os.urandom(100 * 1024)
SMALL_KEYS = [f"bench:small:{i}" for i in range(1000)]
# named_get_2tags_100B: as many ids as SMALL_KEYS, each entry tagged with two tags.
NAMED_IDS = list(range(1000))
NAMED_TAGS = ("shop-1", "catalog")
BIG_KEYS = [f"bench:big:{i}" for i in range(8)]
SET_KEYS = [f"bench:set:{i}" for i in range(1000)]  # apart from SMALL_KEYS: reads stay intact
BIG_SET_KEYS = [f"bench:bigset:{i}" for i in range(8)]  # apart from BIG_KEYS, likewise
BATCH_SIZE = 100
BATCHES = [SMALL_KEYS[i : i + BATCH_SIZE] for i in range(0, len(SMALL_KEYS), BATCH_SIZE)]
# Built once: a set_many round times the client, not the building of its mapping.
SET_BATCHES = [
    dict.fromkeys(SET_KEYS[i : i + BATCH_SIZE], SMALL_VALUE)
    for i in range(0, len(SET_KEYS), BATCH_SIZE)
]

# 1 KB values: mixed_1KB, async_mixed_1KB and get_many_100_1KB.
MEDIUM_VALUE = os.urandom(1024)
MEDIUM_KEYS = [f"bench:medium:{i}" for i in range(1000)]
MEDIUM_BATCHES = [MEDIUM_KEYS[i : i + BATCH_SIZE] for i in range(0, len(MEDIUM_KEYS), BATCH_SIZE)]
# The mixed workload's calls, drawn once from a seeded generator so that every client makes the
# same ones: (key, is_set), exactly one set in ten, over MEDIUM_KEYS. Sets store MEDIUM_VALUE
# again, so that the gets keep finding the value they check.
MIX_SETS_PER_10 = 1
_mix_random = random.Random(1212)
MIXED_PLAN = [(_mix_random.choice(MEDIUM_KEYS), n % 10 < MIX_SETS_PER_10) for n in range(10_000)]
_mix_random.shuffle(MIXED_PLAN)

# The fleet scenario: FLEET_BATCH_SIZE keys with 100 B values, spread over FLEET_SIZE servers.
# Each client hashes keys to servers its own way, so every server holds every key (fleet.py).
FLEET_SIZE = 16
FLEET_BATCH_SIZE = 1000
FLEET_KEYS = [f"bench:fleet:{i}" for i in range(2 * FLEET_BATCH_SIZE)]
FLEET_BATCHES = [
    FLEET_KEYS[i : i + FLEET_BATCH_SIZE] for i in range(0, len(FLEET_KEYS), FLEET_BATCH_SIZE)
]

MEMCACHED_THREADS = 2  # worker threads of every memcached the bench starts


def store_data_set(address: str) -> None:
    """Store the values every get scenario reads, with a client that is none of those tested."""
    connection = RawSocketConnection(address)
    try:
        connection.store_many(SMALL_KEYS, SMALL_VALUE)
        connection.store_many(MEDIUM_KEYS, MEDIUM_VALUE)
        for key in BIG_KEYS:
            connection.store(key.encode(), BIG_VALUE)
    finally:
        connection.close()
