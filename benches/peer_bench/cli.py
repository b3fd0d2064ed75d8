#!/usr/bin/env python3
"""The command line: arguments, then the run (``--help`` prints guide.py's text)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memlease.testing import MemcachedServer

from .client_registry import CLIENT_NAMES, open_clients
from .dataset import MEMCACHED_THREADS, store_data_set
from .environment import environment
from .fleet import run_fleet
from .guide import GUIDE
from .memory import MEMORY_SAMPLES, MemoryRun, memory_check
from .named_tags import invalidate_tags_check
from .progress import log
from .ratios import best_peer_ratios
from .report import render_report, write_json
from .results import Row
from .results_file import default_results_path, write_results
from .rounds import run_scenario
from .scenario_types import Scenario
from .scenarios import MEMORY_SCENARIO, NAMED_TAGS_SCENARIO, SCENARIOS, is_fleet, supports


def comma_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(choices)}"
            )
        return names

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=GUIDE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per client (5)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a round (2.0)")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed warm-up (0.5 s)")
    scenarios = [*SCENARIOS, MEMORY_SCENARIO, NAMED_TAGS_SCENARIO]
    parser.add_argument(
        "--scenarios",
        type=comma_list(scenarios),
        default=scenarios,
        help="comma-separated subset of: " + ", ".join(scenarios),
    )
    parser.add_argument(
        "--clients",
        type=comma_list(CLIENT_NAMES),
        default=CLIENT_NAMES,
        help="comma-separated subset of: " + ", ".join(CLIENT_NAMES),
    )
    parser.add_argument(
        "--memory-ops",
        type=int,
        default=1_000_000,
        help=f"operations per client in {MEMORY_SCENARIO} (1000000)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write every round's figures here")
    parser.add_argument(
        "--results",
        metavar="PATH",
        type=Path,
        help="write the report here (default: benches/results/<date>.md, a new name if taken)",
    )
    parser.add_argument(
        "--no-results", action="store_true", help="write no results file (nor a chart by default)"
    )
    parser.add_argument(
        "--chart",
        metavar="PATH",
        type=Path,
        help="write the ratio chart here, .svg or .png (default: the results file's, as .svg)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be >= 1, --seconds > 0 and --warmup >= 0")
    if args.memory_ops < 10 * MEMORY_SAMPLES:
        parser.error(f"--memory-ops must be >= {10 * MEMORY_SAMPLES}")
    if args.no_results and args.results:
        parser.error("--results and --no-results exclude each other")
    if not args.no_results and args.results is None:
        args.results = default_results_path()
    if args.chart is None and args.results is not None:
        args.chart = args.results.with_suffix(".svg")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[Row] = []
    # The fleet scenarios bring servers and clients of their own (fleet.py).
    single_server = [name for name in args.scenarios if name in SCENARIOS and not is_fleet(name)]
    with MemcachedServer(threads=MEMCACHED_THREADS) as server:
        store_data_set(server.address)
        clients = open_clients(args.clients, server.address, single_server)
        try:
            env = environment(server.address, clients)
            for name in args.scenarios:
                scenario = SCENARIOS.get(name)
                if isinstance(scenario, Scenario) and is_fleet(name):
                    rows += run_fleet(scenario, args.clients, args, env)
                elif scenario is not None:
                    runnable = [client for client in clients if supports(client, name)]
                    rows += run_scenario(scenario, runnable, args)
        finally:
            for client in clients:
                client.close()
    memory: list[MemoryRun] = []
    if MEMORY_SCENARIO in args.scenarios:
        if "memlease" in args.clients:
            memory = memory_check(args.memory_ops)
        else:
            log(f"skipping {MEMORY_SCENARIO}: it runs memlease only")
    named_lines: list[str] = []
    if NAMED_TAGS_SCENARIO in args.scenarios and "memlease" in args.clients:
        named_lines = invalidate_tags_check()
    report = render_report(rows, memory, env, args, named_lines)
    print("\n" + report)
    write_outputs(report, rows, env, args)
    if args.json:
        write_json(args.json, rows, memory, env, args)
    failed = any(row.error for row in rows) or any(run.error for run in memory)
    return 1 if failed else 0


def write_outputs(
    report: str, rows: list[Row], env: dict[str, Any], args: argparse.Namespace
) -> None:
    """The chart first (the results file links to it if it was written), then the results."""
    chart: Path | None = args.chart
    if chart is not None:
        try:
            from .chart import write_chart

            write_chart(chart, best_peer_ratios(rows), f"{env['commit']} · {env['python']}")
            log(f"chart: {chart}")
        except (ImportError, ValueError) as error:
            log(f"no chart: {error} (matplotlib: pip install -r benches/requirements.txt)")
            chart = None
    if args.results is not None:
        write_results(args.results, report, env, chart)
        log(f"results: {args.results}")
