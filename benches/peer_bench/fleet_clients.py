"""The clients of the fleet scenario: each spreads keys over every server of the fleet."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from typing import Any

import memlease

from .client_api import BenchClient, split_address
from .scenarios import SCENARIOS, is_fleet

FLEET_SCENARIOS = frozenset(name for name in SCENARIOS if is_fleet(name))


class FleetClient(BenchClient):
    """A client of the whole fleet; only get_many is timed on it."""

    scenarios = FLEET_SCENARIOS
    _client: Any

    def __init__(self, addresses: Sequence[str]) -> None:
        self.servers = len(addresses)

    def get(self, key: str) -> Any:
        return self._client.get(key)


class MemleaseFleetClient(FleetClient):
    name = "memlease"

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(addresses)
        self._client = memlease.Client(list(addresses), serde="raw", compress_threshold=None)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)  # type: ignore[no-any-return]

    def describe(self) -> str:
        return f"{memlease.__version__} (one Client of {self.servers} servers, defaults: ketama)"

    def close(self) -> None:
        self._client.close()


class PylibmcFleetClient(FleetClient):
    name = "pylibmc"

    def __init__(self, addresses: Sequence[str]) -> None:
        import pylibmc

        super().__init__(addresses)
        # Consistent hashing, as memlease's ketama default: a fleet this size runs it in
        # production, and libmemcached's modula default would spare pylibmc the MD5 per key.
        self._client = pylibmc.Client(
            list(addresses), binary=False, behaviors={"tcp_nodelay": True, "ketama": True}
        )

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_multi(keys)  # type: ignore[no-any-return]

    def describe(self) -> str:
        return (
            f"{version('pylibmc')} (one Client of {self.servers} servers, text protocol, "
            "tcp_nodelay, ketama)"
        )

    def close(self) -> None:
        self._client.disconnect_all()


class PymemcacheFleetClient(FleetClient):
    name = "pymemcache"

    def __init__(self, addresses: Sequence[str]) -> None:
        from pymemcache.client.hash import HashClient

        super().__init__(addresses)
        self._client = HashClient(
            [split_address(address) for address in addresses],
            no_delay=True,
            default_noreply=False,
        )

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)  # type: ignore[no-any-return]

    def describe(self) -> str:
        return (
            f"{version('pymemcache')} (HashClient of {self.servers} servers, no_delay=True, "
            "default_noreply=False, its default RendezvousHash: a pure-Python hash of each key "
            "with every server; it asks the servers one after the other)"
        )

    def close(self) -> None:
        self._client.close()


# Round order within a fleet scenario, as in client_registry.CLIENTS.
FLEET_CLIENTS: dict[str, Callable[[Sequence[str]], BenchClient]] = {
    "memlease": MemleaseFleetClient,
    "pymemcache": PymemcacheFleetClient,
    "pylibmc": PylibmcFleetClient,
}
