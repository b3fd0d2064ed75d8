#!/usr/bin/env python3
"""Benchmark memlease against other Python memcached clients on a throwaway local memcached.

Running it (``make bench`` builds memlease, installs the peers and runs everything)::

    .venv/bin/pip install -r benches/requirements.txt
    .venv/bin/python benches/bench.py
    .venv/bin/python benches/bench.py --rounds 3 --seconds 1 --scenarios get_100B,get_many_100 \\
        --clients memlease,pylibmc,raw-socket --json /tmp/bench.json
    .venv/bin/python benches/bench.py --scenarios async_get_100B,async_seq_get_100B
    .venv/bin/python benches/bench.py --scenarios memory_mixed_1M --memory-ops 100000

Scenarios (one thread, one connection per client unless named threads* or async*; values are
random bytes stored with flags 0, so no client can win by compressing, and memlease runs with
``serde="raw"`` and compression off):

    get_100B            sequential get hit, 100 B value
    set_100B            sequential acknowledged set, 100 B value (pymemcache with noreply=False)
    get_many_100        get_many of 100 keys with 100 B values; throughput counted in keys/s
    set_many_100        set_many of 100 keys with 100 B values, acknowledged; in keys/s
                        (pylibmc set_multi; not meta-memcache, which has no multi-key set)
    get_100KB           sequential get hit, 100 KB value
    set_100KB           sequential acknowledged set, 100 KB value
    threads4_get_100B   4 threads each doing sequential 100 B get hits; throughput is the total
                        over the threads. memlease and meta-memcache share one client,
                        pymemcache one PooledClient (max_pool_size=4; its plain Client is not
                        thread-safe), pylibmc gives each thread its own clone()
    threads8_get_100B   the same with 8 threads (PooledClient max_pool_size=8)
    lease_get_100B      sequential hit through the lease-aware read (memlease get_or_lease,
                        meta-memcache get_or_lease with its default LeasePolicy): what the
                        thundering-herd protection costs on a hit; only clients with leases
    async_get_100B      256 coroutines on one asyncio event loop (asyncio's default loop, no
                        uvloop), each awaiting sequential 100 B get hits on one shared client;
                        throughput is the total over the coroutines
    async_seq_get_100B  one coroutine awaiting sequential 100 B get hits: one call's latency
                        through the event loop
    memory_mixed_1M     memlease only, a one-shot run rather than rounds: see "Memory check"

Clients: memlease, pymemcache, pylibmc, meta-memcache, and raw-socket: a few lines of Python
that send ``mg <key> v`` and read until the whole reply is in (get_100B only). raw-socket is
what one round trip costs a Python program on this machine, the floor for any client. The
async scenarios have clients of their own: memlease (its AsyncClient, default timeouts and
max_connections), aiomcache (default pool_size=2), emcache with its defaults (1 s timeout,
max_connections=2), and emcache-notimeout: emcache with timeout=None, without which its calls
time out at 256 coroutines. Each async client has an event loop of its own, running all along
on a thread of its own, in which it is opened, measured and closed.

How it measures: the bench starts its own memcached (2 threads) and stores the data. For each
scenario every client first gets an untimed warm-up, then the clients take turns, one timed
round each (memlease, peer, peer, ..., memlease, peer, ...), --rounds times, so that the
machine's slow drifts hit every client alike. A round calls the operation back to back for
--seconds and timestamps every call with ``time.perf_counter_ns``. In threads*_get_100B the
threads wait at a barrier, the window of --seconds opens when the last one arrives and is the
same for all of them; only calls that end inside it count. An async round opens one window for
all its coroutines the same way, and its throughput counts the successful calls that end inside
it; but its latencies (and errors) are those of every call that starts inside the window,
waited for to its end, so that a coroutine the client keeps waiting is not left out. A call
that raises in an async round does not end the round: it is counted as an error and its
coroutine goes on; its time is among the latencies (the caller waited for it). A call still
pending 5 s after the window closed is cancelled and counted as an error ("hung").

Reading the output: progress goes to stderr, then a markdown table goes to stdout, one row per
(scenario, client):

    throughput    median over the rounds of successful calls/s (keys/s for get_many_100)
    p50 / p99     median over the rounds of each round's per-call latency percentile, in µs
                  (one get_many_100 call fetches 100 keys)
    max           median over the rounds of each round's longest call, in µs. Percentiles
                  weigh callers by their calls: a client that serves a few coroutines quickly
                  while the others wait makes few slow calls, which p99 may not show; max
                  does, and so do the lines under the table that count, per round, the
                  coroutines that completed no call inside the window
    errors        failed calls, summed over the timed rounds (async scenarios; elsewhere an
                  exception stops the client's row, shown as "error: ..."); their kinds are
                  listed under the table
    memlease ÷    memlease's median throughput divided by this row's; above 1 means memlease
                  is faster. On the raw-socket row it tells how close memlease comes to a bare
                  round trip written in Python.
    spread        (max - min) / median of the row's per-round throughputs: how noisy it was

Under the table, one line per concurrent scenario divides memlease's throughput in it by its
throughput with a single caller from the same run (threads4_get_100B and threads8_get_100B by
get_100B, async_get_100B by async_seq_get_100B; the peers' ratios follow in brackets): above 1
means concurrent callers sharing one client get more done than one, which a client holding the
GIL while it waits on the network cannot do. With 2 CPUs shared with memcached, expect well
under the number of callers.

Memory check (memory_mixed_1M): memlease's Client, then its AsyncClient with 256 coroutines,
each run --memory-ops (1,000,000) operations against a memcached of their own (256 MB: nothing
is evicted): 60 % get, 20 % set, 10 % get_many of 10 keys, 10 % delete, over 10,000 keys
holding random values of 10 B to 10 KB, drawn from a seeded generator. Every value read back
must be one of those stored. The first tenth of the operations is a warm-up; this process's
VmRSS is read after it and again after the last operation (each time after gc.collect()), and
"growth" is the increase between the two. Its own small table follows the main one, with the
ops/s of the nine measured tenths and the operations that failed.

Read the ratios, not the absolute numbers: on a shared VM, memcached and the client compete for
the same few CPUs and loopback round trips dominate, so absolute figures move by tens of percent
from run to run. A ratio difference smaller than the rows' spread is noise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from memlease.testing import MemcachedServer

from .client_registry import CLIENT_NAMES, open_clients
from .dataset import MEMCACHED_THREADS, store_data_set
from .memory import MEMORY_SAMPLES, MemoryRun, memory_check
from .progress import log
from .report import environment, print_report, write_json
from .results import Row
from .rounds import run_scenario
from .scenarios import MEMORY_SCENARIO, SCENARIOS, supports


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
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per client (5)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a round (2.0)")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed warm-up (0.5 s)")
    scenarios = [*SCENARIOS, MEMORY_SCENARIO]
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
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be >= 1, --seconds > 0 and --warmup >= 0")
    if args.memory_ops < 10 * MEMORY_SAMPLES:
        parser.error(f"--memory-ops must be >= {10 * MEMORY_SAMPLES}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[Row] = []
    with MemcachedServer(threads=MEMCACHED_THREADS) as server:
        store_data_set(server.address)
        clients = open_clients(args.clients, server.address, args.scenarios)
        try:
            env = environment(server.address, clients)
            for name in args.scenarios:
                if name not in SCENARIOS:
                    continue
                runnable = [client for client in clients if supports(client, name)]
                rows += run_scenario(SCENARIOS[name], runnable, args)
        finally:
            for client in clients:
                client.close()
    memory: list[MemoryRun] = []
    if MEMORY_SCENARIO in args.scenarios:
        if "memlease" in args.clients:
            memory = memory_check(args.memory_ops)
        else:
            log(f"skipping {MEMORY_SCENARIO}: it runs memlease only")
    print_report(rows, memory, env, args)
    if args.json:
        write_json(args.json, rows, memory, env, args)
    failed = any(row.error for row in rows) or any(run.error for run in memory)
    return 1 if failed else 0
