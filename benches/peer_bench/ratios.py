"""memlease against each peer, per scenario: throughput and CPU per operation, and the verdict.

A throughput win that costs more than CPU_BUDGET times the peer's CPU per operation is not a
win: on a busy machine those cores would have served other work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import Row
from .scenarios import SCENARIOS

CPU_BUDGET = 1.2  # memlease's CPU per operation may be at most this multiple of the peer's
NOT_A_PEER = frozenset({"raw-socket"})  # the floor: left out of the best-peer comparison
NOT_A_WIN = "win bought with CPU: not a win"


@dataclass(frozen=True)
class PeerRatio:
    """memlease ÷ one peer in one scenario."""

    scenario: str
    peer: str
    throughput: float  # memlease's throughput / the peer's: above 1, memlease is faster
    cpu: float  # memlease's CPU per operation / the peer's: above 1, memlease costs more

    def verdict(self) -> str:
        if math.isnan(self.throughput):
            return ""
        if self.throughput > 1 and self.cpu > CPU_BUDGET:
            return f"**{NOT_A_WIN}**"
        return "memlease faster" if self.throughput > 1 else "peer faster"


@dataclass(frozen=True)
class BestPeerRatio:
    """memlease against the fastest peer, and against the peer spending least CPU per op."""

    scenario: str
    fastest_peer: str
    throughput: float  # memlease / the fastest peer
    frugal_peer: str
    cpu: float  # memlease / the peer with the least CPU per operation


def measured(rows: list[Row]) -> dict[str, dict[str, Row]]:
    """Rows with rounds and no error, by scenario, then by client, in the rows' order."""
    found: dict[str, dict[str, Row]] = {}
    for row in rows:
        if row.error is None and row.rounds:
            found.setdefault(row.scenario, {})[row.client] = row
    return found


def throughput(row: Row) -> float:
    return row.median_throughput(SCENARIOS[row.scenario].items_per_call)


def cpu_per_100k(row: Row) -> float:
    return row.median_cpu_per_100k(SCENARIOS[row.scenario].items_per_call)


def divide(mine: float, theirs: float) -> float:
    if math.isnan(mine) or math.isnan(theirs):
        return math.nan
    return mine / theirs if theirs > 0 else math.inf


def peer_ratios(rows: list[Row]) -> list[PeerRatio]:
    ratios = []
    for scenario, by_client in measured(rows).items():
        memlease = by_client.get("memlease")
        if memlease is None:
            continue
        for peer, row in by_client.items():
            if peer != "memlease":
                ratios.append(
                    PeerRatio(
                        scenario,
                        peer,
                        divide(throughput(memlease), throughput(row)),
                        divide(cpu_per_100k(memlease), cpu_per_100k(row)),
                    )
                )
    return ratios


def best_peer_ratios(rows: list[Row]) -> list[BestPeerRatio]:
    best = []
    for scenario, by_client in measured(rows).items():
        memlease = by_client.get("memlease")
        peers = [
            row for client, row in by_client.items() if client not in {"memlease", *NOT_A_PEER}
        ]
        if memlease is None or not peers:
            continue
        fastest = max(peers, key=throughput)
        costs = [row for row in peers if not math.isnan(cpu_per_100k(row))]
        frugal = min(costs, key=cpu_per_100k) if costs else fastest
        best.append(
            BestPeerRatio(
                scenario,
                fastest.client,
                divide(throughput(memlease), throughput(fastest)),
                frugal.client,
                divide(cpu_per_100k(memlease), cpu_per_100k(frugal)),
            )
        )
    return best


def ratio_table(ratios: list[PeerRatio]) -> str:
    lines = [
        "| scenario | peer | memlease ÷ peer, throughput | memlease ÷ peer, CPU per op | verdict |",
        "|---|---|---:|---:|---|",
    ]
    for ratio in ratios:
        lines.append(
            f"| {ratio.scenario} | {ratio.peer} | {shown(ratio.throughput)} "
            f"| {shown(ratio.cpu)} | {ratio.verdict()} |"
        )
    return "\n".join(lines)


def shown(ratio: float) -> str:
    return "—" if math.isnan(ratio) else ("∞" if math.isinf(ratio) else f"{ratio:.2f}x")
