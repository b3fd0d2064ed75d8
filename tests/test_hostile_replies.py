"""A server whose replies do not belong to the request they answer.

The lagging proxy sits in front of a real memcached and, on each connection, answers the first
request correctly and every later one with the reply to the request before it: the classic
"one reply behind" desynchronisation. Whatever the client does, it must never return another
key's value, and a connection that saw a reply that does not fit is retired, so the next call
(on a fresh connection) succeeds instead of failing forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer
from tests.proxies import LaggingProxy


@pytest.fixture
def lagging(server: MemcachedServer) -> Iterator[LaggingProxy]:
    proxy = LaggingProxy(server)
    yield proxy
    proxy.close()


def _client(make_client: Any, proxy: LaggingProxy) -> Any:
    # Mark-down would hide the behaviour under test (calls refused without I/O).
    return make_client(proxy.address, max_connections=1, failures_to_mark_down=1000, timeout=0.5)


VALUES = {f"key{i}": f"value of key{i}" for i in range(8)}


def test_a_reply_behind_never_returns_another_keys_value(
    server: MemcachedServer, lagging: LaggingProxy, make_client: Any
) -> None:
    direct = make_client(server.address)
    for key, value in VALUES.items():
        direct.set(key, value)
    client = _client(make_client, lagging)
    served = errors = 0
    reads: list[Callable[[str], object]] = [
        lambda key: client.get(key),
        lambda key: client.meta_get(key, "v O77").value,
        lambda key: client.get_many([key, "key0"]).get(key),
    ]
    # Consecutive requests are for different keys, so a reply one behind is another key's.
    for _ in range(6):
        for read in reads:
            for key, value in VALUES.items():
                try:
                    got = read(key)
                except memlease.MemcacheError:
                    errors += 1
                    continue
                served += 1
                assert got in (value, None), (key, got)
                assert got is not None, f"{key} missed after a reply for another request"
    # The first request of each connection is answered in step, so reads keep succeeding:
    # each error retired its connection instead of leaving it out of step for good.
    assert served >= 6 * len(VALUES), (served, errors)
    assert errors > 0
    assert lagging.connections > errors // 2


def test_the_callers_own_opaque_is_checked(lagging: LaggingProxy, make_client: Any) -> None:
    client = _client(make_client, lagging)
    client.set("a", "A")  # answered in step
    # This request is answered with the reply to the `set`: HD tagged with another token.
    with pytest.raises(memlease.UnexpectedReply):
        client.meta_get("b", "v O77")
    # A fresh connection: in step again.
    assert client.meta_get("a", "v O5").value == "A"


def test_plain_reads_recover_on_a_fresh_connection(lagging: LaggingProxy, make_client: Any) -> None:
    client = _client(make_client, lagging)
    client.set("a", "A")  # in step: first request of the connection
    with pytest.raises(memlease.UnexpectedReply):
        client.get("a")  # answered with the set's HD
    # Not out of step forever: the refused connection was replaced.
    assert client.get("a") == "A"
    assert lagging.connections == 2
