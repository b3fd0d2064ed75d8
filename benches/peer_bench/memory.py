"""The memory check (memory_mixed_1M): one long run per memlease client, not A/B rounds."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import memlease
from memlease.testing import MemcachedServer

from .dataset import MEMCACHED_THREADS
from .progress import log
from .results import error_kind
from .scenarios import ASYNC_COROUTINES, MEMORY_SCENARIO

MEMORY_KEYS = [f"bench:mem:{i}" for i in range(10_000)]
MEMORY_BATCH = 10  # keys per get_many
MEMORY_SEED = 1127  # the same operations, keys and values in every run
MEMORY_SERVER_MB = 256  # room for every key at the largest value: nothing is evicted
MEMORY_SAMPLES = 10  # RSS read after the warm-up (the first tenth) and after each later tenth


@dataclass
class MemoryRun:
    """One client's memory_mixed_1M run."""

    client: str
    ops: int  # all of them, the warm-up included
    warmup_ops: int
    ops_per_s: float = 0.0  # over the ops after the warm-up
    rss_kib: list[int] = field(default_factory=list)  # after the warm-up, each tenth, the end
    errors: dict[str, int] = field(default_factory=dict)  # failed operations by exception
    error: str | None = None  # what stopped the run, if anything did

    def growth(self) -> float:
        """RSS increase from the end of the warm-up to the end, as a fraction."""
        return (self.rss_kib[-1] - self.rss_kib[0]) / self.rss_kib[0]


class WrongValueError(Exception):
    """A read returned bytes that were never stored: a corrupted or misrouted reply."""


class MixedWorkload:
    """The operations of memory_mixed_1M, drawn from a seeded generator.

    60 % get, 20 % set, 10 % get_many of MEMORY_BATCH keys, 10 % delete, each over a random
    key of MEMORY_KEYS; sets store one of 256 random values of 10 B to 10 KB.
    """

    def __init__(self) -> None:
        self._random = random.Random(MEMORY_SEED)
        self._values = [os.urandom(self._random.randint(10, 10 * 1024)) for _ in range(256)]
        self._stored = frozenset(self._values)
        self.errors: Counter[str] = Counter()

    def initial_data(self) -> list[dict[str, bytes]]:
        """Every key with a value, in set_many batches of 100 keys."""
        return [
            {key: self._random.choice(self._values) for key in MEMORY_KEYS[i : i + 100]}
            for i in range(0, len(MEMORY_KEYS), 100)
        ]

    def next(self) -> tuple[str, Any]:
        """The next operation: ("get", key), ("set", (key, value)), ("get_many", keys) ..."""
        draw = self._random.random()
        if draw < 0.6:
            return "get", self._random.choice(MEMORY_KEYS)
        if draw < 0.8:
            return "set", (self._random.choice(MEMORY_KEYS), self._random.choice(self._values))
        if draw < 0.9:
            return "get_many", self._random.sample(MEMORY_KEYS, MEMORY_BATCH)
        return "delete", self._random.choice(MEMORY_KEYS)

    def check(self, *values: Any) -> None:
        for value in values:
            if value is not None and value not in self._stored:
                raise WrongValueError(f"read {len(value)} bytes that were never stored")

    def failed(self, error: Exception) -> None:
        self.errors[error_kind(error)] += 1


def mixed_sync(client: memlease.Client, workload: MixedWorkload, count: int) -> None:
    for _ in range(count):
        kind, argument = workload.next()
        try:
            if kind == "get":
                workload.check(client.get(argument))
            elif kind == "set":
                client.set(*argument)
            elif kind == "get_many":
                workload.check(*client.get_many(argument).values())
            else:
                client.delete(argument)
        except Exception as error:  # counted, not fatal: the run goes on
            workload.failed(error)


async def mixed_async(
    client: memlease.AsyncClient, workload: MixedWorkload, count: int, coroutines: int
) -> None:
    remaining = count

    async def work() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            kind, argument = workload.next()
            try:
                if kind == "get":
                    workload.check(await client.get(argument))
                elif kind == "set":
                    await client.set(*argument)
                elif kind == "get_many":
                    workload.check(*(await client.get_many(argument)).values())
                else:
                    await client.delete(argument)
            except Exception as error:  # counted, not fatal: the run goes on
                workload.failed(error)

    await asyncio.gather(*(work() for _ in range(coroutines)))


def rss_kib() -> int:
    """This process's resident set size (VmRSS), in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_memory(run: MemoryRun, workload: MixedWorkload, do_ops: Callable[[int], None]) -> None:
    """do_ops(n) runs the workload's next n operations; fill `run` with RSS, ops/s, errors."""
    do_ops(run.warmup_ops)
    gc.collect()
    run.rss_kib.append(rss_kib())
    run.errors = dict(workload.errors)
    log(f"[{MEMORY_SCENARIO}] {run.client}: {run.warmup_ops:,} ops of warm-up, {rss_line(run)}")
    rest = run.ops - run.warmup_ops
    done = run.warmup_ops
    start = time.perf_counter()
    for tenth in range(1, MEMORY_SAMPLES):
        chunk = rest * tenth // (MEMORY_SAMPLES - 1) - (done - run.warmup_ops)
        do_ops(chunk)
        done += chunk
        if tenth == MEMORY_SAMPLES - 1:
            run.ops_per_s = rest / (time.perf_counter() - start)
            gc.collect()
        run.rss_kib.append(rss_kib())
        run.errors = dict(workload.errors)
        log(f"[{MEMORY_SCENARIO}] {run.client}: {done:,}/{run.ops:,} ops, {rss_line(run)}")


def rss_line(run: MemoryRun) -> str:
    return f"RSS {run.rss_kib[-1] / 1024:.1f} MiB, errors so far {sum(run.errors.values()):,}"


def memory_check(ops: int) -> list[MemoryRun]:
    """memlease's Client, then its AsyncClient, each on a memcached of its own."""
    runs = [
        MemoryRun("memlease Client", ops, ops // MEMORY_SAMPLES),
        MemoryRun(
            f"memlease AsyncClient, {ASYNC_COROUTINES} coroutines", ops, ops // MEMORY_SAMPLES
        ),
    ]
    for run, measure_one in zip(runs, (memory_sync, memory_async), strict=True):
        with MemcachedServer(threads=MEMCACHED_THREADS, memory_mb=MEMORY_SERVER_MB) as server:
            try:
                measure_one(run, server.address)
            except Exception as error:
                run.error = f"{type(error).__name__}: {error}"
                log(f"[{MEMORY_SCENARIO}] {run.client}: failed: {run.error}")
    return runs


def memory_sync(run: MemoryRun, address: str) -> None:
    workload = MixedWorkload()
    client = memlease.Client(address, serde="raw", compress_threshold=None)
    try:
        for batch in workload.initial_data():
            client.set_many(batch)
        measure_memory(run, workload, lambda count: mixed_sync(client, workload, count))
    finally:
        client.close()


def memory_async(run: MemoryRun, address: str) -> None:
    workload = MixedWorkload()
    loop = asyncio.new_event_loop()
    try:

        async def connect() -> memlease.AsyncClient:
            client = memlease.AsyncClient(address, serde="raw", compress_threshold=None)
            for batch in workload.initial_data():
                await client.set_many(batch)
            return client

        async def close() -> None:  # close() too wants a running loop
            await client.close()

        client = loop.run_until_complete(connect())
        try:
            measure_memory(
                run,
                workload,
                lambda count: loop.run_until_complete(
                    mixed_async(client, workload, count, ASYNC_COROUTINES)
                ),
            )
        finally:
            loop.run_until_complete(close())
    finally:
        loop.close()
