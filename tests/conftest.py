"""Fixtures: real memcached processes on free loopback ports, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import memlease
from memlease.testing import MemcachedServer


@pytest.fixture(scope="session")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def cluster() -> Iterator[list[MemcachedServer]]:
    """Three servers, for placement and multi-server tests."""
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        yield servers
    finally:
        for srv in servers:
            srv.stop()


@pytest.fixture
def client(server: MemcachedServer) -> Iterator[memlease.Client]:
    with memlease.Client(server.address) as c:
        c.flush_all()
        yield c


@pytest.fixture
def cluster_client(cluster: list[MemcachedServer]) -> Iterator[memlease.Client]:
    with memlease.Client([s.address for s in cluster]) as c:
        c.flush_all()
        yield c


@pytest.fixture
def own_server() -> Iterator[MemcachedServer]:
    """A server of the test's own, which it may stop, restart or freeze."""
    with MemcachedServer() as srv:
        yield srv
