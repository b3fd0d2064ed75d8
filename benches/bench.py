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
import asyncio
import gc
import json
import math
import os
import platform
import random
import socket
import statistics
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Any, TypeVar

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
AsyncOp = Callable[[int], Awaitable[object]]  # an Op whose call is awaited on an event loop
Runner = Callable[[float], "Round"]  # runner(seconds) measures one round of a scenario
T = TypeVar("T")

MEMCACHED_THREADS = 2
ASYNC_COROUTINES = 256  # in async_get_100B and in the AsyncClient run of the memory check
HUNG_AFTER_S = 5.0  # an async call still pending this long after its round is cancelled


# --------------------------------------------------------------------------------------------
# Clients under test
# --------------------------------------------------------------------------------------------
class BenchClient(ABC):
    """One client under test, driven from one thread.

    Scenarios only call ``get``, ``set``, ``get_many`` and ``set_many`` (str keys, bytes
    values). Threaded scenarios ask ``thread_clients`` for the client each thread calls. Async
    clients have a sibling base class, AsyncBenchClient, whose rounds run inside an event loop;
    the scenario table, the round loop and the report do not depend on how a call is made.
    """

    name: str
    # Scenarios this client can run; the raw socket loop only knows how to get.
    scenarios: frozenset[str] | None = None  # None: all the synchronous ones

    # Whether it has a lease-aware read (lease_get_100B); pymemcache and pylibmc do not.
    leases = False

    def supports(self, scenario: str) -> bool:
        if not isinstance(SCENARIOS[scenario], Scenario):
            return False
        if scenario in LEASE_SCENARIOS and not self.leases:
            return False
        return self.scenarios is None or scenario in self.scenarios

    def lease_get(self, key: str) -> Any:
        """The value, read the way a lease-protected read-through reads a hit."""
        raise NotImplementedError(f"{self.name} has no leases")

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

    leases = True

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def lease_get(self, key: str) -> Any:
        return self._client.get_or_lease(key).value

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
        self._pooled: dict[int, PymemcacheClient] = {}  # by thread count: max_pool_size
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
        if threads not in self._pooled:
            self._pooled[threads] = PymemcacheClient(self._address, pool_size=threads)
        return [self._pooled[threads]] * threads

    def describe(self) -> str:
        return (
            f"{version('pymemcache')} (base.Client, no_delay=True, default_noreply=False; "
            "threads share one base.PooledClient with max_pool_size=the thread count)"
        )

    def close(self) -> None:
        self._client.close()
        for pooled in self._pooled.values():
            pooled.close()


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
        {
            "get_100B",
            "set_100B",
            "get_many_100",
            "get_100KB",
            "set_100KB",
            "threads4_get_100B",
            "threads8_get_100B",
            "lease_get_100B",
        }
    )
    leases = True
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
        from meta_memcache import LeasePolicy

        self._lease_policy = LeasePolicy()

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def lease_get(self, key: str) -> Any:
        return self._client.get_or_lease(key, self._lease_policy)

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


