"""The core's tracing events reach Python's logging under `memlease`, at the documented levels
(python/memlease/_logging.py), only when enabled, and without deadlocks whatever thread they
come from."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import memlease
from memlease import _logging
from memlease.testing import MemcachedServer
from tests.proxies import LaggingProxy


def memlease_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    assert _logging.flush(10.0), "queued records were not delivered"
    return [r for r in caplog.records if r.name.split(".")[0] == "memlease"]


def fail_until_marked_down(client: Any) -> None:
    with pytest.raises(memlease.MemcacheConnectionError):
        client.get("k")


def test_mark_down_is_a_warning_and_rejoin_info(
    own_server: MemcachedServer, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memlease")
    client = make_client(own_server.address, timeout=0.5, mark_down_period=0.2)
    client.set("k", "v")
    own_server.stop()
    fail_until_marked_down(client)
    (down,) = [r for r in memlease_records(caplog) if "marked down" in r.getMessage()]
    assert down.levelno == logging.WARNING
    assert down.name == "memlease.route.health"
    assert down.server == own_server.address  # type: ignore[attr-defined]
    assert own_server.address in down.getMessage()

    own_server.restart()
    time.sleep(0.3)  # past the mark-down period: the next call probes the server
    assert client.get("k") is None  # the restarted server is empty
    (rejoined,) = [r for r in memlease_records(caplog) if "rejoined" in r.getMessage()]
    assert rejoined.levelno == logging.INFO
    assert rejoined.server == own_server.address  # type: ignore[attr-defined]


def test_nothing_reaches_python_when_the_level_is_above(
    own_server: MemcachedServer,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed_over: list[tuple[Any, ...]] = []
    monkeypatch.setattr(_logging, "_emit", lambda *args: handed_over.append(args))
    caplog.set_level(logging.ERROR, logger="memlease")
    client = make_client(own_server.address, timeout=0.5, mark_down_period=0.2)
    own_server.stop()
    fail_until_marked_down(client)
    # Filtered in the core from the cached level: no record was even built.
    assert memlease_records(caplog) == []
    assert handed_over == []
    # A level lowered through logging's API applies at once.
    logging.getLogger("memlease").setLevel(logging.WARNING)
    time.sleep(0.3)
    fail_until_marked_down(client)  # the probe fails: "still down"
    assert _logging.flush(10.0)
    assert [args[1] for args in handed_over] == [logging.WARNING]


def test_disabled_logger_drops_in_the_core(
    own_server: MemcachedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_over: list[tuple[Any, ...]] = []
    monkeypatch.setattr(_logging, "_emit", lambda *args: handed_over.append(args))
    caplog.set_level(logging.DEBUG, logger="memlease")
    logging.disable(logging.CRITICAL)
    try:
        client = memlease.Client(own_server.address, timeout=0.5, mark_down_period=0.2)
        own_server.stop()
        fail_until_marked_down(client)
        assert _logging.flush(10.0)
    finally:
        logging.disable(logging.NOTSET)
    assert handed_over == []
    # Enabled again: the probe's failure ("still down") is handed over.
    time.sleep(0.3)
    fail_until_marked_down(client)
    client.close()
    assert _logging.flush(10.0)
    assert [args[1] for args in handed_over] == [logging.WARNING]


@pytest.fixture
def lagging(server: MemcachedServer) -> Iterator[LaggingProxy]:
    proxy = LaggingProxy(server)
    yield proxy
    proxy.close()


def test_protocol_violation_is_an_error(
    lagging: LaggingProxy, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="memlease")
    client = make_client(lagging.address, max_connections=1, failures_to_mark_down=1000)
    client.set("a", "1")
    with pytest.raises(memlease.UnexpectedReply):
        for _ in range(5):  # the proxy answers each request with the previous reply
            client.set("b", "2")
            client.get("a")
    errors = [r for r in memlease_records(caplog) if r.levelno == logging.ERROR]
    assert errors, "no ERROR record for the protocol violation"
    assert errors[0].server == lagging.address  # type: ignore[attr-defined]
    assert "protocol violation" in errors[0].getMessage()


def test_many_threads_and_asyncio_with_a_handler_using_memlease(
    own_server: MemcachedServer, server: MemcachedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Events from client threads, blocking calls and tokio workers, delivered while every one of
    them keeps calling; the handler itself calls memlease (on the logging thread)."""
    caplog.set_level(logging.DEBUG, logger="memlease")
    reporter = memlease.Client(server.address)

    class UsesMemlease(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reporter.set("last-log", record.getMessage()[:200])

    handler = UsesMemlease()
    logging.getLogger("memlease").addHandler(handler)
    options: dict[str, Any] = {"timeout": 0.2, "mark_down_period": 0.05}
    sync = memlease.Client(own_server.address, **options)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            with contextlib.suppress(memlease.MemcacheError):
                sync.get("k")

    async def async_hammer() -> None:
        async with memlease.AsyncClient(own_server.address, **options) as client:
            while not stop.is_set():
                try:
                    await client.get("k")
                except memlease.MemcacheError:
                    await asyncio.sleep(0.001)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    threads.append(threading.Thread(target=asyncio.run, args=(async_hammer(),)))
    try:
        for thread in threads:
            thread.start()
        for _ in range(3):
            own_server.stop()
            time.sleep(0.2)
            own_server.restart()
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        assert not any(thread.is_alive() for thread in threads), "a client thread is stuck"
        records = memlease_records(caplog)
    finally:
        stop.set()
        logging.getLogger("memlease").removeHandler(handler)
        sync.close()
    levels = {r.levelno for r in records}
    assert {logging.WARNING, logging.INFO} <= levels
    assert reporter.get("last-log") is not None
    reporter.close()


def test_an_application_without_logging_config_gets_nothing_on_stderr() -> None:
    # With no handler anywhere, logging's last-resort handler would print our WARNINGs on
    # stderr (the `memlease` tool's one-line error got a second line in CI): the library's
    # logger has a NullHandler, as the logging HOWTO asks of libraries.
    import subprocess
    import sys

    script = (
        "import memlease\n"
        "from memlease import _logging\n"
        "client = memlease.Client(['127.0.0.1:1'], connect_timeout=0.5)\n"
        "try:\n"
        "    client.get('k')\n"
        "except memlease.MemcacheConnectionError:\n"
        "    pass\n"
        "assert _logging.flush(10.0)\n"
        "print('done')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "done\n"
    assert run.stderr == ""
