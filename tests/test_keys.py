"""Keys: str or bytes; anything non-empty works, empty or other types are refused."""

from __future__ import annotations

import socket

import pytest

import memlease
from memlease.testing import MemcachedServer


def raw_meta_get(server: MemcachedServer, line: bytes) -> bytes:
    """Ask the server directly, bypassing memlease, to see what key was really stored."""
    with socket.create_connection((server.host, server.port), timeout=2) as sock:
        sock.sendall(line + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n") or (reply.startswith(b"VA") and reply.count(b"\r\n") < 2):
            reply += sock.recv(4096)
        return reply


def test_str_and_bytes_name_the_same_key(client: memlease.Client) -> None:
    client.set("plain", 1)
    assert client.get(b"plain") == 1
    client.set("caf\u00e9", 2)
    assert client.get("caf\u00e9".encode()) == 2


def test_printable_keys_go_on_the_wire_as_is(client: memlease.Client, server) -> None:
    client.set("user:42", b"v")
    assert raw_meta_get(server, b"mg user:42 v") == b"VA 1\r\nv\r\n"


@pytest.mark.parametrize(
    "key",
    [
        "with space",
        "tab\there",
        "new\nline",
        b"\x00\x01\xff",
        "\u2603 snowman",
        "x" * 186 + " ",  # needs base64, at the binary limit
        "k" * 250,  # longest plain key
        "k" * 251,  # digest
        b"\xff" * 187,  # digest
        "y" * 10_000,
    ],
    ids=lambda k: f"{type(k).__name__}{len(k)}",
)
def test_any_nonempty_key_works(client: memlease.Client, key: str | bytes) -> None:
    assert client.set(key, "value") is True
    assert client.get(key) == "value"
    assert client.get_many([key]) == {key: "value"}
    assert client.delete(key) is True
    assert client.get(key) is None


def test_binary_keys_are_stored_as_their_bytes(client: memlease.Client, server) -> None:
    client.set(b"bin\x00key", b"v")
    # base64("bin\0key") with the b flag reaches the same item.
    assert raw_meta_get(server, b"mg YmluAGtleQ== b v") == b"VA 1\r\nv\r\n"


def test_long_keys_map_to_a_documented_digest(client: memlease.Client, server) -> None:
    import hashlib

    key = "long:" + "z" * 300
    client.set(key, b"v")
    digest = hashlib.blake2b(key.encode(), digest_size=32).hexdigest()
    assert (
        raw_meta_get(server, b"mg memlease-digest:" + digest.encode() + b" v") == b"VA 1\r\nv\r\n"
    )


def test_distinct_long_keys_do_not_collide(client: memlease.Client) -> None:
    a, b = "p" * 300 + "a", "p" * 300 + "b"
    client.set(a, 1)
    client.set(b, 2)
    assert (client.get(a), client.get(b)) == (1, 2)


@pytest.mark.parametrize("bad", ["", b"", None, 5, 1.5, ["k"], bytearray(b"k")], ids=repr)
def test_bad_keys_raise_invalid_key(client: memlease.Client, bad: object) -> None:
    with pytest.raises(memlease.InvalidKey):
        client.get(bad)  # type: ignore[arg-type]
    with pytest.raises(memlease.InvalidKey):
        client.set(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(memlease.InvalidKey):
        client.get_many(["ok", bad])  # type: ignore[type-var]
    assert issubclass(memlease.InvalidKey, memlease.ClientError)
    assert issubclass(memlease.InvalidKey, memlease.MemcacheError)
