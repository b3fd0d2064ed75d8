"""Every Client method against a real memcached, with pymemcache-like semantics."""

from __future__ import annotations

import time
from typing import Any

import pytest

import memlease
from memlease.testing import MemcachedServer


def test_get_set_and_default(client: memlease.Client) -> None:
    assert client.get("absent") is None
    assert client.get("absent", default="fallback") == "fallback"
    assert client.set("k", "value") is True
    assert client.get("k") == "value"
    assert client.set("k", "other") is True
    assert client.get("k") == "other"


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"bytes\r\nwith\x00crlf",
        "text",
        "unicod\u00e9 \u2603",
        0,
        -5,
        2**80,
        1.5,
        True,
        None,
        [1, "two", {"three": 3}],
        ("t", 1),
        {"nested": [b"x"]},
    ],
    ids=repr,
)
def test_values_round_trip_with_their_type(client: memlease.Client, value: object) -> None:
    client.set("v", value)
    got = client.get("v")
    assert got == value
    assert type(got) is type(value)


def test_add_only_when_absent(client: memlease.Client) -> None:
    assert client.add("k", 1) is True
    assert client.add("k", 2) is False
    assert client.get("k") == 1


def test_replace_only_when_present(client: memlease.Client) -> None:
    assert client.replace("k", 1) is False
    assert client.get("k") is None
    client.set("k", 1)
    assert client.replace("k", 2) is True
    assert client.get("k") == 2


def test_append_and_prepend(client: memlease.Client) -> None:
    assert client.append("k", b"x") is False
    assert client.prepend("k", b"x") is False
    client.set("k", b"mid")
    assert client.append("k", b">>") is True
    assert client.prepend("k", b"<<") is True
    assert client.get("k") == b"<<mid>>"


def test_gets_and_cas(client: memlease.Client) -> None:
    # A miss unpacks like a hit, as in pymemcache: (default, cas_default).
    assert client.gets("k") == (None, None)
    assert client.gets("k", "absent", 0) == ("absent", 0)
    assert client.gets("k", default="d", cas_default=-1) == ("d", -1)
    client.set("k", "v1")
    value, cas = client.gets("k", "unused")
    assert value == "v1"
    assert isinstance(cas, int) and cas > 0
    assert client.cas("k", "v2", cas) is True
    # The token is spent: the item's CAS changed with the write.
    assert client.cas("k", "v3", cas) is False
    assert client.get("k") == "v2"
    client.delete("k")
    # A missing key is None, not False: nothing to conflict with.
    assert client.cas("k", "v4", cas) is None
    assert client.get("k") is None


def test_cas_accepts_64_bit_tokens(client: memlease.Client) -> None:
    client.set("k", "v")
    assert client.cas("k", "x", 2**64 - 1) is False
    with pytest.raises(memlease.InvalidArgument):
        client.cas("k", "x", 2**64)
    with pytest.raises(memlease.InvalidArgument):
        client.cas("k", "x", -1)


def test_delete(client: memlease.Client) -> None:
    assert client.delete("k") is False
    client.set("k", 1)
    assert client.delete("k") is True
    assert client.get("k") is None


def test_touch_changes_ttl(client: memlease.Client) -> None:
    assert client.touch("k", 10) is False
    client.set("k", 1)
    assert client.meta_get("k", "t").ttl == -1
    assert client.touch("k", 100) is True
    ttl = client.meta_get("k", "t").ttl
    assert ttl is not None and 98 <= ttl <= 100


def test_ttl_semantics(client: memlease.Client) -> None:
    client.set("forever", 1, ttl=0)
    assert client.meta_get("forever", "t").ttl == -1
    client.set("relative", 1, ttl=50)
    ttl = client.meta_get("relative", "t").ttl
    assert ttl is not None and 48 <= ttl <= 50
    # More than 30 days is an absolute Unix time.
    client.set("absolute", 1, ttl=int(time.time()) + 1000)
    ttl = client.meta_get("absolute", "t").ttl
    assert ttl is not None and 990 <= ttl <= 1001
    # Negative expires at once.
    client.set("gone", 1, ttl=-1)
    assert client.get("gone") is None


