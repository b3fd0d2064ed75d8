"""The clients by name (what --clients chooses from), and opening the chosen ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from .async_clients import (
    AiomcacheClient,
    EmcacheClient,
    EmcacheNoTimeoutClient,
    MemleaseAsyncClient,
)
from .client_api import AnyClient, AsyncBenchClient, BenchClient
from .local_layer import CachetoolsClient
from .progress import log
from .raw_socket import RawSocketClient
from .scenario_types import AsyncScenario, Scenario
from .scenarios import SCENARIOS
from .sync_clients import MemleaseClient, MetaMemcacheClient, PylibmcClient, PymemcacheClient

# Round order within a scenario: memlease first, then the peers, then the floor.
CLIENTS: dict[str, Callable[[str], BenchClient]] = {
    "memlease": MemleaseClient,
    "pymemcache": PymemcacheClient,
    "pylibmc": PylibmcClient,
    "meta-memcache": MetaMemcacheClient,
    "raw-socket": RawSocketClient,
    "cachetools": CachetoolsClient,
}
# The same for the async scenarios; --clients memlease picks both memlease clients.
ASYNC_CLIENTS: dict[str, Callable[[str], AsyncBenchClient]] = {
    "memlease": MemleaseAsyncClient,
    "aiomcache": AiomcacheClient,
    "emcache": EmcacheClient,
    "emcache-notimeout": EmcacheNoTimeoutClient,
}
T = TypeVar("T")  # what a factory connects to: an address, or a fleet's addresses

CLIENT_NAMES = list(dict.fromkeys([*CLIENTS, *ASYNC_CLIENTS]))


def open_clients(names: list[str], address: str, scenarios: list[str]) -> list[AnyClient]:
    """Connect every requested client that a chosen scenario runs, in CLIENTS then
    ASYNC_CLIENTS order; a peer that is not installed is skipped."""
    chosen = [SCENARIOS[name] for name in scenarios if name in SCENARIOS]
    families: list[Mapping[str, Callable[[str], AnyClient]]] = []
    if any(isinstance(scenario, Scenario) for scenario in chosen):
        families.append(CLIENTS)
    if any(isinstance(scenario, AsyncScenario) for scenario in chosen):
        families.append(ASYNC_CLIENTS)
    return [client for family in families for client in open_named(family, names, address)]


def open_named(
    family: Mapping[str, Callable[[T], AnyClient]], names: list[str], servers: T
) -> list[AnyClient]:
    """Connect the family's clients that `names` asks for, in the family's order, to `servers`;
    a peer that is not installed is skipped."""
    clients: list[AnyClient] = []
    for name, factory in family.items():
        if name not in names:
            continue
        try:
            clients.append(factory(servers))
        except ImportError as error:
            log(f"skipping {name}: {error} (pip install -r benches/requirements.txt)")
    return clients
