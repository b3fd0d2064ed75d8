"""Reading ``stats`` from each server on its own, so one unreachable server is reported on its
row instead of hiding the others (``stats`` and ``watch``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memlease import Client
from memlease._errors import MemcacheConnectionError, MemcacheError
from memlease.cli.connect import Fleet, ServerSpec

Stats = dict[str, Any]


@dataclass
class Reading:
    """One server's ``stats``, or why it could not be read."""

    server: str
    stats: Stats | None
    error: MemcacheError | None = None


class FleetProbe:
    """One single-server client per server, kept open across readings (``watch`` polls)."""

    def __init__(self, fleet: Fleet) -> None:
        self._clients = [(spec, _single(fleet, spec)) for spec in fleet.servers]

    def read(self) -> list[Reading]:
        readings = []
        for spec, client in self._clients:
            try:
                (stats,) = client.stats().values()
                readings.append(Reading(spec.address, stats))
            except MemcacheConnectionError as error:
                readings.append(Reading(spec.address, None, error))
        return readings

    def close(self) -> None:
        for _, client in self._clients:
            client.close()

    def __enter__(self) -> FleetProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _single(fleet: Fleet, spec: ServerSpec) -> Client:
    # A failed server is marked down for mark_down_period; a poll a second later must try it
    # again (it may be back), not fail at once.
    return Client(
        [spec.address],
        timeout=fleet.timeout,
        connect_timeout=fleet.timeout,
        mark_down_period=0.001,
    )


def failures(readings: list[Reading]) -> list[Reading]:
    return [r for r in readings if r.error is not None]


def hit_ratio(stats: Stats) -> float | None:
    """Hits over gets, or None before the first get."""
    hits, misses = stats.get("get_hits", 0), stats.get("get_misses", 0)
    total = hits + misses
    return hits / total if total else None
