#!/usr/bin/env python3
"""Benchmark memlease against other Python memcached clients on a throwaway local memcached.

Running it (``make bench`` builds memlease, installs the peers and runs everything)::

    .venv/bin/pip install -r benches/requirements.txt
    .venv/bin/python benches/bench.py
    .venv/bin/python benches/bench.py --rounds 3 --seconds 1 --scenarios get_100B,get_many_100 \\
        --clients memlease,pylibmc,raw-socket --json /tmp/bench.json
    .venv/bin/python benches/bench.py --scenarios get_100B,threads_get_100B --threads 4

Scenarios (one thread, one connection per client unless named threads_*; values are random
bytes stored with flags 0, so no client can win by compressing, and memlease runs with
``serde="raw"`` and compression off):

    get_100B          sequential get hit, 100 B value
    set_100B          sequential acknowledged set, 100 B value (pymemcache with noreply=False)
    get_many_100      get_many of 100 keys with 100 B values; throughput counted in keys/s
    set_many_100      set_many of 100 keys with 100 B values, acknowledged; in keys/s
                      (pylibmc set_multi; not meta-memcache, which has no multi-key set)
    get_100KB         sequential get hit, 100 KB value
    set_100KB         sequential acknowledged set, 100 KB value
    threads_get_100B  --threads threads (8) each doing sequential 100 B get hits; throughput
                      is the total over the threads. memlease and meta-memcache share one
                      client, pymemcache one PooledClient (max_pool_size=--threads; its plain
                      Client is not thread-safe), pylibmc gives each thread its own clone()

Clients: memlease, pymemcache, pylibmc, meta-memcache, and raw-socket: a few lines of Python
that send ``mg <key> v`` and read until the whole reply is in (get_100B only). raw-socket is
what one round trip costs a Python program on this machine, the floor for any client.

How it measures: the bench starts its own memcached (2 threads) and stores the data. For each
scenario every client first gets an untimed warm-up, then the clients take turns, one timed
round each (memlease, peer, peer, ..., memlease, peer, ...), --rounds times, so that the
machine's slow drifts hit every client alike. A round calls the operation back to back for
--seconds and timestamps every call with ``time.perf_counter_ns``. In threads_get_100B the
threads wait at a barrier, the window of --seconds opens when the last one arrives and is the
same for all of them; only calls that end inside it count.

Reading the output: progress goes to stderr, then a markdown table goes to stdout, one row per
(scenario, client):

    throughput    median over the rounds of calls/s (keys/s for get_many_100)
    p50 / p99     median over the rounds of each round's per-call latency percentile, in µs
                  (one get_many_100 call fetches 100 keys)
    memlease ÷    memlease's median throughput divided by this row's; above 1 means memlease
                  is faster. On the raw-socket row it tells how close memlease comes to a bare
                  round trip written in Python.
    spread        (max - min) / median of the row's per-round throughputs: how noisy it was

Under the table, "memlease 8 threads / 1 thread" divides memlease's threads_get_100B throughput
by its get_100B throughput from the same run (the peers' ratios follow in brackets): above 1
means threads sharing one client get more done than one thread, which a client holding the GIL
while it waits on the network cannot do. With 2 CPUs shared with memcached, expect well under 8.

Read the ratios, not the absolute numbers: on a shared VM, memcached and the client compete for
the same few CPUs and loopback round trips dominate, so absolute figures move by tens of percent
from run to run. A ratio difference smaller than the rows' spread is noise.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import socket
import statistics
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Any

import memlease
from memlease.testing import MemcachedServer

# Data set. Random bytes: incompressible, so every client moves the same bytes on the wire.
SMALL_VALUE = os.urandom(100)
BIG_VALUE = os.urandom(100 * 1024)
SMALL_KEYS = [f"bench:small:{i}" for i in range(1000)]
BIG_KEYS = [f"bench:big:{i}" for i in range(8)]
SET_KEYS = [f"bench:set:{i}" for i in range(1000)]  # apart from SMALL_KEYS: reads stay intact
BIG_SET_KEYS = [f"bench:bigset:{i}" for i in range(8)]  # apart from BIG_KEYS, likewise
BATCH_SIZE = 100
BATCHES = [SMALL_KEYS[i : i + BATCH_SIZE] for i in range(0, len(SMALL_KEYS), BATCH_SIZE)]
# Built once: a set_many round times the client, not the building of its mapping.
SET_BATCHES = [
    dict.fromkeys(SET_KEYS[i : i + BATCH_SIZE], SMALL_VALUE)
    for i in range(0, len(SET_KEYS), BATCH_SIZE)
]

Op = Callable[[int], object]
Runner = Callable[[float], "Round"]  # runner(seconds) measures one round of a scenario

MEMCACHED_THREADS = 2


# --------------------------------------------------------------------------------------------
# Clients under test
# --------------------------------------------------------------------------------------------
class BenchClient(ABC):
    """One client under test, driven from one thread.

    Scenarios only call ``get``, ``set``, ``get_many`` and ``set_many`` (str keys, bytes
    values). Threaded scenarios ask ``thread_clients`` for the client each thread calls. Async
    clients will get a sibling base class whose rounds run inside an event loop; the
    scenario table, the round loop and the report do not depend on how a call is made.
    """

    name: str
    # Scenarios this client can run; the raw socket loop only knows how to get.
    scenarios: frozenset[str] | None = None  # None: all of them

    def supports(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    @abstractmethod
    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: bytes) -> Any:
        raise NotImplementedError(f"{self.name} has no set scenario")

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        raise NotImplementedError(f"{self.name} has no get_many scenario")

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        """Store every item; return the keys that were not stored."""
        raise NotImplementedError(f"{self.name} has no set_many scenario")

    def thread_clients(self, threads: int) -> list[BenchClient]:
        """What each of `threads` threads calls: this client shared, or one it owns per thread.

        Clients made here belong to this one and are closed with it.
        """
        raise NotImplementedError(f"{self.name} has no threaded scenario")

    @abstractmethod
    def describe(self) -> str:
        """Version and the options that matter for reading its numbers."""

    @abstractmethod
    def close(self) -> None: ...


class MemleaseClient(BenchClient):
    name = "memlease"

    def __init__(self, address: str) -> None:
        # Values are bytes already: store them as-is, and never compress (see the 100 KB case).
        self._client = memlease.Client(address, serde="raw", compress_threshold=None)

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_many(mapping)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        return [self] * threads  # thread-safe: one Client, its pool, shared by every thread

    def describe(self) -> str:
        return (
            f"{memlease.__version__} (serde='raw', compress_threshold=None, default timeouts "
            "and max_connections; threads share the one Client)"
        )

    def close(self) -> None:
        self._client.close()


class PymemcacheClient(BenchClient):
    name = "pymemcache"

    def __init__(self, address: str, *, pool_size: int | None = None) -> None:
        from pymemcache.client.base import Client, PooledClient

        host, port = split_address(address)
        self._address = address
        self._pooled: PymemcacheClient | None = None
        # pymemcache's default is noreply=True: a set that never waits for the server would
        # not be comparable with the acknowledged sets of the other clients.
        options: dict[str, Any] = {"no_delay": True, "default_noreply": False}
        if pool_size is None:
            self._client = Client((host, port), **options)
        else:  # Client is not thread-safe; PooledClient lends each call a Client of its own
            self._client = PooledClient((host, port), max_pool_size=pool_size, **options)

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_many(mapping, noreply=False)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        if self._pooled is None:
            self._pooled = PymemcacheClient(self._address, pool_size=threads)
        return [self._pooled] * threads

    def describe(self) -> str:
        return (
            f"{version('pymemcache')} (base.Client, no_delay=True, default_noreply=False; "
            "threads share one base.PooledClient with max_pool_size=--threads)"
        )

    def close(self) -> None:
        self._client.close()
        if self._pooled is not None:
            self._pooled.close()


class PylibmcClient(BenchClient):
    name = "pylibmc"

    def __init__(self, address: str, *, clone_of: PylibmcClient | None = None) -> None:
        import pylibmc

        self._client: Any
        if clone_of is not None:  # same server and behaviors, a connection of its own
            self._client = clone_of._client.clone()
        else:
            self._client = pylibmc.Client([address], binary=False, behaviors={"tcp_nodelay": True})
        self._address = address
        self._clones: list[PylibmcClient] = []

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_multi(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_multi(mapping)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        # A pylibmc Client is not thread-safe: every thread gets a clone of its own.
        while len(self._clones) < threads:
            self._clones.append(PylibmcClient(self._address, clone_of=self))
        return list(self._clones[:threads])

    def describe(self) -> str:
        import pylibmc

        return (
            f"{version('pylibmc')} (libmemcached {pylibmc.libmemcached_version}, "
            "text protocol, tcp_nodelay; each thread has its own clone())"
        )

    def close(self) -> None:
        for clone in self._clones:
            clone.close()
        self._client.disconnect_all()


class MetaMemcacheClient(BenchClient):
    name = "meta-memcache"
    # Its CacheClient has multi_get but no multi-key set.
    scenarios = frozenset(
        {"get_100B", "set_100B", "get_many_100", "get_100KB", "set_100KB", "threads_get_100B"}
    )
    # The library's default read buffer (4 KiB) stalls for ~100 ms per refill on larger replies
    # (see shared/research/bench-baseline.md); with 64 KiB the transport is what gets measured.
    READ_BUFFER_SIZE = 65536

    def __init__(self, address: str) -> None:
        from meta_memcache import CacheClient, ServerAddress, connection_pool_factory_builder

        host, port = split_address(address)
        self._client = CacheClient.cache_client_from_servers(
            servers=[ServerAddress(host=host, port=port)],
            connection_pool_factory_fn=connection_pool_factory_builder(
                read_buffer_size=self.READ_BUFFER_SIZE
            ),
            serializer=_raw_bytes_serializer(),
        )

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value, ttl=0)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.multi_get(keys)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        return [self] * threads  # CacheClient pools its connections and may be shared

    def describe(self) -> str:
        return (
            f"{version('meta-memcache')} (meta-memcache-socket {version('meta-memcache-socket')}, "
            f"raw-bytes serializer, read_buffer_size={self.READ_BUFFER_SIZE}, "
            "threads share the one CacheClient)"
        )

    def close(self) -> None:
        pass  # CacheClient has no close(); its pooled sockets go with the process


def _raw_bytes_serializer() -> Any:
    """A meta-memcache serializer that stores bytes as-is with flags 0.

    Its default MixedSerializer zlib-compresses every value over 128 B, which would measure
    zlib rather than the client.
    """
    from meta_memcache.base.base_serializer import BaseSerializer, EncodedValue

    class RawBytesSerializer(BaseSerializer):  # type: ignore[misc]
        def serialize(self, key: Any, value: Any) -> Any:
            return EncodedValue(data=value, encoding_id=0)

        def unserialize(self, data: Any, encoding_id: int) -> Any:
            return bytes(data)

    return RawBytesSerializer()


class RawSocketConnection:
    """The least a Python program can do per get: one ``mg`` out, read until the reply is in."""

    RECV_SIZE = 65536

    def __init__(self, address: str) -> None:
        self._sock = socket.create_connection(split_address(address))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, key: bytes) -> bytes | None:
        self._sock.sendall(b"mg " + key + b" v\r\n")
        reply = self._recv()
        while b"\r\n" not in reply:
            reply += self._recv()
        header_end = reply.index(b"\r\n")
        if reply.startswith(b"EN"):
            return None
        if not reply.startswith(b"VA "):
            raise RuntimeError(f"unexpected reply to mg: {reply[:header_end]!r}")
        value_start = header_end + 2
        value_end = value_start + int(reply[3:header_end].split(b" ", 1)[0])
        while len(reply) < value_end + 2:  # the value and its trailing \r\n
            reply += self._recv()
        return reply[value_start:value_end]

    def store(self, key: bytes, value: bytes) -> None:
        self._sock.sendall(b"ms %s %d T0\r\n%s\r\n" % (key, len(value), value))
        reply = self._recv()
        if reply != b"HD\r\n":
            raise RuntimeError(f"unexpected reply to ms: {reply!r}")

    def _recv(self) -> bytes:
        chunk = self._sock.recv(self.RECV_SIZE)
        if not chunk:
            raise ConnectionError("memcached closed the connection")
        return chunk

    def close(self) -> None:
        self._sock.close()


class RawSocketClient(BenchClient):
    name = "raw-socket"
    scenarios = frozenset({"get_100B"})

    def __init__(self, address: str) -> None:
        self._connection = RawSocketConnection(address)

    def get(self, key: str) -> Any:
        return self._connection.get(key.encode())

    def describe(self) -> str:
        return "`mg <key> v` + recv until the reply is complete, in pure Python (this script)"

    def close(self) -> None:
        self._connection.close()


# Round order within a scenario: memlease first, then the peers, then the floor.
CLIENTS: dict[str, Callable[[str], BenchClient]] = {
    "memlease": MemleaseClient,
    "pymemcache": PymemcacheClient,
    "pylibmc": PylibmcClient,
    "meta-memcache": MetaMemcacheClient,
    "raw-socket": RawSocketClient,
}


def split_address(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str  # what the throughput counts
    items_per_call: int  # keys moved by one call: throughput = calls/s * items_per_call
    make_op: Callable[[BenchClient], Op]  # op(i) does the i-th call of a round
    verify: Callable[[BenchClient], None]  # raises unless the client sees the expected data
    threaded: bool = False  # --threads threads call op at once, each on its thread_clients()


def cycle(items: Sequence[Any], call: Callable[[Any], object]) -> Op:
    count = len(items)
    return lambda i: call(items[i % count])


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {what}")


def verify_get_small(client: BenchClient) -> None:
    expect(client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


def verify_set_small(client: BenchClient) -> None:
    expect(bool(client.set(SET_KEYS[0], SMALL_VALUE)), "set of a 100 B value returned false")


def verify_get_many(client: BenchClient) -> None:
    found = client.get_many(BATCHES[0])
    hits = [value for value in found.values() if value == SMALL_VALUE]
    expect(len(hits) == BATCH_SIZE, f"get_many found {len(hits)} of {BATCH_SIZE} values")


def verify_set_many(client: BenchClient) -> None:
    failed = client.set_many(SET_BATCHES[0])
    expect(not failed, f"set_many did not store {len(failed)} of {BATCH_SIZE} values")


def verify_get_big(client: BenchClient) -> None:
    expect(client.get(BIG_KEYS[0]) == BIG_VALUE, "get of a 100 KB value")


def verify_set_big(client: BenchClient) -> None:
    expect(bool(client.set(BIG_SET_KEYS[0], BIG_VALUE)), "set of a 100 KB value returned false")


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in [
        Scenario("get_100B", "ops/s", 1, lambda c: cycle(SMALL_KEYS, c.get), verify_get_small),
        Scenario(
            "set_100B",
            "ops/s",
            1,
            lambda c: cycle(SET_KEYS, lambda key: c.set(key, SMALL_VALUE)),
            verify_set_small,
        ),
        Scenario(
            "get_many_100",
            "keys/s",
            BATCH_SIZE,
            lambda c: cycle(BATCHES, c.get_many),
            verify_get_many,
        ),
        Scenario(
            "set_many_100",
            "keys/s",
            BATCH_SIZE,
            lambda c: cycle(SET_BATCHES, c.set_many),
            verify_set_many,
        ),
        Scenario("get_100KB", "ops/s", 1, lambda c: cycle(BIG_KEYS, c.get), verify_get_big),
        Scenario(
            "set_100KB",
            "ops/s",
            1,
            lambda c: cycle(BIG_SET_KEYS, lambda key: c.set(key, BIG_VALUE)),
            verify_set_big,
        ),
        Scenario(
            "threads_get_100B",
            "ops/s",
            1,
            lambda c: cycle(SMALL_KEYS, c.get),
            verify_get_small,
            threaded=True,
        ),
    ]
}
# The single-thread scenario that threads_get_100B is compared with, under the table.
THREADED_BASELINE = {"threads_get_100B": "get_100B"}


def store_data_set(address: str) -> None:
    """Store the values every get scenario reads, with a client that is none of those tested."""
    connection = RawSocketConnection(address)
    try:
        for key in SMALL_KEYS:
            connection.store(key.encode(), SMALL_VALUE)
        for key in BIG_KEYS:
            connection.store(key.encode(), BIG_VALUE)
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------
@dataclass
class Round:
    calls_per_s: float
    p50_us: float
    p99_us: float
    calls: int


@dataclass
class Row:
    """Everything measured for one (scenario, client)."""

    scenario: str
    client: str
    rounds: list[Round] = field(default_factory=list)
    error: str | None = None

    def median_throughput(self, items_per_call: int) -> float:
        return statistics.median(r.calls_per_s for r in self.rounds) * items_per_call

    def median_p50_us(self) -> float:
        return statistics.median(r.p50_us for r in self.rounds)

    def median_p99_us(self) -> float:
        return statistics.median(r.p99_us for r in self.rounds)

    def spread(self) -> float:
        rates = [r.calls_per_s for r in self.rounds]
        return (max(rates) - min(rates)) / statistics.median(rates)


def run_for(op: Op, seconds: float) -> Round:
    """Call op back to back for `seconds`, timing every call."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    record = latencies.append
    calls = 0
    # One clock read per call: the end of a call is the start of the next, so the loop's own
    # overhead is counted in the latency, equally for every client.
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
    latencies.sort()
    return Round(
        calls_per_s=calls / ((now - start) / 1e9),
        p50_us=percentile(latencies, 0.50) / 1000,
        p99_us=percentile(latencies, 0.99) / 1000,
        calls=calls,
    )


