"""What each scenario checks before it is timed: that the client sees the expected data."""

from __future__ import annotations

from .client_api import AsyncBenchClient, BenchClient
from .dataset import (
    BATCH_SIZE,
    BATCHES,
    BIG_KEYS,
    BIG_SET_KEYS,
    BIG_VALUE,
    FLEET_BATCHES,
    MEDIUM_BATCHES,
    MEDIUM_KEYS,
    MEDIUM_VALUE,
    NAMED_IDS,
    SET_BATCHES,
    SET_KEYS,
    SMALL_KEYS,
    SMALL_VALUE,
)
from .scenario_types import expect


def verify_get_small(client: BenchClient) -> None:
    expect(client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


def verify_named_get(client: BenchClient) -> None:
    expect(client.named_get(NAMED_IDS[0]) == SMALL_VALUE, "named cache hit of a 100 B value")


async def verify_get_small_async(client: AsyncBenchClient) -> None:
    expect(await client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


def verify_local_hit(client: BenchClient) -> None:
    expect(client.local_get(SMALL_KEYS[0]) == SMALL_VALUE, "in-process hit of a 100 B value")


def verify_set_small(client: BenchClient) -> None:
    expect(bool(client.set(SET_KEYS[0], SMALL_VALUE)), "set of a 100 B value returned false")


def verify_mixed(client: BenchClient) -> None:
    expect(client.get(MEDIUM_KEYS[0]) == MEDIUM_VALUE, "get of a 1 KB value")
    expect(client.set(MEDIUM_KEYS[0], MEDIUM_VALUE) is not False, "set of a 1 KB value failed")


async def verify_mixed_async(client: AsyncBenchClient) -> None:
    expect(await client.get(MEDIUM_KEYS[0]) == MEDIUM_VALUE, "get of a 1 KB value")
    stored = await client.set(MEDIUM_KEYS[0], MEDIUM_VALUE)
    expect(stored is not False, "set of a 1 KB value failed")  # emcache's set returns None


def expect_all_found(client: BenchClient, keys: list[str], value: bytes) -> None:
    found = client.get_many(keys)
    hits = [got for got in found.values() if got == value]
    expect(len(hits) == len(keys), f"get_many found {len(hits)} of {len(keys)} values")


def verify_get_many(client: BenchClient) -> None:
    expect_all_found(client, BATCHES[0], SMALL_VALUE)


def verify_get_many_medium(client: BenchClient) -> None:
    expect_all_found(client, MEDIUM_BATCHES[0], MEDIUM_VALUE)


def verify_fleet_get_many(client: BenchClient) -> None:
    expect_all_found(client, FLEET_BATCHES[0], SMALL_VALUE)


def verify_set_many(client: BenchClient) -> None:
    failed = client.set_many(SET_BATCHES[0])
    expect(not failed, f"set_many did not store {len(failed)} of {BATCH_SIZE} values")


def verify_get_big(client: BenchClient) -> None:
    expect(client.get(BIG_KEYS[0]) == BIG_VALUE, "get of a 100 KB value")


def verify_set_big(client: BenchClient) -> None:
    expect(bool(client.set(BIG_SET_KEYS[0], BIG_VALUE)), "set of a 100 KB value returned false")
