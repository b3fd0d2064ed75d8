"""The fleet scenarios: FLEET_SIZE memcached of their own, started only when one is chosen."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from memlease.testing import MemcachedServer

from .client_registry import open_named
from .dataset import FLEET_KEYS, FLEET_SIZE, SMALL_VALUE
from .fleet_clients import FLEET_CLIENTS
from .progress import log
from .raw_socket import RawSocketConnection
from .results import Row
from .rounds import run_scenario
from .scenario_types import Scenario

# One worker thread each: sixteen servers share the machine's few CPUs with the client.
FLEET_MEMCACHED_THREADS = 1


@contextmanager
def fleet_servers(size: int = FLEET_SIZE) -> Iterator[list[str]]:
    """Start `size` throwaway memcached, the way the bench starts its one, each holding every
    fleet key: the clients hash keys to servers differently, and each must find them all."""
    with ExitStack() as stack:
        addresses = []
        for _ in range(size):
            server = stack.enter_context(MemcachedServer(threads=FLEET_MEMCACHED_THREADS))
            connection = RawSocketConnection(server.address)
            try:
                connection.store_many(FLEET_KEYS, SMALL_VALUE)
            finally:
                connection.close()
            addresses.append(server.address)
        yield addresses


def run_fleet(
    scenario: Scenario, names: list[str], args: argparse.Namespace, env: dict[str, Any]
) -> list[Row]:
    """Time `scenario` on a fleet of its own with the chosen fleet clients; their descriptions
    join env's."""
    log(f"[{scenario.name}] starting {scenario.servers} memcached")
    with fleet_servers(scenario.servers) as addresses:
        clients = open_named(FLEET_CLIENTS, names, addresses)
        try:
            for client in clients:
                env["clients"][f"{client.name} ({scenario.servers} servers)"] = client.describe()
            return run_scenario(scenario, clients, args)
        finally:
            for client in clients:
                client.close()
