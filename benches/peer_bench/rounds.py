"""A scenario's rounds: check and warm every client up, then time them in turns."""

from __future__ import annotations

import argparse
import gc
from collections import Counter
from collections.abc import Callable

from .client_api import AnyClient, AsyncBenchClient, BenchClient
from .progress import log
from .results import Round, Row, format_kinds
from .scenario_types import AsyncScenario, Scenario
from .timing import run_coroutines, run_for, run_threads

Runner = Callable[[float], Round]  # runner(seconds) measures one round of a scenario


def measure(run: Runner, seconds: float) -> Round:
    # Collect the previous client's garbage now, not in the middle of this client's round.
    gc.collect()
    return run(seconds)


def make_runner(scenario: Scenario | AsyncScenario, client: AnyClient) -> Runner:
    """Check that the client sees the data, then return what times one round of it."""
    if isinstance(scenario, AsyncScenario):
        if not isinstance(client, AsyncBenchClient):
            raise TypeError(f"{client.name} is not an async client")
        async_client = client  # bound for the lambda below, with its narrowed type
        async_client.run(scenario.verify(async_client))
        async_op = scenario.make_op(async_client)
        coroutines = scenario.coroutines
        return lambda seconds: async_client.run(run_coroutines(async_op, coroutines, seconds))
    if not isinstance(client, BenchClient):
        raise TypeError(f"{client.name} is an async client")
    if not scenario.threads:
        scenario.verify(client)
        op = scenario.make_op(client)
        return lambda seconds: run_for(op, seconds)
    per_thread = client.thread_clients(scenario.threads)
    for each in dict.fromkeys(per_thread):  # every distinct client, once
        scenario.verify(each)
    ops = [scenario.make_op(each) for each in per_thread]
    return lambda seconds: run_threads(ops, seconds)


def run_scenario(
    scenario: Scenario | AsyncScenario, clients: list[AnyClient], args: argparse.Namespace
) -> list[Row]:
    rows = {client.name: Row(scenario.name, client.name) for client in clients}
    runners: dict[str, Runner] = {}
    for client in clients:
        try:
            runners[client.name] = make_runner(scenario, client)
            if args.warmup > 0:
                warmup = runners[client.name](args.warmup)
                if warmup.errors:
                    log(
                        f"[{scenario.name}] {client.name}: {warmup.errors:,} failed calls in "
                        f"the warm-up: {format_kinds(Counter(warmup.error_kinds))}"
                    )
        except Exception as error:  # a broken client must not end the run for the others
            fail(rows[client.name], error, "check or warm-up")
    for round_number in range(1, args.rounds + 1):
        for client in clients:
            row = rows[client.name]
            if row.error is not None:
                continue
            try:
                row.rounds.append(measure(runners[client.name], args.seconds))
            except Exception as error:
                fail(row, error, f"round {round_number}")
                continue
            log_round(scenario, row, round_number, args.rounds)
    return list(rows.values())


def fail(row: Row, error: Exception, stage: str) -> None:
    row.error = f"{type(error).__name__}: {error}"
    log(f"[{row.scenario}] {row.client}: {stage} failed: {row.error}")


def log_round(scenario: Scenario | AsyncScenario, row: Row, round_number: int, rounds: int) -> None:
    last = row.rounds[-1]
    notes = ""
    if last.errors:
        notes += f"  errors {last.errors:,}: {format_kinds(Counter(last.error_kinds))}"
    if last.starved:
        notes += f"  {last.starved} coroutines completed no call"
    log(
        f"[{scenario.name}] round {round_number}/{rounds} {row.client:<17} "
        f"{last.calls_per_s * scenario.items_per_call:>12,.0f} {scenario.unit}  "
        f"p50 {last.p50_us:8.1f} µs  p99 {last.p99_us:8.1f} µs  max {last.max_us:9,.0f} µs{notes}"
    )