class AsyncBenchClient(ABC):
    """One asyncio client under test, on an event loop of its own (asyncio's default loop).

    Async scenarios only call ``get`` (str keys), from coroutines that ``run`` hands to that
    loop. The client is opened in the loop, used there by every round and closed there. The
    loop runs all along on a thread of its own, as an application's would: a client's own
    timers and background tasks (emcache opens its connections in one) go on between rounds
    instead of all firing late when the next round starts. It idles while other clients run.
    """

    name: str
    scenarios: frozenset[str] | None = None  # None: all the async ones

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"bench-loop-{self.name}", daemon=True
        )
        self._thread.start()

    def supports(self, scenario: str) -> bool:
        if not isinstance(SCENARIOS[scenario], AsyncScenario):
            return False
        return self.scenarios is None or scenario in self.scenarios

    def run(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` on the client's loop and wait for its result."""

        async def on_loop() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result()

    def make_in_loop(self, factory: Callable[[], T]) -> T:
        """Call `factory` from a coroutine on this client's loop (clients that bind to it)."""

        async def make() -> T:
            return factory()

        return self.run(make())

    @abstractmethod
    def get(self, key: str) -> Awaitable[Any]: ...

    @abstractmethod
    def describe(self) -> str:
        """Version and the options that matter for reading its numbers."""

    @abstractmethod
    async def aclose(self) -> None: ...

    def close(self) -> None:
        async def shut_down() -> None:
            try:
                await self.aclose()
            finally:  # the client's background tasks, if any: not left pending at exit
                others = asyncio.all_tasks() - {asyncio.current_task()}
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)

        try:
            self.run(shut_down())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


class MemleaseAsyncClient(AsyncBenchClient):
    name = "memlease"

    def __init__(self, address: str) -> None:
        super().__init__()
        self._client = self.make_in_loop(
            lambda: memlease.AsyncClient(address, serde="raw", compress_threshold=None)
        )

    def get(self, key: str) -> Awaitable[Any]:
        return self._client.get(key)

    def describe(self) -> str:
        return (
            f"{memlease.__version__} AsyncClient (serde='raw', compress_threshold=None, default "
            "timeouts and max_connections; the coroutines share the one AsyncClient)"
        )

    async def aclose(self) -> None:
        await self._client.close()


class AiomcacheClient(AsyncBenchClient):
    name = "aiomcache"

    def __init__(self, address: str) -> None:
        import aiomcache

        super().__init__()
        host, port = split_address(address)
        self._client = self.make_in_loop(lambda: aiomcache.Client(host, port))

    def get(self, key: str) -> Awaitable[Any]:
        return self._client.get(key.encode())

    def describe(self) -> str:
        return f"{version('aiomcache')} (Client(host, port): default pool_size=2; shared)"

    async def aclose(self) -> None:
        await self._client.close()


class EmcacheClient(AsyncBenchClient):
    name = "emcache"
    # create_client's own default; an operation that takes longer raises TimeoutError.
    TIMEOUT: float | None = 1.0

    def __init__(self, address: str) -> None:
        import emcache

        super().__init__()
        host, port = split_address(address)
        self._client = self.run(
            emcache.create_client([emcache.MemcachedHostAddress(host, port)], timeout=self.TIMEOUT)
        )

    async def get(self, key: str) -> Any:
        item = await self._client.get(key.encode())
        return None if item is None else item.value

    def describe(self) -> str:
        return (
            f"{version('emcache')} (create_client defaults: max_connections=2, timeout=1.0; shared)"
        )

    async def aclose(self) -> None:
        await self._client.close()


class EmcacheNoTimeoutClient(EmcacheClient):
    name = "emcache-notimeout"
    TIMEOUT = None

    def describe(self) -> str:
        return f"{version('emcache')} (create_client with timeout=None, max_connections=2; shared)"


AnyClient = BenchClient | AsyncBenchClient

# Round order within a scenario: memlease first, then the peers, then the floor.
CLIENTS: dict[str, Callable[[str], BenchClient]] = {
    "memlease": MemleaseClient,
    "pymemcache": PymemcacheClient,
    "pylibmc": PylibmcClient,
    "meta-memcache": MetaMemcacheClient,
    "raw-socket": RawSocketClient,
}
# The same for the async scenarios; --clients memlease picks both memlease clients.
ASYNC_CLIENTS: dict[str, Callable[[str], AsyncBenchClient]] = {
    "memlease": MemleaseAsyncClient,
    "aiomcache": AiomcacheClient,
    "emcache": EmcacheClient,
    "emcache-notimeout": EmcacheNoTimeoutClient,
}
CLIENT_NAMES = list(dict.fromkeys([*CLIENTS, *ASYNC_CLIENTS]))


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
    threads: int = 0  # > 0: that many threads call op at once, each on its thread_clients()

    @property
    def callers(self) -> str:
        count = max(1, self.threads)
        return f"{count} thread" if count == 1 else f"{count} threads"


@dataclass(frozen=True)
class AsyncScenario:
    """A scenario for AsyncBenchClients: `coroutines` coroutines await op on the client's loop."""

    name: str
    unit: str
    items_per_call: int
    make_op: Callable[[AsyncBenchClient], AsyncOp]
    verify: Callable[[AsyncBenchClient], Awaitable[None]]
    coroutines: int = 1

    @property
    def callers(self) -> str:
        return f"{self.coroutines} coroutine" + ("" if self.coroutines == 1 else "s")


R = TypeVar("R")


def cycle(items: Sequence[Any], call: Callable[[Any], R]) -> Callable[[int], R]:
    count = len(items)
    return lambda i: call(items[i % count])


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"wrong result: {what}")


def verify_get_small(client: BenchClient) -> None:
    expect(client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


async def verify_get_small_async(client: AsyncBenchClient) -> None:
    expect(await client.get(SMALL_KEYS[0]) == SMALL_VALUE, "get of a 100 B value")


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


ALL_SCENARIOS: list[Scenario | AsyncScenario] = [
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
        "threads4_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small,
        threads=4,
    ),
    Scenario(
        "threads8_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small,
        threads=8,
    ),
    Scenario(
        "lease_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.lease_get),
        verify_get_small,
    ),
    AsyncScenario(
        "async_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small_async,
        coroutines=ASYNC_COROUTINES,
    ),
    AsyncScenario(
        "async_seq_get_100B",
        "ops/s",
        1,
        lambda c: cycle(SMALL_KEYS, c.get),
        verify_get_small_async,
    ),
]
SCENARIOS = {scenario.name: scenario for scenario in ALL_SCENARIOS}
# Scenarios only clients with leases run (memlease and meta-memcache).
LEASE_SCENARIOS = frozenset({"lease_get_100B"})
# The concurrent scenarios and the single-caller one each is compared with, under the table.
CONCURRENCY_BASELINE = {
    "threads4_get_100B": "get_100B",
    "threads8_get_100B": "get_100B",
    "async_get_100B": "async_seq_get_100B",
}
# The one-shot memory check: not a Scenario (no rounds), but chosen with --scenarios too.
MEMORY_SCENARIO = "memory_mixed_1M"


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
    calls_per_s: float  # successful calls
    p50_us: float  # over every call that ended in the round, failed ones included
    p99_us: float
    max_us: float  # the longest call
    calls: int  # successful calls
    errors: int = 0  # failed calls (async rounds; elsewhere a failure ends the row)
    error_kinds: dict[str, int] = field(default_factory=dict)  # failed calls by exception
    starved: int = 0  # async rounds: coroutines that completed no call inside the window


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

    def median_max_us(self) -> float:
        return statistics.median(r.max_us for r in self.rounds)

    def spread(self) -> float:
        rates = [r.calls_per_s for r in self.rounds]
        median = statistics.median(rates)
        return (max(rates) - min(rates)) / median if median > 0 else math.nan

    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    def error_kinds(self) -> Counter[str]:
        kinds: Counter[str] = Counter()
        for r in self.rounds:
            kinds.update(r.error_kinds)
        return kinds


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
        max_us=latencies[-1] / 1000,
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
        max_us=merged[-1] / 1000,
        calls=len(merged),
    )


async def run_coroutines(op: AsyncOp, coroutines: int, seconds: float) -> Round:
    """Await op back to back in each of `coroutines` coroutines on the running loop.

    All of them share one window of `seconds`. Throughput counts the successful calls that end
    inside it, as in run_threads; the latencies and the errors are those of every call that
    starts inside it, waited for to its end: a client that leaves some coroutines waiting while
    it serves others cannot hide them past the end of the window. A call that raises is an
    error, not the end of the round: its coroutine goes on with the next call. A call still
    pending HUNG_AFTER_S after the window closed is cancelled and counted as an error too.
    """
    clock = time.perf_counter_ns
    latencies: list[int] = []  # one loop, one thread: every coroutine appends to the same list
    record = latencies.append
    errors: Counter[str] = Counter()
    succeeded = [0] * coroutines  # successful calls that ended inside the window, by coroutine
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
    )


def error_kind(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return float(sorted_values[index])


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


def format_kinds(kinds: Counter[str]) -> str:
    return ", ".join(f"{count:,} {kind}" for kind, count in kinds.most_common())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Memory check (memory_mixed_1M): one long run per memlease client, not A/B rounds
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
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


def open_clients(names: list[str], address: str, scenarios: list[str]) -> list[AnyClient]:
    """Connect every requested client that a chosen scenario runs, in CLIENTS then
    ASYNC_CLIENTS order; a peer that is not installed is skipped."""
    chosen = [SCENARIOS[name] for name in scenarios if name in SCENARIOS]
    families: list[Mapping[str, Callable[[str], AnyClient]]] = []
    if any(isinstance(scenario, Scenario) for scenario in chosen):
        families.append(CLIENTS)
    if any(isinstance(scenario, AsyncScenario) for scenario in chosen):
        families.append(ASYNC_CLIENTS)
    clients: list[AnyClient] = []
    for family in families:
        for name, factory in family.items():
            if name not in names:
                continue
            try:
                clients.append(factory(address))
            except ImportError as error:
                log(f"skipping {name}: {error} (pip install -r benches/requirements.txt)")
    return clients


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
                runnable = [client for client in clients if client.supports(name)]
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


if __name__ == "__main__":
    sys.exit(main())
