#!/usr/bin/env python3
"""What a caller pays while a memcached server is frozen (SIGSTOP: it accepts connections but
never answers), before and after the client marks it down.

    .venv/bin/python benches/frozen_server.py [--calls 2000] [--timeout 0.2]

Three throwaway memcached processes; one is frozen. For memlease's Client and AsyncClient
(`timeout`, `mark_down_period=30`, `on_server_error="miss"`) and for pymemcache's HashClient
with the nearest settings (`timeout`, `retry_attempts=1`, `dead_timeout=30`,
`ignore_exc=True`), it reports the latency of `get` on:

- a key of the server before it is frozen (baseline),
- the first call after the freeze (pays the timeout, then marks the server down),
- the following calls while it is marked down,
- a key of a live server meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import memlease
from memlease.testing import MemcachedServer


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return (
        f"median {statistics.median(samples) * 1e6:8.1f} us  p99 {p99 * 1e6:8.1f} us  "
        f"max {samples[-1] * 1e6:9.1f} us"
    )


Timer = Callable[[str, int], list[float]]


def sync_timer(get: Callable[[str], Any]) -> Timer:
    def timed(key: str, n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            get(key)
            samples.append(time.perf_counter() - started)
        return samples

    return timed


def async_timer(loop: asyncio.AbstractEventLoop, client: memlease.AsyncClient) -> Timer:
    """Times awaits inside one running loop, so the loop's own start-up is not counted."""

    async def timed_async(key: str, n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await client.get(key)
            samples.append(time.perf_counter() - started)
        return samples

    return lambda key, n: loop.run_until_complete(timed_async(key, n))


def key_on(place: Callable[[str], str], address: str) -> str:
    return next(f"k{i}" for i in range(100_000) if place(f"k{i}") == address)


def run(
    name: str, timed: Timer, place: Callable[[str], str], n: int, servers: list[MemcachedServer]
) -> None:
    frozen, alive = servers[0], servers[1]
    frozen_key, alive_key = key_on(place, frozen.address), key_on(place, alive.address)
    timed(frozen_key, n)  # warm up: connections open, caches hot
    baseline = timed(frozen_key, n)
    live_before = timed(alive_key, n)
    frozen.freeze()
    try:
        first = timed(frozen_key, 1)
        after = timed(frozen_key, n)
        live = timed(alive_key, n)
    finally:
        frozen.thaw()
    print(f"{name}")
    print(f"  before freeze         {summary(baseline)}")
    print(f"  live server, before   {summary(live_before)}")
    print(f"  first call frozen     {first[0] * 1e3:8.1f} ms")
    print(f"  marked down (n={n})  {summary(after)}")
    print(f"  live server meanwhile {summary(live)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=0.2)
    args = parser.parse_args()
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "mark_down_period": 30.0,
        "on_server_error": "miss",
    }

    servers = [MemcachedServer().start() for _ in range(3)]
    addresses = [s.address for s in servers]
    try:
        client = memlease.Client(addresses, **options)
        run("memlease Client", sync_timer(client.get), client.server_for, args.calls, servers)
        client.close()

        loop = asyncio.new_event_loop()
        aclient = loop.run_until_complete(_make_async(addresses, options))
        timer = async_timer(loop, aclient)
        run("memlease AsyncClient", timer, aclient.server_for, args.calls, servers)
        loop.close()

        try:
            from pymemcache.client.hash import HashClient
        except ImportError:
            print("pymemcache not installed: pip install -r benches/requirements.txt")
            return
        hosts = [(s.host, s.port) for s in servers]
        peer = HashClient(
            hosts,
            timeout=args.timeout,
            connect_timeout=args.timeout,
            retry_attempts=1,
            dead_timeout=30,
            ignore_exc=True,
        )
        peer_place: Callable[[str], str] = peer.hasher.get_node
        run("pymemcache HashClient", sync_timer(peer.get), peer_place, args.calls, servers)
    finally:
        for srv in servers:
            srv.stop()


async def _make_async(addresses: list[str], options: dict[str, Any]) -> memlease.AsyncClient:
    return memlease.AsyncClient(addresses, **options)


if __name__ == "__main__":
    main()
