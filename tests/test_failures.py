"""Timeouts, dead servers, oversized values: typed errors, bounded waits, no desync."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer


class SilentServer:
    """Accepts connections and reads requests but never answers: a hung server."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    srv = SilentServer()
    yield srv
    srv.close()


def test_read_timeout_is_bounded(silent: SilentServer, make_client: Any) -> None:
    with make_client(silent.address, timeout=0.2) as c:
        started = time.monotonic()
        with pytest.raises(memlease.ReadTimeout) as info:
            c.get("k")
        elapsed = time.monotonic() - started
        assert 0.19 <= elapsed < 1.0
        assert silent.address in str(info.value)
        assert isinstance(info.value, memlease.MemcacheTimeout)
        assert isinstance(info.value, memlease.MemcacheConnectionError)
        # The timed-out connection was discarded, not returned to the pool. (An async caller's
        # timeout counts from its call's start, so it may return a moment before the
        # connection's own deadline retires it: drained or discarded, never reused out of step.)
        drained = {"open": 0, "idle": 0, "multiplexed": 0, "queued": 0}
        give_up = time.monotonic() + 1.0
        while c.pool_stats()[silent.address] != drained and time.monotonic() < give_up:
            time.sleep(0.01)
        assert c.pool_stats()[silent.address] == drained


def test_connect_refused(make_client: Any) -> None:
    port = memlease.testing.free_port()
    with (
        make_client(f"127.0.0.1:{port}") as c,
        pytest.raises(memlease.MemcacheConnectionError) as info,
    ):
        c.get("k")
    assert not isinstance(info.value, memlease.MemcacheTimeout)
    assert "refused" in str(info.value)


def test_connect_timeout(make_client: Any) -> None:
    # A listener whose accept queue is full drops SYNs: connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    try:
        with make_client(f"127.0.0.1:{port}", connect_timeout=0.2) as c:
            started = time.monotonic()
            with pytest.raises(memlease.ConnectTimeout):
                c.get("k")
            assert time.monotonic() - started < 1.0
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_pool_timeout_when_all_connections_are_busy(silent: SilentServer) -> None:
    with memlease.Client(silent.address, max_connections=1, timeout=1.0, pool_timeout=0.1) as c:
        blocked: list[BaseException] = []

        def hold_the_only_connection() -> None:
            try:
                # A large value is sent on a connection of its own (not combined with other
                # callers' requests), so it holds the pool's only connection.
                c.set("a", os.urandom(100_000))
            except memlease.MemcacheError as e:
                blocked.append(e)

        blocker = threading.Thread(target=hold_the_only_connection)
        blocker.start()
        time.sleep(0.2)  # the only connection is now waiting on the silent server
        started = time.monotonic()
        with pytest.raises(memlease.PoolTimeout):
            c.get("b")
        assert time.monotonic() - started < 0.6
        blocker.join()
        assert len(blocked) == 1 and isinstance(blocked[0], memlease.ReadTimeout)
        # The slot came back (the broken connection was closed, not leaked).
        assert c.pool_stats()[silent.address]["open"] == 0


def test_frozen_memcached_times_out_then_recovers(
    own_server: MemcachedServer, make_client: Any
) -> None:
    with make_client(own_server.address, timeout=0.5, failures_to_mark_down=1000) as c:
        c.set("k", "before")
        own_server.freeze()
        try:
            with pytest.raises(memlease.ReadTimeout):
                c.get("k")
        finally:
            own_server.thaw()
        # The late reply to the timed-out request must not be read as the reply to this one.
        c.set("k2", "after")
        assert c.get("k") == "before"
        assert c.get("k2") == "after"


def test_server_restart_is_survived_without_errors(
    own_server: MemcachedServer, make_client: Any
) -> None:
    with make_client(own_server.address) as c:
        for i in range(4):
            c.set(f"k{i}", i)  # several pooled connections would be nice; one suffices
        own_server.restart()
        time.sleep(0.01)
        # The pooled connection saw the restart (EOF) and is replaced transparently.
        assert c.get("k0") is None
        assert c.set("k0", "new") and c.get("k0") == "new"


def test_value_too_large_names_size_and_limit_and_drops_old_value(client: memlease.Client) -> None:
    client.set("big", "old value")
    payload = os.urandom(2 * 1024 * 1024)
    with pytest.raises(memlease.ValueTooLarge) as info:
        client.set("big", payload)
    assert info.value.size == len(payload)
    assert info.value.limit == 1024 * 1024
    assert "1048576" in str(info.value) and str(len(payload)) in str(info.value)
    assert client.get("big") is None  # not silently left behind
    # Learned limit: refused again without sending, still dropping the old value.
    client.set("big", "old again")
    with pytest.raises(memlease.ValueTooLarge):
        client.set("big", payload)
    assert client.get("big") is None
    # add never replaces, so a failed add leaves the existing value alone.
    client.set("kept", "mine")
    with pytest.raises(memlease.ValueTooLarge):
        client.add("kept", payload)
    assert client.get("kept") == "mine"


def test_value_too_large_in_set_many(client: memlease.Client) -> None:
    client.set_many({"small": 1, "huge": "old"})
    with pytest.raises(memlease.ValueTooLarge):
        client.set_many({"small": 2, "huge": os.urandom(2 * 1024 * 1024), "other": 3})
    assert client.get_many(["small", "huge", "other"]) == {"small": 2, "other": 3}


def test_bigger_item_limit_is_respected(make_client: Any) -> None:
    with MemcachedServer(item_size_max="4m") as srv, make_client(srv.address, timeout=2.0) as c:
        value = os.urandom(3 * 1024 * 1024)
        assert c.set("three_mb", value)
        assert c.get("three_mb") == value


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": float("inf")},
        {"timeout": float("nan")},
        {"connect_timeout": 0},
        {"pool_timeout": 1e9},
        {"max_connections": 0},
        {"max_connections": -1},
        {"timeout": "1"},
        {"timeout": None},
        {"compress_threshold": -5},
    ],
    ids=repr,
)
def test_bad_options_are_refused(
    server: MemcachedServer, options: dict[str, float], make_client: Any
) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, **options)


@pytest.mark.parametrize(
    "servers",
    ["", [], ["host:notaport"], ["host:0"], [("h", 70000)], [5], ["a:1", "a:1"], [("a:1", 0)]],
    ids=repr,
)
def test_bad_server_specs_are_refused(servers: object, make_client: Any) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client(servers)


def test_server_spec_forms(make_client: Any) -> None:
    c = make_client(
        [
            "cache1",
            "cache2:11212 3",
            ("cache3", 11213),
            ("cache4", 11214, 2),
            ("cache5:1", 4),
            "[::1]:5",
            "unix:/tmp/x.sock",
        ]
    )
    assert c.servers == [
        "cache1:11211",
        "cache2:11212",
        "cache3:11213",
        "cache4:11214",
        "cache5:1",
        "[::1]:5",
        "unix:/tmp/x.sock",
    ]


def test_unix_socket_server(make_client: Any) -> None:
    with MemcachedServer(unix_socket=True) as srv, make_client(srv.address) as c:
        assert c.set("u", "via unix socket")
        assert c.get("u") == "via unix socket"