def test_item_expires(client: memlease.Client) -> None:
    client.set("short", 1, ttl=1)
    assert client.get("short") == 1
    deadline = time.monotonic() + 4
    while client.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get("short") is None


def test_incr_decr(client: memlease.Client) -> None:
    assert client.incr("n") is None
    assert client.get("n") is None
    assert client.incr("n", initial=10) == 10  # created holding `initial`
    assert client.incr("n") == 11
    assert client.incr("n", 5) == 16
    assert client.decr("n", 6) == 10
    assert client.decr("n", 100) == 0  # floors at zero
    assert client.decr("absent", initial=3, ttl=100) == 3
    ttl = client.meta_get("absent", "t").ttl
    assert ttl is not None and 98 <= ttl <= 100
    client.set("n", 2**64 - 1)
    assert client.incr("n") == 0  # wraps like memcached
    # A counter is readable through get as an int (flag 2 is not set by the server, so the
    # value comes back as the stored digits).
    client.set("c", 5)
    assert client.incr("c", 2) == 7
    assert client.get("c") == 7


def test_incr_rejects_bad_input(client: memlease.Client) -> None:
    client.set("text", "abc")
    with pytest.raises(memlease.ServerRejected, match="non-numeric"):
        client.incr("text")
    with pytest.raises(memlease.InvalidArgument):
        client.incr("n", -1)
    with pytest.raises(memlease.InvalidArgument):
        client.incr("n", initial=-1)
    # The connection is still in step after the rejection.
    client.set("after", 1)
    assert client.get("after") == 1


def test_flush_all(client: memlease.Client) -> None:
    client.set("a", 1)
    client.set("b", 2)
    client.flush_all()
    assert client.get("a") is None
    assert client.get("b") is None


def test_stats_and_version(client: memlease.Client, server) -> None:
    stats = client.stats()
    assert list(stats) == [server.address]
    version = stats[server.address]["version"]
    assert isinstance(version, str) and version.count(".") == 2
    assert isinstance(stats[server.address]["curr_connections"], int)
    settings = client.stats("settings")[server.address]
    assert settings["item_size_max"] == 1024 * 1024
    assert client.version() == {server.address: stats[server.address]["version"]}
    with pytest.raises(memlease.InvalidArgument):
        client.stats("a b")
    with pytest.raises(memlease.InvalidArgument):
        client.stats("cachedump", "")
    assert client.stats("reset") == {server.address: {}}


def test_stats_takes_several_words(make_client: Any) -> None:
    with MemcachedServer() as own:  # cachedump lists a bounded number of a slab's items
        client = make_client(own.address)
        client.set("dumped", b"12345")
        slabs = client.stats("slabs")[own.address]
        slab_ids = {name.split(":")[0] for name in slabs if name.endswith(":chunk_size")}
        assert slab_ids
        # `stats cachedump <slab> <limit>` answers ITEM lines: {key: "[size b; expiry s]"}. It
        # lists the cold LRU only, where memcached's LRU maintainer moves a new item shortly.
        dump: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while "dumped" not in dump and time.monotonic() < deadline:
            for slab in slab_ids:
                dump.update(client.stats("cachedump", slab, "0")[own.address])
            time.sleep(0.05)
        assert dump["dumped"] == "[5 b; 0 s]"


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("set", ("k", 1, 1.5)),
        ("set", ("k", 1, "10")),
        ("set", ("k", 1, 2**63)),
        ("touch", ("k", None)),
        ("incr", ("k", -1)),
        ("incr", ("k", 1.0)),
        ("decr", ("k", 2**64)),
        ("cas", ("k", 1, "7")),
        ("flush_all", (-1,)),
    ],
)
def test_bad_numbers_raise_invalid_argument(
    client: memlease.Client, call: str, args: tuple[object, ...]
) -> None:
    with pytest.raises(memlease.InvalidArgument):
        getattr(client, call)(*args)


def test_context_manager_closes(server, make_client: Any) -> None:
    with make_client(server.address) as c:
        c.set("k", 1)
    with pytest.raises(memlease.MemcacheConnectionError, match="closed"):
        c.get("k")
