"""The scenarios: what each one calls, how it checks the data, and which clients run it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .client_api import AnyClient, AsyncBenchClient, BenchClient
from .dataset import (
    BATCH_SIZE,
    BATCHES,
    BIG_KEYS,
    BIG_SET_KEYS,
    BIG_VALUE,
    SET_BATCHES,
    SET_KEYS,
    SMALL_KEYS,
    SMALL_VALUE,
)
from .timing import AsyncOp, Op

ASYNC_COROUTINES = 256  # in async_get_100B and in the AsyncClient run of the memory check


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str  # what the throughput counts
    items_per_call: int  # keys moved by one call: throughput = calls/s * items_per_call
    make_op: Callable[[BenchClient], Op]  # op(i) does the i-th call of a round
    verify: Callable[[BenchClient], None]  # raises unless the client sees the expected data
    threads: int = 0  # > 0: that many threads call op at once, each on its thread_clients()

    @property
    def callers(self) -> str:
        count = max(1, self.threads)
        return f"{count} thread" if count == 1 else f"{count} threads"


@dataclass(frozen=True)
class AsyncScenario:
    """A scenario for AsyncBenchClients: `coroutines` coroutines await op on the client's loop."""

    name: str
    unit: str
    items_per_call: int
    make_op: Callable[[AsyncBenchClient], AsyncOp]
    verify: Callable[[AsyncBenchClient], Awaitable[None]]
    coroutines: int = 1

    @property
    def callers(self) -> str:
        return f"{self.coroutines} coroutine" + ("" if self.coroutines == 1 else "s")


R = TypeVar("R")


def cycle(items: Sequence[Any], call: Callable[[Any], R]) -> Callable[[int], R]:
    count = len(items)
    return lambda i: call(items[i % count])


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {what}")


def verify_get_small(client: BenchClient) -> None:
    expect(client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


async def verify_get_small_async(client: AsyncBenchClient) -> None:
    expect(await client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


def verify_set_small(client: BenchClient) -> None:
    expect(bool(client.set(SET_KEYS[0], SMALL_VALUE)), "set of a 100 B value returned false")


def verify_get_many(client: BenchClient) -> None:
    found = client.get_many(BATCHES[0])
    hits = [value for value in found.values() if value == SMALL_VALUE]
    expect(len(hits) == BATCH_SIZE, f"get_many found {len(hits)} of {BATCH_SIZE} values")


def verify_set_many(client: BenchClient) -> None:
    failed = client.set_many(SET_BATCHES[0])
    expect(not failed, f"set_many did not store {len(failed)} of {BATCH_SIZE} values")


def verify_get_big(client: BenchClient) -> None:
    expect(client.get(BIG_KEYS[0]) == BIG_VALUE, "get of a 100 KB value")


def verify_set_big(client: BenchClient) -> None:
    expect(bool(client.set(BIG_SET_KEYS[0], BIG_VALUE)), "set of a 100 KB value returned false")


ALL_SCENARIOS: list[Scenario | AsyncScenario] = [
    Scenario("get_100B", "ops/s", 1, lambda c: cycle(SMALL_KEYS, c.get), verify_get_small),
    Scenario(
        "set_100B",
        "ops/s",
        1,
        lambda c: cycle(SET_KEYS, lambda key: c.set(key, SMALL_VALUE)),
        verify_set_small,
    ),
    Scenario(
        "get_many_100",
        "keys/s",
        BATCH_SIZE,
        lambda c: cycle(BATCHES, c.get_many),
        verify_get_many,
    ),
    Scenario(
        "set_many_100",
        "keys/s",
        BATCH_SIZE,
        lambda c: cycle(SET_BATCHES, c.set_many),
        verify_set_many,
    ),
    Scenario("get_100KB", "ops/s", 1, lambda c: cycle(BIG_KEYS, c.get), verify_get_big),
    Scenario(
        "set_100KB",
        "ops/s",
        1,
        lambda c: cycle(BIG_SET_KEYS, lambda key: c.set(key, BIG_VALUE)),
        verify_set_big,
    ),
    Scenario(
        "threads4_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small,
        threads=4,
    ),
    Scenario(
        "threads8_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small,
        threads=8,
    ),
    Scenario(
        "lease_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.lease_get),
        verify_get_small,
    ),
    AsyncScenario(
        "async_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small_async,
        coroutines=ASYNC_COROUTINES,
    ),
    AsyncScenario(
        "async_seq_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small_async,
    ),
]
SCENARIOS = {scenario.name: scenario for scenario in ALL_SCENARIOS}
# Scenarios only clients with leases run (memlease and meta-memcache).
LEASE_SCENARIOS = frozenset({"lease_get_100B"})
# The concurrent scenarios and the single-caller one each is compared with, under the table.
CONCURRENCY_BASELINE = {
    "threads4_get_100B": "get_100B",
    "threads8_get_100B": "get_100B",
    "async_get_100B": "async_seq_get_100B",
}
# The one-shot memory check: not a Scenario (no rounds), but chosen with --scenarios too.
MEMORY_SCENARIO = "memory_mixed_1M"


def supports(client: AnyClient, name: str) -> bool:
    """Whether `client` runs scenario `name`: of its kind (sync or async), with leases if the
    scenario needs them, and among the client's own scenarios if it names some."""
    scenario = SCENARIOS[name]
    if isinstance(client, AsyncBenchClient):
        fits = isinstance(scenario, AsyncScenario)
    else:
        fits = isinstance(scenario, Scenario) and (name not in LEASE_SCENARIOS or client.leases)
    return fits and (client.scenarios is None or name in client.scenarios)