def run_threads(ops: Sequence[Op], seconds: float) -> Round:
    """Call each op back to back on a thread of its own, all in the same window of `seconds`.

    The threads wait at a barrier; the last to arrive opens the window, and a call counts only
    if it ends inside it, so that every thread is measured over the same span of time.
    """
    clock = time.perf_counter_ns
    window: list[int] = []  # [start, deadline] in perf_counter_ns

    def open_window() -> None:
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
    if errors:
        raise errors[0]
    merged = sorted(latency for found in latencies for latency in found)
    if not merged:
        raise RuntimeError(f"no call ended within {seconds:g} s")
    return Round(
        calls_per_s=len(merged) / seconds,
        p50_us=percentile(merged, 0.50) / 1000,
        p99_us=percentile(merged, 0.99) / 1000,
        calls=len(merged),
    )


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return float(sorted_values[index])


def measure(run: Runner, seconds: float) -> Round:
    # Collect the previous client's garbage now, not in the middle of this client's round.
    gc.collect()
    return run(seconds)


def make_runner(scenario: Scenario, client: BenchClient, threads: int) -> Runner:
    """Check that the client sees the data, then return what times one round of it."""
    if not scenario.threaded:
        scenario.verify(client)
        op = scenario.make_op(client)
        return lambda seconds: run_for(op, seconds)
    per_thread = client.thread_clients(threads)
    for each in dict.fromkeys(per_thread):  # every distinct client, once
        scenario.verify(each)
    ops = [scenario.make_op(each) for each in per_thread]
    return lambda seconds: run_threads(ops, seconds)


