"""memcached's ASCII authentication (``memcached -Y authfile``): ``username=`` / ``password=`` are
sent on each new connection before any request, on every I/O path and for every pool; a refusal
is an ``AuthenticationError`` that marks the server down (no retry loop), and the password never
shows in ``repr()``, errors, logs or ``health()``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memlease
from memlease import _logging
from memlease.testing import MemcachedServer

USER = "alice"
PASSWORD = "pw-Zq81xv"  # distinctive, so a leak anywhere is found by substring
WRONG = "wrong-Kt47mh"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[MemcachedServer]:
    with MemcachedServer(credentials=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture(scope="module")
def more_auth_servers() -> Iterator[tuple[MemcachedServer, MemcachedServer]]:
    with (
        MemcachedServer(credentials=(USER, PASSWORD)) as second,
        MemcachedServer(credentials=(USER, PASSWORD)) as third,
    ):
        yield second, third


def total_connections(server: MemcachedServer) -> int:
    """Connections the server has accepted so far (its own stats, read over an authenticated
    raw socket, which itself counts as one)."""
    with server._connect() as sock:
        token = f"{USER} {PASSWORD}".encode()
        sock.sendall(b"set a 0 0 %d\r\n%s\r\nstats\r\n" % (len(token), token))
        reply = b""
        while not reply.endswith(b"END\r\n"):
            reply += sock.recv(65536)
    for line in reply.decode().splitlines():
        if line.startswith("STAT total_connections "):
            return int(line.split()[2])
    raise AssertionError(f"no total_connections in {reply!r}")


def test_the_right_credentials_authenticate_every_new_connection(
    auth_server: MemcachedServer, make_client: Callable[..., Any]
) -> None:
    client = make_client(auth_server.address, username=USER, password=PASSWORD)
    assert client.set("auth:k", b"v")
    assert client.get("auth:k") == b"v"
    assert client.get_many(["auth:k", "auth:missing"]) == {"auth:k": b"v"}
    assert client.delete("auth:k")


def test_without_credentials_an_auth_server_refuses_requests(
    auth_server: MemcachedServer, make_client: Callable[..., Any]
) -> None:
    client = make_client(auth_server.address)
    with pytest.raises(memlease.ServerRejected, match="unauthenticated"):
        client.get("auth:k")


def test_a_wrong_password_is_an_authentication_error_then_the_server_is_left_alone(
    auth_server: MemcachedServer, make_client: Callable[..., Any]
) -> None:
    client = make_client(auth_server.address, username=USER, password=WRONG, mark_down_period=60.0)
    before = total_connections(auth_server)
    with pytest.raises(memlease.AuthenticationError) as refused:
        client.get("auth:k")
    message = str(refused.value)
    assert auth_server.address in message and USER in message, message
    assert WRONG not in message
    # Marked down: the next calls fail at once without opening connections (no retry loop).
    for _ in range(20):
        with pytest.raises(memlease.ServerDown):
            client.set("auth:k", b"v")
    opened = total_connections(auth_server) - before - 1  # minus the stats connection itself
    assert opened == 1, f"{opened} connections for one refused attempt"
    # The server is not desynchronised for a client with the right password.
    good = make_client(auth_server.address, username=USER, password=PASSWORD)
    assert good.set("auth:k", b"v") and good.get("auth:k") == b"v"


def test_every_pool_inherits_the_credentials(
    auth_server: MemcachedServer,
    more_auth_servers: tuple[MemcachedServer, MemcachedServer],
    make_client: Callable[..., Any],
) -> None:
    second, mirror = more_auth_servers
    client = make_client(
        pools={"default": [auth_server.address], "other": [second.address]},
        routes={"other:": "other"},
        mirror=[mirror.address],
        username=USER,
        password=PASSWORD,
    )
    assert client.set("main:k", b"1") and client.set("other:k", b"2")
    assert client.get("main:k") == b"1" and client.get("other:k") == b"2"
    # The mirror took the default pool's write over its own authenticated connections.
    reader = make_client(mirror.address, username=USER, password=PASSWORD)
    assert reader.get("main:k") == b"1"


@pytest.mark.parametrize(
    ("options", "detail"),
    [
        ({"username": USER}, "both or neither"),
        ({"password": PASSWORD}, "both or neither"),
        ({"username": USER, "password": "has space"}, "whitespace"),
        ({"username": "a:b", "password": PASSWORD}, "':'"),
        ({"username": "", "password": PASSWORD}, "non-empty"),
    ],
)
def test_credentials_memcached_cannot_carry_are_refused(
    options: dict[str, Any], detail: str
) -> None:
    for cls in (memlease.Client, memlease.AsyncClient):
        with pytest.raises(memlease.InvalidArgument, match=detail) as refused:
            cls("127.0.0.1:1", **options)
        assert PASSWORD not in str(refused.value) and "has space" not in str(refused.value)


def test_the_password_never_shows(
    auth_server: MemcachedServer,
    make_client: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="memlease")
    good = make_client(auth_server.address, username=USER, password=PASSWORD)
    bad = make_client(auth_server.address, username=USER, password=WRONG)
    good.set("auth:k", b"v")
    with pytest.raises(memlease.AuthenticationError) as refused:
        bad.get("auth:k")
    assert _logging.flush(10.0), "queued records were not delivered"
    shown = [
        repr(good),
        repr(bad),
        repr(refused.value),
        str(refused.value.args),
        repr(good.health()),
        repr(bad.health()),
        *(record.getMessage() + repr(record.__dict__) for record in caplog.records),
    ]
    assert any("refused the credentials" in text for text in shown[6:]), "the refusal is logged"
    for text in shown:
        assert PASSWORD not in text and WRONG not in text, text


def test_on_server_error_miss_raises_the_refusal_then_misses_while_down(
    auth_server: MemcachedServer, make_client: Callable[..., Any]
) -> None:
    client = make_client(
        auth_server.address,
        username=USER,
        password=WRONG,
        on_server_error="miss",
        mark_down_period=60.0,
    )
    with pytest.raises(memlease.AuthenticationError):
        client.get("auth:k")
    assert client.get("auth:k") is None
