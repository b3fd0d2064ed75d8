"""The report: the markdown tables and notes (stdout and the results file), and --json."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict
from typing import Any

from .dataset import MEMCACHED_THREADS
from .memory import MEMORY_SERVER_MB, MemoryRun
from .ratios import CPU_BUDGET, NOT_A_WIN, peer_ratios, ratio_table
from .results import CPU_PER_ITEMS, Row, format_kinds
from .scenario_types import AsyncScenario
from .scenarios import CONCURRENCY_BASELINE, LAYER_BASELINE, MEMORY_SCENARIO, SCENARIOS
from .table import markdown_table

CPU_NOTE = (
    f"CPU s / {CPU_PER_ITEMS // 1000}k ops: this process's user + system CPU time (every thread: "
    "the callers, an async client's event loop, memlease's runtime workers) over each round, "
    f"divided by the calls it paid for, per {CPU_PER_ITEMS:,} operations (keys, for get_many, "
    "set_many and the fleet); median over the rounds. memcached's own CPU is not counted: it "
    "runs in another process."
)


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
    lines = []
    for (concurrent, single), ratios in baseline_ratios(rows, CONCURRENCY_BASELINE):
        memlease_ratio = ratios.pop("memlease", None)
        shown = "—" if memlease_ratio is None else f"{memlease_ratio:.2f}x"
        many, one = SCENARIOS[concurrent].callers, SCENARIOS[single].callers
        line = f"memlease {many} / {one}: {shown} ({concurrent} ÷ {single}"
        if ratios:
            line += "; " + ", ".join(f"{client} {ratio:.2f}x" for client, ratio in ratios.items())
        lines.append(line + ")")
    return lines


def layer_costs(rows: list[Row]) -> list[str]:
    """memlease's layered reads against its plain read, both from this run."""
    lines = []
    for (layered, plain), ratios in baseline_ratios(rows, LAYER_BASELINE):
        if "memlease" in ratios:
            lines.append(f"memlease {layered} ÷ {plain}: {ratios['memlease']:.2f}x")
    return lines


def baseline_ratios(
    rows: list[Row], pairs: dict[str, str]
) -> list[tuple[tuple[str, str], dict[str, float]]]:
    """For each (scenario, baseline) pair that both ran: each client's throughput ratio."""
    measured = {(r.scenario, r.client): r for r in rows if r.error is None and r.rounds}
    ran = {scenario for scenario, _ in measured}
    found = []
    for scenario, baseline_name in pairs.items():
        if scenario not in ran or baseline_name not in ran:
            continue
        ratios = {}
        for (name, client), row in measured.items():
            baseline = measured.get((baseline_name, client))
            if name == scenario and baseline is not None and baseline.rounds:
                rate = baseline.median_throughput(1)
                if rate > 0:
                    ratios[client] = row.median_throughput(1) / rate
        found.append(((scenario, baseline_name), ratios))
    return found


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


def render_report(
    rows: list[Row],
    memory: list[MemoryRun],
    env: dict[str, Any],
    args: argparse.Namespace,
    named_lines: list[str] | None = None,
) -> str:
    setup = [
        f"memcached {env['memcached']} ({MEMCACHED_THREADS} threads, loopback)",
        env["python"],
        f"{env['cpus']} CPUs ({env['cpu_model']})",
        f"commit {env['commit']}",
    ]
    if rows:
        setup.append(
            f"{args.rounds} rounds x {args.seconds:g} s per client after {args.warmup:g} s warm-up"
        )
        if any(isinstance(SCENARIOS[row.scenario], AsyncScenario) for row in rows):
            setup.append(f"asyncio {env['event_loop']}")
        setup.append("medians over rounds")
    parts = [" · ".join(setup)]
    if rows:
        parts += [CPU_NOTE, markdown_table(rows)]
    for lines in (
        error_lines(rows),
        concurrency_scaling(rows),
        layer_costs(rows),
        named_lines or [],
    ):
        if lines:
            parts.append("\n".join(lines))
    ratios = peer_ratios(rows)
    if ratios:
        parts.append(
            "memlease ÷ each peer, per scenario. A row where memlease is faster but spends more "
            f'than {CPU_BUDGET:g}x the peer\'s CPU per operation is marked "{NOT_A_WIN}". '
            "Compare a ratio with the rows' spread above: a smaller difference is noise."
        )
        parts.append(ratio_table(ratios))
    if memory:
        parts.append(
            f"{MEMORY_SCENARIO}: memlease with serde='raw', compress_threshold=None and default "
            f"timeouts, each run on a memcached of its own ({MEMORY_SERVER_MB} MB); RSS of this "
            f"process, warm-up: the first {memory[0].warmup_ops:,} ops"
        )
        parts += [memory_table(memory), "\n".join(memory_notes(memory))]
    if env["clients"]:
        described = (f"- {name}: {text}" for name, text in env["clients"].items())
        parts.append("Clients:\n" + "\n".join(described))
    return "\n\n".join(parts)


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
