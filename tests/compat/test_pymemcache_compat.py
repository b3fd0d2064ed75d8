"""memlease.compat.pymemcache beyond pymemcache's own suite: exception classes, options the
suite does not exercise, HashClient's server list, and sharing data with pymemcache."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pymemcache.client.base
import pytest
from pymemcache.serde import pickle_serde

import memlease
from memlease.compat import pymemcache as compat
from memlease.testing import MemcachedServer, free_port


@pytest.fixture
def client(server: MemcachedServer) -> Iterator[compat.Client]:
    with compat.Client((server.host, server.port), default_noreply=False) as c:
        c.flush_all()
        yield c


def test_exception_names_are_pymemcache_s_and_memlease_s() -> None:
    assert issubclass(compat.MemcacheClientError, memlease.ClientError)
    assert issubclass(compat.MemcacheIllegalInputError, compat.MemcacheClientError)
    assert issubclass(compat.MemcacheIllegalInputError, memlease.InvalidArgument)
    assert issubclass(compat.MemcacheUnknownCommandError, memlease.ServerRejected)
    assert issubclass(compat.MemcacheServerError, memlease.ServerError)
    assert issubclass(compat.MemcacheUnknownError, memlease.UnexpectedReply)
    assert issubclass(compat.MemcacheUnexpectedCloseError, compat.MemcacheServerError)
    assert issubclass(compat.MemcacheUnexpectedCloseError, memlease.MemcacheConnectionError)
    for name in compat.__all__:
        if name.startswith("Memcache"):
            assert issubclass(getattr(compat, name), memlease.MemcacheError)


def test_unreachable_server_raises_unexpected_close_and_the_memlease_class() -> None:
    c = compat.Client(("127.0.0.1", free_port()), connect_timeout=0.5, timeout=0.5)
    with pytest.raises(compat.MemcacheUnexpectedCloseError) as caught:
        c.set(b"k", b"v")
    assert isinstance(caught.value, memlease.MemcacheConnectionError)
    assert isinstance(caught.value, OSError)  # pymemcache raised the socket's error
    assert type(caught.value).__name__ == "MemcacheUnexpectedCloseError"


def test_ignore_exc_makes_failed_reads_misses() -> None:
    c = compat.Client(("127.0.0.1", free_port()), ignore_exc=True, connect_timeout=0.5)
    assert c.get(b"k", "fallback") == "fallback"
    assert c.get_many([b"k"]) == {}
    assert c.gets(b"k") == (None, None)
    with pytest.raises(compat.MemcacheUnexpectedCloseError):
        c.set(b"k", b"v")  # writes still raise, as in pymemcache


def test_timeouts_none_are_finite_defaults(client: compat.Client) -> None:
    assert client._options()["timeout"] == compat.DEFAULT_TIMEOUT
    assert client._options()["connect_timeout"] == compat.DEFAULT_CONNECT_TIMEOUT


def test_values_without_serde_are_stored_as_pymemcache_stores_them(
    client: compat.Client, server: MemcachedServer
) -> None:
    client.set(b"text", "plain")
    client.set(b"number", 42)
    assert client.get(b"text") == b"plain"
    assert client.get(b"number") == b"42"
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.set(b"text", "\u0fff")  # not ASCII: the last check of pymemcache's test_errors
    peer = pymemcache.client.base.Client((server.host, server.port))
    try:
        assert peer.get(b"number") == b"42"
    finally:
        peer.close()


def test_keys(client: compat.Client) -> None:
    # pymemcache's test_errors checks after the whitespace keys, which memlease encodes.
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.set("\u0fff", b"value")
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.get("\u0fff")
    # Deliberate differences: such keys are stored (encoded), not refused.
    for key in (b"key with spaces", b"\r\nflush_all", b"x" * 1024):
        assert client.set(key, b"kept") is True
        assert client.get(key) == b"kept"


def test_noreply_and_flags(server: MemcachedServer) -> None:
    c = compat.Client((server.host, server.port))  # default_noreply=True, like pymemcache
    assert c.add(b"once", b"1") is True
    assert c.add(b"once", b"2") is True  # noreply: pymemcache answers True without looking
    assert c.add(b"once", b"2", noreply=False) is False
    assert c.delete(b"absent") is True
    assert c.set(b"flagged", b"v", flags=7) is True
    peer = memlease.Client(server.address, serde="raw")
    assert peer.meta_get(b"flagged", "f").client_flags == 7
    peer.close()


def test_method_surface(client: compat.Client, server: MemcachedServer) -> None:
    assert client.set_many({b"a": b"1", "b": b"2"}) == []
    assert client.get_multi([b"a", "b", b"c"]) == {b"a": b"1", "b": b"2"}
    many = client.gets_many([b"a", b"c"])
    assert list(many) == [b"a"] and many[b"a"][0] == b"1"
    assert isinstance(many[b"a"][1], bytes) and many[b"a"][1].isdigit()
    assert client.delete_multi([b"a", "b"]) is True
    assert client.get_many([b"a", "b"]) == {}
    assert client.incr(b"n", 1) is None
    client.set(b"n", b"5")
    assert client.incr(b"n", 2) == 7
    assert client.decr(b"n", 10) == 0
    assert client.incr(b"n", 1, noreply=True) is None
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.incr(b"n", b"foobar")  # type: ignore[arg-type]
    client[b"item"] = b"x"
    assert client[b"item"] == b"x" and b"item" in client
    del client[b"item"]
    with pytest.raises(KeyError):
        client[b"item"]
    assert client.touch(b"n", 10) is True
    assert client.version() == memlease.Client(server.address).version()[server.address].encode()
    stats = client.stats()
    assert isinstance(stats[b"curr_connections"], int)
    assert isinstance(stats[b"version"], bytes)
    assert b"item_size_max" in client.stats("settings")
    assert client.cache_memlimit(64) is True
    assert client.raw_command("version").startswith(b"VERSION ")
    with pytest.raises(compat.MemcacheUnknownCommandError):
        client.raw_command("no_such_command")
    client.quit()
    assert client.set(b"after-quit", b"1") is True  # reconnects, as pymemcache does


def test_cas_contract(client: compat.Client) -> None:
    assert client.cas(b"k", b"v", b"1") is None
    client.set(b"k", b"v")
    _, token = client.gets(b"k")
    # pymemcache hands CAS tokens out as the server's digits, in bytes.
    assert isinstance(token, bytes) and token.isdigit()
    assert client.cas(b"k", b"w", token.decode()) is True
    assert client.cas(b"k", b"x", token) is False
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.cas(b"k", b"x", b"12a")


def test_key_prefix_and_sharing_with_pymemcache(server: MemcachedServer) -> None:
    ours = compat.PooledClient(
        f"{server.host}:{server.port}", serde=pickle_serde, key_prefix=b"app:", max_pool_size=2
    )
    theirs = pymemcache.client.base.Client(
        (server.host, server.port), serde=pickle_serde, key_prefix=b"app:"
    )
    try:
        ours.set("shared", {"a": 1})
        assert theirs.get("shared") == {"a": 1}
        theirs.set("back", [1, 2], noreply=False)  # pymemcache defaults to noreply
        assert ours.get("back") == [1, 2]
    finally:
        theirs.close()
        ours.close()


def test_hash_client_servers(cluster: list[MemcachedServer]) -> None:
    first, second, third = ((s.host, s.port) for s in cluster)
    c = compat.HashClient([first, second], default_noreply=False)
    from pymemcache.client.hash import HashClient as PymemcacheHashClient

    theirs = PymemcacheHashClient([first, second])
    keys = [f"h{i}".encode() for i in range(40)]
    assert c.set_many({k: b"v" for k in keys}) == []
    # Same placement as pymemcache's HashClient: it finds every key on the server it expects.
    try:
        assert theirs.get_many(keys) == {k: b"v" for k in keys}
    finally:
        theirs.close()
    c.add_server(*third)
    assert len(c.servers) == 3
    c.remove_server(first)
    assert (first[0], first[1]) not in c.servers
    assert c.get_many(keys, gets=True).keys() <= set(keys)
    with pytest.raises(compat.MemcacheClientError):
        compat.HashClient([first], hasher=object)
    c.close()


def test_tls_is_refused(server: MemcachedServer) -> None:
    import ssl

    with pytest.raises(compat.MemcacheClientError):
        compat.Client((server.host, server.port), tls_context=ssl.create_default_context())


def test_raw_command_reads_up_to_its_end_tokens(client: compat.Client) -> None:
    stats = client.raw_command("stats", "END\r\n")
    assert stats.startswith(b"STAT pid ") and stats.endswith(b"\r\n")
    client.set(b"raw", b"value")
    assert client.raw_command(b"mg raw v", b"\r\nvalue\r\n") == b"VA 5"
    # An unknown command fails at once instead of waiting for an end that never comes.
    with pytest.raises(compat.MemcacheUnknownCommandError):
        client.raw_command("no_such_command", "END\r\n")
    # A reply that goes on past the end named is refused (when its rest is already read) and
    # its connection retired: the next command reads its own reply, never this one's rest.
    with contextlib.suppress(compat.MemcacheError):
        assert client.raw_command("stats", "\r\n").startswith(b"STAT pid ")
    assert client.raw_command("version").startswith(b"VERSION ")
    with pytest.raises(compat.MemcacheIllegalInputError):
        client.raw_command("version", b"")


def test_raw_command_whose_end_never_comes_times_out(server: MemcachedServer) -> None:
    with compat.Client((server.host, server.port), timeout=0.2) as c:
        started = time.monotonic()
        with pytest.raises(compat.MemcacheUnexpectedCloseError):
            c.raw_command("version", "no such end")
        assert time.monotonic() - started < 1.0
        assert c.raw_command("version").startswith(b"VERSION ")
