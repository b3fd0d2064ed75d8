"""The scenarios: what each one calls, how it checks the data, and which clients run it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .checks import (
    verify_fleet_get_many,
    verify_get_big,
    verify_get_many,
    verify_get_many_medium,
    verify_get_small,
    verify_get_small_async,
    verify_local_hit,
    verify_mixed,
    verify_mixed_async,
    verify_named_get,
    verify_set_big,
    verify_set_many,
    verify_set_small,
)
from .client_api import AnyClient, AsyncBenchClient
from .dataset import (
    BATCH_SIZE,
    BATCHES,
    BIG_KEYS,
    BIG_SET_KEYS,
    BIG_VALUE,
    FLEET_BATCH_SIZE,
    FLEET_BATCHES,
    FLEET_SIZE,
    MEDIUM_BATCHES,
    MEDIUM_VALUE,
    MIXED_PLAN,
    NAMED_IDS,
    SET_BATCHES,
    SET_KEYS,
    SMALL_KEYS,
    SMALL_VALUE,
)
from .scenario_types import AsyncScenario, Scenario, cycle

ASYNC_COROUTINES = 256  # in async_get_100B and in the AsyncClient run of the memory check
ASYNC_MIXED_COROUTINES = 500  # in async_mixed_1KB


def mixed(get: Callable[[str], Any], set_: Callable[[str, bytes], Any]) -> Callable[[int], Any]:
    """The i-th call of the 1 KB mix: MIXED_PLAN's get or set (9 gets to 1 set)."""
    count = len(MIXED_PLAN)

    def op(i: int) -> Any:
        key, is_set = MIXED_PLAN[i % count]
        return set_(key, MEDIUM_VALUE) if is_set else get(key)

    return op


def mixed_async(client: AsyncBenchClient) -> Callable[[int], Awaitable[Any]]:
    return mixed(client.get, client.set)


ALL_SCENARIOS: list[Scenario | AsyncScenario] = [
    Scenario("get_100B", "ops/s", 1, lambda c: cycle(SMALL_KEYS, c.get), verify_get_small),
    Scenario(
        "set_100B",
        "ops/s",
        1,
        lambda c: cycle(SET_KEYS, lambda key: c.set(key, SMALL_VALUE)),
        verify_set_small,
    ),
    Scenario("mixed_1KB", "ops/s", 1, lambda c: mixed(c.get, c.set), verify_mixed),
    Scenario(
        "get_many_100",
        "keys/s",
        BATCH_SIZE,
        lambda c: cycle(BATCHES, c.get_many),
        verify_get_many,
    ),
    Scenario(
        "get_many_100_1KB",
        "keys/s",
        BATCH_SIZE,
        lambda c: cycle(MEDIUM_BATCHES, c.get_many),
        verify_get_many_medium,
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
        "local_hit",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.local_get),
        verify_local_hit,
    ),
    Scenario(
        "lease_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.lease_get),
        verify_get_small,
    ),
    Scenario(
        "named_get_2tags_100B",
        "ops/s",
        1,
        lambda c: cycle(NAMED_IDS, c.named_get),
        verify_named_get,
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
    AsyncScenario(
        "async_mixed_1KB",
        "ops/s",
        1,
        mixed_async,
        verify_mixed_async,
        coroutines=ASYNC_MIXED_COROUTINES,
    ),
    Scenario(
        f"fleet{FLEET_SIZE}_get_many_{FLEET_BATCH_SIZE}",
        "keys/s",
        FLEET_BATCH_SIZE,
        lambda c: cycle(FLEET_BATCHES, c.get_many),
        verify_fleet_get_many,
        servers=FLEET_SIZE,
    ),
]
SCENARIOS = {scenario.name: scenario for scenario in ALL_SCENARIOS}
# Scenarios only clients with leases run (memlease and meta-memcache).
LEASE_SCENARIOS = frozenset({"lease_get_100B"})
# Scenarios only clients with named caches run (memlease).
NAMED_SCENARIOS = frozenset({"named_get_2tags_100B"})
# Scenarios only clients with an in-process layer run (memlease's LocalLayer, cachetools).
LOCAL_SCENARIOS = frozenset({"local_hit"})
# The concurrent scenarios and the single-caller one each is compared with, under the table.
CONCURRENCY_BASELINE = {
    "threads4_get_100B": "get_100B",
    "threads8_get_100B": "get_100B",
    "async_get_100B": "async_seq_get_100B",
}
# Layered reads and the plain read each is compared with (issue 13's target: a named-cache
# hit with two tags at >= 0.9x a bare get, the tags being read in the same round trip).
LAYER_BASELINE = {"named_get_2tags_100B": "get_100B"}
# The one-shot invalidate_tags check (named_tags.py): chosen with --scenarios too.
NAMED_TAGS_SCENARIO = "named_invalidate_tags"
# The one-shot memory check: not a Scenario (no rounds), but chosen with --scenarios too.
MEMORY_SCENARIO = "memory_mixed_1M"


def is_fleet(name: str) -> bool:
    """Whether scenario `name` runs on a fleet of servers (fleet.py) rather than the one."""
    scenario = SCENARIOS[name]
    return isinstance(scenario, Scenario) and scenario.servers > 1


def supports(client: AnyClient, name: str) -> bool:
    """Whether `client` runs scenario `name`: of its kind (sync or async), on as many servers,
    with leases if the scenario needs them, and among the client's own scenarios if it names
    some."""
    scenario = SCENARIOS[name]
    if isinstance(client, AsyncBenchClient):
        fits = isinstance(scenario, AsyncScenario)
    else:
        fits = (
            isinstance(scenario, Scenario)
            and scenario.servers == client.servers
            and (name not in LEASE_SCENARIOS or client.leases)
            and (name not in NAMED_SCENARIOS or client.named)
            and (name not in LOCAL_SCENARIOS or client.local_layer)
        )
    return fits and (client.scenarios is None or name in client.scenarios)
