"""The report: the markdown tables and notes on stdout, and the --json document."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
from collections import Counter
from dataclasses import asdict
from typing import Any

import memlease

from .client_api import AnyClient, AsyncBenchClient
from .dataset import MEMCACHED_THREADS
from .memory import MEMORY_SERVER_MB, MemoryRun
from .results import Row, format_kinds
from .scenarios import CONCURRENCY_BASELINE, MEMORY_SCENARIO, SCENARIOS, AsyncScenario, Scenario

TABLE_HEADER = (
    "| scenario | client | throughput (median) | p50 µs | p99 µs | max µs | errors "
    "| memlease ÷ client | spread |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def markdown_table(rows: list[Row]) -> str:
    lines = [TABLE_HEADER]
    memlease_rows = {row.scenario: row for row in rows if row.client == "memlease"}
    for row in rows:
        scenario = SCENARIOS[row.scenario]
        if row.error is not None or not row.rounds:
            lines.append(f"| {row.scenario} | {row.client} | error: {row.error} | | | | | | |")
            continue
        throughput = row.median_throughput(scenario.items_per_call)
        reference = memlease_rows.get(row.scenario)
        errors = f"**{row.errors():,}**" if row.errors() else "0"
        spread = "—" if math.isnan(row.spread()) else f"{row.spread():.0%}"
        lines.append(
            f"| {row.scenario} | {row.client} | {throughput:,.0f} {scenario.unit} "
            f"| {row.median_p50_us():.1f} | {row.median_p99_us():.1f} "
            f"| {row.median_max_us():,.0f} | {errors} "
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


def error_lines(rows: list[Row]) -> list[str]:
    """Rows with failed calls (how many of each kind, over the timed rounds), and async rows
    where some coroutines completed no call at all inside a round."""
    lines = []
    for row in rows:
        if row.errors():
            lines.append(
                f"{row.scenario} {row.client}: {row.errors():,} failed calls in "
                f"{len(row.rounds)} rounds: {format_kinds(row.error_kinds())}"
            )
        starved = [r.starved for r in row.rounds]
        if any(starved):
            coroutines = SCENARIOS[row.scenario]
            total = coroutines.coroutines if isinstance(coroutines, AsyncScenario) else "?"
            lines.append(
                f"{row.scenario} {row.client}: coroutines (of {total}) that completed no call "
                f"inside a round, by round: {', '.join(map(str, starved))}"
            )
    return lines


def concurrency_scaling(rows: list[Row]) -> list[str]:
    """One line per concurrent scenario: each client's N-caller / 1-caller throughput.

    memlease first and on its own, the peers in brackets; both rows come from this run.
    """
    measured = {(r.scenario, r.client): r for r in rows if r.error is None and r.rounds}
    lines = []
    for concurrent, single in CONCURRENCY_BASELINE.items():
        ratios = {}
        for (scenario, client), row in measured.items():
            baseline = measured.get((single, client))
            if scenario == concurrent and baseline is not None and baseline.rounds:
                single_rate = baseline.median_throughput(1)
                if single_rate > 0:
                    ratios[client] = row.median_throughput(1) / single_rate
        ran = {scenario for scenario, _ in measured}
        if concurrent not in ran or single not in ran:
            continue
        memlease_ratio = ratios.pop("memlease", None)
        shown = "—" if memlease_ratio is None else f"{memlease_ratio:.2f}x"
        many, one = SCENARIOS[concurrent].callers, SCENARIOS[single].callers
        line = f"memlease {many} / {one}: {shown} ({concurrent} ÷ {single}"
        if ratios:
            line += "; " + ", ".join(f"{client} {ratio:.2f}x" for client, ratio in ratios.items())
        lines.append(line + ")")
    return lines


def memory_table(runs: list[MemoryRun]) -> str:
    lines = [
        "| run | ops | ops/s after warm-up | errors | RSS after warm-up | RSS at end | growth |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.error is not None or len(run.rss_kib) < 2:
            lines.append(f"| {run.client} | {run.ops:,} | error: {run.error} | | | | |")
            continue
        errors = sum(run.errors.values())
        shown = f"**{errors:,}**" if errors else "0"
        lines.append(
            f"| {run.client} | {run.ops:,} | {run.ops_per_s:,.0f} | {shown} "
            f"| {run.rss_kib[0] / 1024:.1f} MiB | {run.rss_kib[-1] / 1024:.1f} MiB "
            f"| {run.growth():+.1%} |"
        )
    return "\n".join(lines)


def memory_notes(runs: list[MemoryRun]) -> list[str]:
    """RSS after the warm-up and after each later tenth, and the kinds of failed operations."""
    lines = []
    for run in runs:
        if len(run.rss_kib) > 1:
            trend = " ".join(f"{kib / 1024:.1f}" for kib in run.rss_kib)
            lines.append(f"{run.client}: RSS MiB after warm-up, then each tenth: {trend}")
        if run.errors:
            lines.append(f"{run.client}: failed: {format_kinds(Counter(run.errors))}")
    return lines


def environment(address: str, clients: list[AnyClient]) -> dict[str, Any]:
    probe = memlease.Client(address)
    try:
        memcached_version = next(iter(probe.version().values()))
    finally:
        probe.close()
    loop = asyncio.new_event_loop()
    loop_class = type(loop).__name__
    loop.close()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memcached": memcached_version,
        "event_loop": loop_class,
        "clients": {client_label(client): client.describe() for client in clients},
    }


def client_label(client: AnyClient) -> str:
    return f"{client.name} (async)" if isinstance(client, AsyncBenchClient) else client.name


def print_report(
    rows: list[Row], memory: list[MemoryRun], env: dict[str, Any], args: argparse.Namespace
) -> None:
    setup = [
        f"memcached {env['memcached']} ({MEMCACHED_THREADS} threads, loopback)",
        env["python"],
        f"{env['cpus']} CPUs",
    ]
    if rows:
        setup.append(
            f"{args.rounds} rounds x {args.seconds:g} s per client after {args.warmup:g} s warm-up"
        )
        if any(isinstance(SCENARIOS[row.scenario], AsyncScenario) for row in rows):
            setup.append(f"asyncio {env['event_loop']}")
        setup.append("medians over rounds")
    print("\n" + " · ".join(setup))
    if rows:
        print("\n" + markdown_table(rows))
    for lines in (error_lines(rows), concurrency_scaling(rows)):
        if lines:
            print("\n" + "\n".join(lines))
    if memory:
        print(
            f"\n{MEMORY_SCENARIO}: memlease with serde='raw', compress_threshold=None and default "
            f"timeouts, each run on a memcached of its own ({MEMORY_SERVER_MB} MB); RSS of this "
            f"process, warm-up: the first {memory[0].warmup_ops:,} ops\n"
        )
        print(memory_table(memory))
        print("\n" + "\n".join(memory_notes(memory)))
    if env["clients"]:
        print("\nClients:")
        for name, description in env["clients"].items():
            print(f"- {name}: {description}")


def write_json(
    path: str,
    rows: list[Row],
    memory: list[MemoryRun],
    env: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    document = {
        "settings": {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "memory_ops": args.memory_ops,
            "scenarios": args.scenarios,
            "clients": args.clients,
        },
        "environment": env,
        "results": [asdict(row) for row in rows],
        "memory": [asdict(run) | {"growth": run.growth()} for run in memory if not run.error],
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=1)
