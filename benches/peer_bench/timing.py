"""The timed loops: one round of calls from one thread, from threads, or from coroutines."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from .results import Round, error_kind

Op = Callable[[int], object]
AsyncOp = Callable[[int], Awaitable[object]]  # an Op whose call is awaited on an event loop

HUNG_AFTER_S = 5.0  # an async call still pending this long after its round is cancelled

# This process's user + system CPU time, every thread included (the Python threads, an async
# client's loop thread, memlease's runtime workers), in ns. memcached's is not: it is another
# process.
cpu_clock = time.process_time_ns


def run_for(op: Op, seconds: float) -> Round:
    """Call op back to back for `seconds`, timing every call."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    record = latencies.append
    calls = 0
    # One clock read per call: the end of a call is the start of the next, so the loop's own
    # overhead is counted in the latency, equally for every client.
    cpu_start = cpu_clock()
    start = now = clock()
    deadline = start + int(seconds * 1e9)
    while True:  # at least one call, so that a round always has a rate and percentiles
        op(calls)
        end = clock()
        record(end - now)
        now = end
        calls += 1
        if now >= deadline:
            break
    cpu_ns = cpu_clock() - cpu_start
    latencies.sort()
    return Round(
        calls_per_s=calls / ((now - start) / 1e9),
        p50_us=percentile(latencies, 0.50) / 1000,
        p99_us=percentile(latencies, 0.99) / 1000,
        max_us=latencies[-1] / 1000,
        calls=calls,
        cpu_s=cpu_ns / 1e9,
        cpu_calls=calls,
    )


def run_threads(ops: Sequence[Op], seconds: float) -> Round:
    """Call each op back to back on a thread of its own, all in the same window of `seconds`.

    The threads wait at a barrier; the last to arrive opens the window, and a call counts only
    if it ends inside it, so that every thread is measured over the same span of time.
    The CPU time runs from the window's opening until the last thread is done, and covers the
    counted calls and each thread's last one, which ended after the window closed.
    """
    clock = time.perf_counter_ns
    window: list[int] = []  # [start, deadline] in perf_counter_ns
    cpu_start: list[int] = []

    def open_window() -> None:
        cpu_start.append(cpu_clock())
        start = clock()
        window[:] = [start, start + int(seconds * 1e9)]

    barrier = threading.Barrier(len(ops), action=open_window)
    latencies: list[list[int]] = [[] for _ in ops]
    errors: list[BaseException] = []

    def work(op: Op, record: Callable[[int], None]) -> None:
        try:
            barrier.wait()
            now, deadline = window
            calls = 0
            while True:
                op(calls)
                end = clock()
                if end > deadline:  # ended after the window closed: not counted
                    break
                record(end - now)
                now = end
                calls += 1
        except BaseException as error:  # re-raised on the main thread below
            errors.append(error)
            barrier.abort()  # let the others through rather than stuck at the barrier

    threads = [
        threading.Thread(target=work, args=(op, found.append), name=f"bench-{n}", daemon=True)
        for n, (op, found) in enumerate(zip(ops, latencies, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_ns = cpu_clock() - cpu_start[0] if cpu_start else 0
    if errors:
        raise errors[0]
    merged = sorted(latency for found in latencies for latency in found)
    if not merged:
        raise RuntimeError(f"no call ended within {seconds:g} s")
    return Round(
        calls_per_s=len(merged) / seconds,
        p50_us=percentile(merged, 0.50) / 1000,
        p99_us=percentile(merged, 0.99) / 1000,
        max_us=merged[-1] / 1000,
        calls=len(merged),
        cpu_s=cpu_ns / 1e9,
        cpu_calls=len(merged) + len(ops),  # each thread's uncounted last call, too
    )


async def run_coroutines(op: AsyncOp, coroutines: int, seconds: float) -> Round:
    """Await op back to back in each of `coroutines` coroutines on the running loop.

    All of them share one window of `seconds`. Throughput counts the successful calls that end
    inside it, as in run_threads; the latencies and the errors are those of every call that
    starts inside it, waited for to its end: a client that leaves some coroutines waiting while
    it serves others cannot hide them past the end of the window. A call that raises is an
    error, not the end of the round: its coroutine goes on with the next call. A call still
    pending HUNG_AFTER_S after the window closed is cancelled and counted as an error too.
    The CPU time runs from the window's opening until every call started in it has ended, and
    is divided among those calls (the latencies), failed ones included.
    """
    clock = time.perf_counter_ns
    latencies: list[int] = []  # one loop, one thread: every coroutine appends to the same list
    record = latencies.append
    errors: Counter[str] = Counter()
    succeeded = [0] * coroutines  # successful calls that ended inside the window, by coroutine
    cpu_start = cpu_clock()
    start = clock()
    deadline = start + int(seconds * 1e9)

    async def work(n: int) -> None:
        index = n  # coroutine n makes calls n, n + coroutines, ...: all keys, spread out
        now = clock()
        while now <= deadline:
            failure = None
            try:
                await op(index)
            except Exception as error:
                failure = error
            except asyncio.CancelledError:  # hung: the latency so far, then give up
                record(clock() - now)
                raise
            end = clock()
            record(end - now)
            if failure is not None:
                errors[error_kind(failure)] += 1
            elif end <= deadline:
                succeeded[n] += 1
            now = end
            index += coroutines

    tasks = [asyncio.ensure_future(work(n)) for n in range(coroutines)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + HUNG_AFTER_S)
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=HUNG_AFTER_S)
        errors[f"hung: no reply {HUNG_AFTER_S:g} s after the round, cancelled"] += len(pending)
    cpu_ns = cpu_clock() - cpu_start
    for task in tasks:  # work() lets only BaseExceptions through: they stop the bench
        failure = task.exception() if task.done() and not task.cancelled() else None
        if failure is not None:
            raise failure
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"no call ended within {seconds:g} s ({dict(errors)})")
    calls = sum(succeeded)
    return Round(
        calls_per_s=calls / seconds,
        p50_us=percentile(latencies, 0.50) / 1000,
        p99_us=percentile(latencies, 0.99) / 1000,
        max_us=latencies[-1] / 1000,
        calls=calls,
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        starved=succeeded.count(0),
        cpu_s=cpu_ns / 1e9,
        cpu_calls=len(latencies),
    )


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return float(sorted_values[index])