def run_scenario(
    scenario: Scenario, clients: list[BenchClient], args: argparse.Namespace
) -> list[Row]:
    rows = {client.name: Row(scenario.name, client.name) for client in clients}
    runners: dict[str, Runner] = {}
    for client in clients:
        try:
            runners[client.name] = make_runner(scenario, client, args.threads)
            if args.warmup > 0:
                runners[client.name](args.warmup)
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


def log_round(scenario: Scenario, row: Row, round_number: int, rounds: int) -> None:
    last = row.rounds[-1]
    log(
        f"[{scenario.name}] round {round_number}/{rounds} {row.client:<13} "
        f"{last.calls_per_s * scenario.items_per_call:>12,.0f} {scenario.unit}  "
        f"p50 {last.p50_us:8.1f} µs  p99 {last.p99_us:8.1f} µs"
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
TABLE_HEADER = (
    "| scenario | client | throughput (median) | p50 µs | p99 µs | memlease ÷ client | spread |\n"
    "|---|---|---:|---:|---:|---:|---:|"
)


def markdown_table(rows: list[Row]) -> str:
    lines = [TABLE_HEADER]
    memlease_rows = {row.scenario: row for row in rows if row.client == "memlease"}
    for row in rows:
        scenario = SCENARIOS[row.scenario]
        if row.error is not None or not row.rounds:
            lines.append(f"| {row.scenario} | {row.client} | error: {row.error} | | | | |")
            continue
        throughput = row.median_throughput(scenario.items_per_call)
        reference = memlease_rows.get(row.scenario)
        lines.append(
            f"| {row.scenario} | {row.client} | {throughput:,.0f} {scenario.unit} "
            f"| {row.median_p50_us():.1f} | {row.median_p99_us():.1f} "
            f"| {memlease_ratio(reference, throughput, scenario)} | {row.spread():.0%} |"
        )
    return "\n".join(lines)


def memlease_ratio(memlease_row: Row | None, throughput: float, scenario: Scenario) -> str:
    if memlease_row is None or memlease_row.error is not None or not memlease_row.rounds:
        return "—"
    return f"{memlease_row.median_throughput(scenario.items_per_call) / throughput:.2f}"


def thread_scaling(rows: list[Row], threads: int) -> list[str]:
    """One line per threaded scenario: each client's N-thread / 1-thread throughput.

    memlease first and on its own, the peers in brackets; both rows come from this run.
    """
    measured = {(r.scenario, r.client): r for r in rows if r.error is None and r.rounds}
    lines = []
    for threaded, single in THREADED_BASELINE.items():
        ratios = {}
        for (scenario, client), row in measured.items():
            baseline = measured.get((single, client))
            if scenario == threaded and baseline is not None:
                ratios[client] = row.median_throughput(1) / baseline.median_throughput(1)
        if not any(scenario == threaded for scenario, _ in measured):
            continue
        memlease_ratio = ratios.pop("memlease", None)
        shown = "—" if memlease_ratio is None else f"{memlease_ratio:.2f}x"
        many = f"{threads} thread" if threads == 1 else f"{threads} threads"
        line = f"memlease {many} / 1 thread: {shown} ({threaded} ÷ {single}"
        if ratios:
            line += "; " + ", ".join(f"{client} {ratio:.2f}x" for client, ratio in ratios.items())
        lines.append(line + ")")
    return lines


def environment(address: str, clients: list[BenchClient]) -> dict[str, Any]:
    probe = memlease.Client(address)
    try:
        memcached_version = next(iter(probe.version().values()))
    finally:
        probe.close()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memcached": memcached_version,
        "clients": {client.name: client.describe() for client in clients},
    }


