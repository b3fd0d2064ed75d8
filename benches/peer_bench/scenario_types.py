"""What a scenario is: the sync and the async kinds, and the helpers their table uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .client_api import AsyncBenchClient, BenchClient
from .timing import AsyncOp, Op


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str  # what the throughput counts
    items_per_call: int  # keys moved by one call: throughput = calls/s * items_per_call
    make_op: Callable[[BenchClient], Op]  # op(i) does the i-th call of a round
    verify: Callable[[BenchClient], None]  # raises unless the client sees the expected data
    threads: int = 0  # > 0: that many threads call op at once, each on its thread_clients()
    servers: int = 1  # > 1: a fleet of that many memcached, with clients of its own (fleet.py)

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
