"""What a round measures, the rows they add up to, and how failures are named."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

CPU_PER_ITEMS = 100_000  # CPU time is reported in seconds per this many operations or keys


@dataclass
class Round:
    calls_per_s: float  # successful calls
    p50_us: float  # over every call that ended in the round, failed ones included
    p99_us: float
    max_us: float  # the longest call
    calls: int  # successful calls
    errors: int = 0  # failed calls (async rounds; elsewhere a failure ends the row)
    error_kinds: dict[str, int] = field(default_factory=dict)  # failed calls by exception
    starved: int = 0  # async rounds: coroutines that completed no call inside the window
    cpu_s: float = 0.0  # this process's CPU time (user + sys, all threads) over the round
    cpu_calls: int = 0  # the calls that CPU time paid for (see timing.py for each loop)

    def cpu_per_call_s(self) -> float:
        return self.cpu_s / self.cpu_calls if self.cpu_calls else math.nan


@dataclass
class Row:
    """Everything measured for one (scenario, client)."""

    scenario: str
    client: str
    rounds: list[Round] = field(default_factory=list)
    error: str | None = None

    def median_throughput(self, items_per_call: int) -> float:
        return statistics.median(r.calls_per_s for r in self.rounds) * items_per_call

    def median_p50_us(self) -> float:
        return statistics.median(r.p50_us for r in self.rounds)

    def median_p99_us(self) -> float:
        return statistics.median(r.p99_us for r in self.rounds)

    def median_max_us(self) -> float:
        return statistics.median(r.max_us for r in self.rounds)

    def median_cpu_per_100k(self, items_per_call: int) -> float:
        """Median over the rounds of CPU seconds per 100,000 operations (keys, for calls that
        move several: get_many, set_many)."""
        per_call = statistics.median(r.cpu_per_call_s() for r in self.rounds)
        return per_call / items_per_call * CPU_PER_ITEMS

    def spread(self) -> float:
        rates = [r.calls_per_s for r in self.rounds]
        median = statistics.median(rates)
        return (max(rates) - min(rates)) / median if median > 0 else math.nan

    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    def error_kinds(self) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for r in self.rounds:
            kinds.update(r.error_kinds)
        return kinds


def error_kind(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def format_kinds(kinds: Counter[str]) -> str:
    return ", ".join(f"{count:,} {kind}" for kind, count in kinds.most_common())
