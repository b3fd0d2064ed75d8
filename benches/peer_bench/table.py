"""The main markdown table: one row per (scenario, client)."""

from __future__ import annotations

import math

from .results import CPU_PER_ITEMS, Row
from .scenario_types import AsyncScenario, Scenario
from .scenarios import SCENARIOS

TABLE_HEADER = (
    f"| scenario | client | throughput (median) | p50 µs | p99 µs | max µs | errors "
    f"| CPU s / {CPU_PER_ITEMS // 1000}k ops | memlease ÷ client | spread |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def markdown_table(rows: list[Row]) -> str:
    lines = [TABLE_HEADER]
    memlease_rows = {row.scenario: row for row in rows if row.client == "memlease"}
    for row in rows:
        scenario = SCENARIOS[row.scenario]
        if row.error is not None or not row.rounds:
            lines.append(f"| {row.scenario} | {row.client} | error: {row.error} | | | | | | | |")
            continue
        throughput = row.median_throughput(scenario.items_per_call)
        reference = memlease_rows.get(row.scenario)
        errors = f"**{row.errors():,}**" if row.errors() else "0"
        spread = "—" if math.isnan(row.spread()) else f"{row.spread():.0%}"
        cpu = row.median_cpu_per_100k(scenario.items_per_call)
        lines.append(
            f"| {row.scenario} | {row.client} | {throughput:,.0f} {scenario.unit} "
            f"| {row.median_p50_us():.1f} | {row.median_p99_us():.1f} "
            f"| {row.median_max_us():,.0f} | {errors} | {'—' if math.isnan(cpu) else f'{cpu:.2f}'} "
            f"| {memlease_ratio(reference, throughput, scenario)} | {spread} |"
        )
    return "\n".join(lines)


def memlease_ratio(
    memlease_row: Row | None, throughput: float, scenario: Scenario | AsyncScenario
) -> str:
    if memlease_row is None or memlease_row.error is not None or not memlease_row.rounds:
        return "—"
    if throughput == 0:
        return "∞"
    return f"{memlease_row.median_throughput(scenario.items_per_call) / throughput:.2f}"
