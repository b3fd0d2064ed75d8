"""``memlease bench``: a quick load test of the fleet through memlease itself.

Threads share one ``Client`` (as a threaded app does); ``--mode asyncio`` runs tasks on one
``AsyncClient``. It reports what the caller sees: ops/s, latency percentiles, errors.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from memlease import AsyncClient, Client
from memlease._errors import MemcacheError
from memlease.cli.connect import Fleet
from memlease.cli.output import emit_json, err, json_option, out

KEY_PREFIX = "memlease-bench:"
_WORKER_NAMES = {"threads": "threads", "asyncio": "asyncio tasks"}


@dataclass(frozen=True)
class Workload:
    ops: int
    value_size: int
    get_ratio: float
    keyspace: int
    ttl: int

    def keys(self) -> list[str]:
        return [f"{KEY_PREFIX}{i}" for i in range(self.keyspace)]

    def share(self, workers: int, index: int) -> int:
        """Operations of worker `index` (the remainder goes to the first ones)."""
        return self.ops // workers + (1 if index < self.ops % workers else 0)


@dataclass
class Tally:
    """One worker's results; merged at the end, read (not locked) by the progress bar."""

    done: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    hits: int = 0
    misses: int = 0

    @contextmanager
    def timing(self, is_get: bool) -> Iterator[Operation]:
        """Time the operation run in the block and count its outcome; a memlease error is
        counted, not raised (the run goes on, as an application's would)."""
        operation = Operation()
        started = time.perf_counter()
        try:
            yield operation
        except MemcacheError as error:
            self.errors[type(error).__name__] += 1
        else:
            self.latencies.append(time.perf_counter() - started)
            if is_get and operation.outcome is None:
                self.misses += 1
            elif is_get:
                self.hits += 1
        self.done += 1


@dataclass
class Operation:
    outcome: Any = None


def _operations(workload: Workload, workers: int, index: int) -> Iterator[tuple[str, bool]]:
    """Worker `index`'s (key, is it a get) pairs, from a generator seeded with its index."""
    rng, keys = random.Random(index), workload.keys()
    for _ in range(workload.share(workers, index)):
        yield rng.choice(keys), rng.random() < workload.get_ratio


def _run_threads(client: Client, workload: Workload, tallies: list[Tally]) -> None:
    value = bytes(workload.value_size)

    def worker(index: int) -> None:
        for key, is_get in _operations(workload, len(tallies), index):
            with tallies[index].timing(is_get) as op:
                op.outcome = client.get(key) if is_get else client.set(key, value, workload.ttl)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(tallies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def _run_tasks(client: AsyncClient, workload: Workload, tallies: list[Tally]) -> None:
    value = bytes(workload.value_size)

    async def worker(index: int) -> None:
        for key, is_get in _operations(workload, len(tallies), index):
            with tallies[index].timing(is_get) as op:
                call = client.get(key) if is_get else client.set(key, value, workload.ttl)
                op.outcome = await call

    await asyncio.gather(*(worker(i) for i in range(len(tallies))))


def _with_progress(run: Callable[[], None], tallies: list[Tally], total: int, show: bool) -> None:
    """Run `run` on a thread while the main thread draws the progress bar (on stderr, so
    stdout keeps only the summary)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as error:
            failure.append(error)

    runner = threading.Thread(target=target, name="memlease-bench", daemon=True)
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err(), disable=not show, transient=False) as progress:
        task = progress.add_task("bench", total=total)
        runner.start()
        while runner.is_alive():
            runner.join(0.1)
            progress.update(task, completed=sum(t.done for t in tallies))
        progress.update(task, completed=sum(t.done for t in tallies))
    if failure:
        raise failure[0]


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    tallies: list[Tally], seconds: float, mode: str, workload: Workload
) -> dict[str, Any]:
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors = sum((t.errors for t in tallies), Counter[str]())
    done = sum(t.done for t in tallies)

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    return {
        "mode": mode,
        "workers": len(tallies),
        "ops": done,
        "seconds": seconds,
        "ops_per_second": done / seconds if seconds > 0 else None,
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(latencies[-1] if latencies else None),
        "errors": sum(errors.values()),
        "errors_by_type": dict(errors),
        "get_hits": sum(t.hits for t in tallies),
        "get_misses": sum(t.misses for t in tallies),
        "value_size": workload.value_size,
        "get_ratio": workload.get_ratio,
    }


def _summary_table(summary: dict[str, Any]) -> Table:
    workers = f"{summary['workers']} {_WORKER_NAMES[summary['mode']]}"
    table = Table(title=f"bench: {summary['ops']:,} ops, {workers}")
    table.add_column("measure")
    table.add_column("value", justify="right")

    def number(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:,.2f}{unit}"

    table.add_row("ops/s", number(summary["ops_per_second"]))
    table.add_row("p50", number(summary["p50_ms"], " ms"))
    table.add_row("p99", number(summary["p99_ms"], " ms"))
    table.add_row("max", number(summary["max_ms"], " ms"))
    table.add_row("get hits / misses", f"{summary['get_hits']:,} / {summary['get_misses']:,}")
    errors = ", ".join(f"{name} {n}" for name, n in summary["errors_by_type"].items())
    table.add_row("errors", f"{summary['errors']:,}" + (f" ({errors})" if errors else ""))
    return table


@click.command()
@click.option("--ops", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option(
    "--value-size", type=click.IntRange(min=0), default=100, show_default=True, help="Bytes."
)
@click.option(
    "--get-ratio",
    type=click.FloatRange(0.0, 1.0),
    default=0.9,
    show_default=True,
    help="Fraction of operations that are gets (the rest are sets).",
)
@click.option(
    "--keys",
    "keyspace",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help=f"Distinct keys ({KEY_PREFIX}N), written first so gets can hit.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Threads, or asyncio tasks.",
)
@click.option(
    "--mode", type=click.Choice(["threads", "asyncio"]), default="threads", show_default=True
)
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="TTL of the keys written, so they leave by themselves.",
)
@json_option
@click.pass_obj
def bench(
    fleet: Fleet,
    ops: int,
    value_size: int,
    get_ratio: float,
    keyspace: int,
    concurrency: int,
    mode: str,
    ttl: int,
    as_json: bool,
) -> None:
    """A quick load test: gets and sets of random keys, with a progress bar and a summary."""
    as_json = as_json or fleet.as_json
    workload = Workload(ops, value_size, get_ratio, keyspace, ttl)
    tallies = [Tally() for _ in range(concurrency)]
    with fleet.client() as client:
        value = bytes(value_size)
        client.set_many(dict.fromkeys(workload.keys(), value), ttl)  # fails fast if unreachable
        if mode == "threads":
            run: Callable[[], None] = lambda: _run_threads(client, workload, tallies)  # noqa: E731
        else:
            run = lambda: asyncio.run(_run_async(fleet, workload, tallies))  # noqa: E731
        started = time.perf_counter()
        _with_progress(run, tallies, ops, show=not as_json)
        seconds = time.perf_counter() - started
    summary = summarize(tallies, seconds, mode, workload)
    if as_json:
        emit_json(summary)
    else:
        out().print(_summary_table(summary))


async def _run_async(fleet: Fleet, workload: Workload, tallies: list[Tally]) -> None:
    async with fleet.async_client() as client:
        await _run_tasks(client, workload, tallies)