def print_report(rows: list[Row], env: dict[str, Any], args: argparse.Namespace) -> None:
    setup = [
        f"memcached {env['memcached']} ({MEMCACHED_THREADS} threads, loopback)",
        env["python"],
        f"{env['cpus']} CPUs",
        f"{args.rounds} rounds x {args.seconds:g} s per client after {args.warmup:g} s warm-up",
        f"{args.threads} threads in threads_*",
        "medians over rounds",
    ]
    print("\n" + " · ".join(setup) + "\n")
    print(markdown_table(rows))
    scaling = thread_scaling(rows, args.threads)
    if scaling:
        print("\n" + "\n".join(scaling))
    print("\nClients:")
    for name, description in env["clients"].items():
        print(f"- {name}: {description}")


def write_json(path: str, rows: list[Row], env: dict[str, Any], args: argparse.Namespace) -> None:
    document = {
        "settings": {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "threads": args.threads,
            "scenarios": args.scenarios,
            "clients": args.clients,
        },
        "environment": env,
        "results": [asdict(row) for row in rows],
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=1)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
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
    parser.add_argument(
        "--threads", type=int, default=8, help="threads in the threads_* scenarios (8)"
    )
    parser.add_argument(
        "--scenarios",
        type=comma_list(list(SCENARIOS)),
        default=list(SCENARIOS),
        help="comma-separated subset of: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--clients",
        type=comma_list(list(CLIENTS)),
        default=list(CLIENTS),
        help="comma-separated subset of: " + ", ".join(CLIENTS),
    )
    parser.add_argument("--json", metavar="PATH", help="also write every round's figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1, --seconds > 0 and --warmup >= 0")
    return args


def open_clients(names: list[str], address: str) -> list[BenchClient]:
    """Connect every requested client, in CLIENTS order; a peer that is not installed is skipped."""
    clients = []
    for name in CLIENTS:
        if name not in names:
            continue
        try:
            clients.append(CLIENTS[name](address))
        except ImportError as error:
            log(f"skipping {name}: {error} (pip install -r benches/requirements.txt)")
    return clients


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[Row] = []
    with MemcachedServer(threads=MEMCACHED_THREADS) as server:
        store_data_set(server.address)
        clients = open_clients(args.clients, server.address)
        try:
            env = environment(server.address, clients)
            for name in args.scenarios:
                scenario = SCENARIOS[name]
                runnable = [client for client in clients if client.supports(name)]
                rows += run_scenario(scenario, runnable, args)
        finally:
            for client in clients:
                client.close()
    print_report(rows, env, args)
    if args.json:
        write_json(args.json, rows, env, args)
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
