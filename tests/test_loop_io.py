"""`AsyncClient`'s event-loop I/O path (`io="loop"`, the default): what is particular to it,
beyond the whole suite that runs on both paths."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
from typing import Any

import memlease
from memlease.testing import MemcachedServer


def test_a_loop_closed_with_calls_in_flight_leaves_the_client_usable(
    own_server: MemcachedServer,
) -> None:
    client = memlease.AsyncClient(own_server.address, timeout=2.0)
    first = asyncio.new_event_loop()

    async def start_and_abandon() -> None:
        await client.set("k", "v")
        # Calls left in flight when the loop stops: never awaited to their end.
        abandoned = [client.get(f"k{n}") for n in range(50)]
        await asyncio.sleep(0)
        assert not all(call.done() for call in abandoned)

    first.run_until_complete(start_and_abandon())
    first.close()

    async def on_a_new_loop() -> Any:
        values = [await client.get("k") for _ in range(20)]
        stats = client.pool_stats()[own_server.address]
        await client.close()
        return values, stats

    values, stats = asyncio.run(on_a_new_loop())
    assert values == ["v"] * 20
    # The closed loop's connection is gone; only the new loop's is left.
    assert stats["multiplexed"] == 1


def test_loops_on_several_threads_share_one_client(server: MemcachedServer) -> None:
    client = memlease.AsyncClient(server.address)
    wrong: list[tuple[str, Any]] = []

    def worker(n: int) -> None:
        async def run() -> None:
            for i in range(200):
                key = f"t{n}-{i % 10}"
                await client.set(key, key)
                got = await client.get(key)
                if got != key:
                    wrong.append((key, got))

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads)
    assert wrong == []
    asyncio.run(client.close())


def test_a_call_on_an_idle_connection_is_written_before_the_method_returns(
    server: MemcachedServer,
) -> None:
    async def main() -> Any:
        async with memlease.AsyncClient(server.address) as client:
            await client.set("written", "early")
            pending = client.get("written")  # not awaited yet
            # The reply is already on its way: one loop pass later it is in.
            await asyncio.sleep(0.05)
            assert pending.done()
            return await pending

    assert asyncio.run(main()) == "early"


def test_a_bare_core_client_dropped_after_its_loop_closed_mid_call_frees_its_socket(
    own_server: MemcachedServer,
) -> None:
    # The core class alone (no Python __del__ to look at pool_stats): calls stranded on a
    # closed loop hold the client through their wakers, so its drop must free them itself.
    def connections() -> int:
        with memlease.Client(own_server.address) as probe:
            return int(probe.stats()[own_server.address]["curr_connections"])

    baseline = connections()
    client: Any = memlease._core.AsyncClient(own_server.address, timeout=5.0)
    first = asyncio.new_event_loop()

    async def strand_calls(c: Any) -> list[Any]:
        await c.set("k", "v")
        own_server.freeze()
        calls = [c.get(f"k{n}") for n in range(10)]
        await asyncio.sleep(0.01)
        return calls

    try:
        stranded = first.run_until_complete(strand_calls(client))
        first.close()
    finally:
        own_server.thaw()
    assert not any(call.done() for call in stranded)
    del client, stranded
    gc.collect()
    deadline = time.monotonic() + 10
    while connections() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections() <= baseline


def test_a_later_request_with_an_earlier_deadline_is_held_to_its_own(
    own_server: MemcachedServer,
) -> None:
    # Two primaries fail over to one frozen gutter. `late` starts after `early` but reaches the
    # gutter first (its primary refuses at once); `early` gets there later (its primary holds
    # the request, then drops the connection), with the earlier deadline. `early` must fail at
    # its own deadline, not at `late`'s.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    refuser = socket.socket()
    refuser.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    holding = f"127.0.0.1:{holder.getsockname()[1]}"
    refusing = f"127.0.0.1:{refuser.getsockname()[1]}"

    def hold_then_drop() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = holder.accept()
                connection.recv(4096)
                time.sleep(0.6)
                connection.close()

    threading.Thread(target=hold_then_drop, daemon=True).start()
    timeout = 1.0
    client = memlease.AsyncClient([holding, refusing], gutter=[own_server.address], timeout=timeout)
    early_key = next(k for k in (f"e{n}" for n in range(1000)) if client.server_for(k) == holding)
    late_key = next(k for k in (f"l{n}" for n in range(1000)) if client.server_for(k) == refusing)

    async def main() -> float:
        started = time.monotonic()
        early = client.get(early_key)
        early_done: list[float] = []
        early.add_done_callback(lambda _: early_done.append(time.monotonic()))
        await asyncio.sleep(0.3)
        late = client.get(late_key)
        results = await asyncio.gather(early, late, return_exceptions=True)
        assert all(isinstance(r, memlease.ReadTimeout) for r in results), results
        await client.close()
        return early_done[0] - started

    own_server.freeze()
    try:
        early_took = asyncio.run(main())
    finally:
        own_server.thaw()
        holder.close()
        refuser.close()
    # Its deadline is `timeout` after it began (plus a loop pass); `late`'s is 0.3 s later.
    assert early_took < timeout + 0.2
