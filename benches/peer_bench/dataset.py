"""The data every scenario reads or writes, and the memcached the bench stores it in."""

from __future__ import annotations

import os

from .raw_socket import RawSocketConnection

# Data set. Random bytes: incompressible, so every client moves the same bytes on the wire.
SMALL_VALUE = os.urandom(100)
BIG_VALUE = os.urandom(100 * 1024)
SMALL_KEYS = [f"bench:small:{i}" for i in range(1000)]
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

MEMCACHED_THREADS = 2  # worker threads of every memcached the bench starts


def store_data_set(address: str) -> None:
    """Store the values every get scenario reads, with a client that is none of those tested."""
    connection = RawSocketConnection(address)
    try:
        for key in SMALL_KEYS:
            connection.store(key.encode(), SMALL_VALUE)
        for key in BIG_KEYS:
            connection.store(key.encode(), BIG_VALUE)
    finally:
        connection.close()
