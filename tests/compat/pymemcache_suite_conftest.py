"""conftest.py for pymemcache 4.0.0's own ``test_integration.py``, run unmodified against
``memlease.compat.pymemcache`` (copied next to it by ``test_pymemcache_suite.py``).

It gives the suite what pymemcache's conftest gives it (``host``, ``port``, ``socket_module``,
``client_class``, ``key_prefix``), pointing at a throwaway memcached and at our classes. A few
tests build ``pymemcache.client.base.Client`` directly and expect ``pymemcache.exceptions``'
classes, so those names are rebound to ours before the suite is imported.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pymemcache.client.base
import pymemcache.exceptions
import pytest

from memlease.compat import pymemcache as compat
from memlease.testing import MemcachedServer

EXCEPTION_NAMES = [
    "MemcacheError",
    "MemcacheClientError",
    "MemcacheUnknownCommandError",
    "MemcacheIllegalInputError",
    "MemcacheServerError",
    "MemcacheUnknownError",
    "MemcacheUnexpectedCloseError",
]

pymemcache.client.base.Client = compat.Client
for _name in EXCEPTION_NAMES:
    setattr(pymemcache.exceptions, _name, getattr(compat, _name))


class HashClientSingle(compat.HashClient):
    """A HashClient of the one test server, as pymemcache's suite parametrizes it."""

    def __init__(self, server: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__([server], *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a memcached server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "socket_module" in metafunc.fixturenames:
        metafunc.parametrize("socket_module", [socket])
    if "client_class" in metafunc.fixturenames:
        metafunc.parametrize("client_class", [compat.Client, compat.PooledClient, HashClientSingle])
    explicit = metafunc.definition.get_closest_marker("parametrize")
    if "key_prefix" in metafunc.fixturenames and not (
        explicit and "key_prefix" in explicit.args[0]
    ):
        metafunc.parametrize("key_prefix", [b"", b"prefix"])


@pytest.fixture(scope="session")
def memcached() -> Iterator[MemcachedServer]:
    with MemcachedServer() as server:
        yield server


@pytest.fixture(scope="session")
def host(memcached: MemcachedServer) -> str:
    return memcached.host


@pytest.fixture(scope="session")
def port(memcached: MemcachedServer) -> int:
    assert memcached.port is not None
    return memcached.port


@pytest.fixture(scope="session")
def tls_host() -> None:
    pytest.skip("memlease has no TLS")


@pytest.fixture(scope="session")
def tls_port() -> None:
    pytest.skip("memlease has no TLS")


@pytest.fixture(scope="session")
def tls_context() -> None:
    pytest.skip("memlease has no TLS")
