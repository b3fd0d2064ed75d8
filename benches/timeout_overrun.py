"""How far past `timeout` a huge `get_many` against a frozen server returns (issue 9, item 9).

Usage: .venv/bin/python benches/timeout_overrun.py [KEYS] [TIMEOUT]
Starts a throwaway memcached, freezes it (SIGSTOP) and times three `get_many` calls of KEYS keys
from `Client` and from `AsyncClient`; each must raise `ReadTimeout` shortly after TIMEOUT.
"""

from __future__ import annotations

import asyncio
import sys
import time

import memlease
from memlease.testing import MemcachedServer


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25
    keys = [f"key:{i}" for i in range(count)]
    with MemcachedServer() as server:
        client = memlease.Client(server.address, timeout=timeout, failures_to_mark_down=1000)
        client.set("key:1", "x")
        server.freeze()
        try:
            for _ in range(3):
                started = time.perf_counter()
                try:
                    client.get_many(keys)
                except memlease.ReadTimeout:
                    print(f"Client      {count} keys: {time.perf_counter() - started:.3f} s")

            async def run_async() -> None:
                aclient = memlease.AsyncClient(
                    server.address, timeout=timeout, failures_to_mark_down=1000
                )
                for _ in range(3):
                    started = time.perf_counter()
                    try:
                        await aclient.get_many(keys)
                    except memlease.ReadTimeout:
                        print(f"AsyncClient {count} keys: {time.perf_counter() - started:.3f} s")
                await aclient.close()

            asyncio.run(run_async())
        finally:
            server.thaw()
        client.close()


if __name__ == "__main__":
    main()
