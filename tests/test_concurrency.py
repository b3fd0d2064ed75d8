"""Threads share one Client; the GIL is released while waiting on the network."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest

import memlease
from memlease.testing import MemcachedServer


def test_gil_is_released_while_waiting() -> None:
    # A server that never answers: the call waits its full timeout inside Rust. If it held the
    # GIL, this thread could not count meanwhile.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    counted = 0
    with memlease.Client(address, timeout=0.5) as c:
        done = threading.Event()
        outcome: list[BaseException] = []

        def blocked_call() -> None:
            try:
                c.get("k")
            except memlease.MemcacheError as e:
                outcome.append(e)
            done.set()

        worker = threading.Thread(target=blocked_call)
        worker.start()
        time.sleep(0.05)
        while not done.is_set():
            counted += 1
        worker.join()
    listener.close()
    assert len(outcome) == 1 and isinstance(outcome[0], memlease.ReadTimeout)
    assert counted > 10_000


def test_threads_sharing_a_client_each_see_their_own_values(
    cluster_client: memlease.Client,
) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            for i in range(300):
                key = f"t{n}:{rng.randrange(20)}"
                value = f"{key}={i}"
                cluster_client.set(key, value)
                assert cluster_client.get(key) == value
                many = cluster_client.get_many([f"t{n}:{j}" for j in range(20)])
                assert all(v.startswith(f"{k}=") for k, v in many.items())
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 8 threads never needed more than 8 connections per server.
    for counts in cluster_client.pool_stats().values():
        assert counts["open"] <= 8


def test_errors_never_leak_pool_slots(own_server: MemcachedServer) -> None:
    with memlease.Client(
        own_server.address,
        max_connections=2,
        timeout=0.1,
        pool_timeout=0.5,
        failures_to_mark_down=1000,
    ) as c:
        c.set("k", 1)
        own_server.freeze()
        try:
            for _ in range(5):
                with pytest.raises(memlease.ReadTimeout):
                    c.get("k")
        finally:
            own_server.thaw()
        # Five timeouts with a pool of two: slots were released each time.
        assert c.get("k") == 1
        assert c.pool_stats()[own_server.address]["open"] <= 2


def test_threads_queued_behind_a_hung_server_each_wait_at_most_the_timeout(
    own_server: MemcachedServer,
) -> None:
    # With 8 threads and 2 connections, 6 threads queue behind rounds stuck on a frozen
    # server; each must still give up within its own timeout, not wait for two.
    with memlease.Client(
        own_server.address, timeout=0.3, max_connections=2, failures_to_mark_down=1000
    ) as c:
        c.set("k", 1)
        waited: list[float] = []
        errors: list[BaseException] = []

        def call() -> None:
            started = time.monotonic()
            try:
                c.get("k")
            except memlease.MemcacheError as e:
                errors.append(e)
            waited.append(time.monotonic() - started)

        own_server.freeze()
        try:
            threads = [threading.Thread(target=call) for _ in range(8)]
            for t in threads:
                t.start()
                time.sleep(0.02)
            for t in threads:
                t.join()
        finally:
            own_server.thaw()
        assert len(errors) == 8 and all(isinstance(e, memlease.ReadTimeout) for e in errors)
        assert max(waited) < 0.3 + 0.25
        assert c.get("k") == 1


def test_more_threads_than_connections_share_rounds(cluster: list[MemcachedServer]) -> None:
    # 16 threads, 2 connections per server: the extra threads are served in combined rounds,
    # and every one of them still gets its own values.
    errors: list[BaseException] = []
    with memlease.Client([s.address for s in cluster], max_connections=2) as c:

        def worker(n: int) -> None:
            try:
                for i in range(200):
                    key = f"r{n}:{i % 7}"
                    c.set(key, (n, i))
                    assert c.get(key) == (n, i)
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert all(counts["open"] <= 2 for counts in c.pool_stats().values())
