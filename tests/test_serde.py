"""Values: pymemcache-compatible layout, compression, custom and raw serdes."""

from __future__ import annotations

import os
import pickle
import zlib
from typing import Any

import pytest
from pymemcache.client.base import Client as PymemcacheClient
from pymemcache.serde import CompressedSerde, pickle_serde

import memlease
from memlease.testing import MemcachedServer

SAMPLES: list[Any] = [
    b"raw bytes",
    "text \u00e9",
    42,
    -7,
    2**70,
    3.25,
    True,
    None,
    [1, {"a": (2, 3)}],
]


@pytest.fixture
def peer(server: MemcachedServer) -> PymemcacheClient:
    peer = PymemcacheClient((server.host, server.port), serde=pickle_serde, default_noreply=False)
    yield peer
    peer.close()


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_pymemcache_reads_what_memlease_wrote(client: memlease.Client, peer, value: Any) -> None:
    client.set("interop", value)
    got = peer.get("interop")
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_memlease_reads_what_pymemcache_wrote(client: memlease.Client, peer, value: Any) -> None:
    peer.set("interop", value)
    got = client.get("interop")
    assert got == value and type(got) is type(value)


def test_flags_are_pymemcache_flags(client: memlease.Client) -> None:
    for value, flags in [(b"b", 0), ("s", 16), (5, 2), ([5], 1)]:
        client.set("f", value)
        assert client.meta_get("f", "f").client_flags == flags, value


def test_compression_interop_with_pymemcache_compressed_serde(client, server) -> None:
    peer = PymemcacheClient(
        (server.host, server.port),
        serde=CompressedSerde(serde=pickle_serde, min_compress_len=400),
        default_noreply=False,
    )
    big_text = "compressible " * 5000
    client.set("z", big_text)
    result = client.meta_get("z", "f s")
    assert result.client_flags == 16 | 8
    assert result.size is not None and result.size < len(big_text) // 10
    assert peer.get("z") == big_text
    peer.set("z2", {"list": list(range(5000))})
    assert client.get("z2") == {"list": list(range(5000))}
    peer.close()


def test_incompressible_values_are_stored_plain(client: memlease.Client) -> None:
    noise = os.urandom(50_000)
    client.set("noise", noise)
    assert client.meta_get("noise", "f").client_flags == 0
    assert client.get("noise") == noise


def test_compression_threshold_is_configurable(server, make_client: Any) -> None:
    text = "a" * 1000
    with make_client(server.address, compress_threshold=100) as small:
        small.set("c", text)
        assert small.meta_get("c", "f").client_flags == 16 | 8
        assert small.get("c") == text
    with make_client(server.address, compress_threshold=None) as never:
        never.set("c", "a" * 100_000)
        assert never.meta_get("c", "f").client_flags == 16


def test_corrupt_compressed_data_raises(client: memlease.Client) -> None:
    client.meta_set("bad", b"not zlib", "F9")
    with pytest.raises(memlease.SerializationError, match="zlib"):
        client.get("bad")
    client.meta_set("bad", zlib.compress(b"\xff\xfe"), "F24")
    with pytest.raises(memlease.SerializationError, match="UTF-8"):
        client.get("bad")


def test_pickle_can_be_switched_off(server, make_client: Any) -> None:
    with (
        make_client(server.address, pickle=False) as safe,
        make_client(server.address) as normal,
    ):
        normal.set("obj", {"a": 1})
        with pytest.raises(memlease.SerializationError, match="unpickling is disabled"):
            safe.get("obj")
        with pytest.raises(memlease.SerializationError, match="pickle disabled"):
            safe.set("obj2", {"a": 1})
        assert safe.set("fine", "text") and safe.get("fine") == "text"
        assert safe.set("n", 5) and safe.get("n") == 5


def test_unpicklable_value_raises(client: memlease.Client) -> None:
    with pytest.raises(memlease.SerializationError, match="cannot pickle"):
        client.set("lambda", lambda: None)
    client.meta_set("broken", b"\x80\x05garbage", "F1")
    with pytest.raises(memlease.SerializationError, match="unpickle"):
        client.get("broken")


def test_raw_mode(server, make_client: Any) -> None:
    with make_client(server.address, serde="raw") as raw:
        raw.set("r", b"\x00bytes")
        assert raw.get("r") == b"\x00bytes"
        raw.set("r", bytearray(b"ba"))
        assert raw.get("r") == b"ba"
        with pytest.raises(memlease.SerializationError, match="expected bytes"):
            raw.set("r", "text")
        assert raw.meta_get("r", "f").client_flags == 0


class JsonSerde:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def serialize(self, key: object, value: object) -> tuple[bytes, int]:
        import json

        self.calls.append(("serialize", key))
        return json.dumps(value).encode(), 77

    def deserialize(self, key: object, data: bytes, flags: int) -> object:
        import json

        self.calls.append(("deserialize", key))
        assert flags == 77
        return json.loads(data)


def test_custom_serde(server, make_client: Any) -> None:
    serde = JsonSerde()
    with make_client(server.address, serde=serde) as c:
        c.set("j", {"a": [1, 2]})
        assert c.get("j") == {"a": [1, 2]}
        assert c.get_many(["j"]) == {"j": {"a": [1, 2]}}
        assert c.meta_get("j", "f").client_flags == 77
    assert serde.calls[:2] == [("serialize", "j"), ("deserialize", "j")]


def test_bad_serde_objects(server, make_client: Any) -> None:
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, serde=object())
    with pytest.raises(memlease.InvalidArgument):
        make_client(server.address, serde="json")

    class Broken:
        def serialize(self, key: object, value: object) -> object:
            return "not a tuple"

        def deserialize(self, key: object, data: bytes, flags: int) -> object:
            return data

    broken: Any = Broken()
    with (
        make_client(server.address, serde=broken) as c,
        pytest.raises(memlease.SerializationError),
    ):
        c.set("k", 1)


def test_pickled_values_use_highest_protocol(client: memlease.Client, make_client: Any) -> None:
    client.set("p", {"x": 1})
    raw = client.meta_get("p", "v")
    assert raw.client_flags == 1
    assert raw.value == {"x": 1}
    # Readable by plain pickle, as python-memcached / pymemcache do.
    with make_client(client.servers[0], serde="raw") as raw_client:
        assert pickle.loads(raw_client.get("p")) == {"x": 1}


class FailingSerde:
    """Raises its own exception type from serialize or deserialize."""

    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on

    def serialize(self, key: object, value: object) -> tuple[bytes, int]:
        if self.fail_on == "serialize":
            raise KeyError("no encoder for this value")
        return b"data", 5

    def deserialize(self, key: object, data: bytes, flags: int) -> object:
        if self.fail_on == "deserialize":
            raise UnicodeDecodeError("utf-8", data, 0, 1, "bad stored data")
        return data


def test_custom_serde_errors_are_serialization_errors_with_the_cause(
    server, make_client: Any
) -> None:
    failing_writes: Any = FailingSerde("serialize")
    with make_client(server.address, serde=failing_writes) as c:
        for method, argument in (("set", "serde-fails"), ("set_many", {"serde-fails": 1})):
            with pytest.raises(memlease.SerializationError) as caught:
                getattr(c, method)(argument, 1) if method == "set" else c.set_many(argument)
            assert isinstance(caught.value.__cause__, KeyError)
    failing_reads: Any = FailingSerde("deserialize")
    with make_client(server.address, serde=failing_reads) as c:
        assert c.set("serde-fails", 1)
        reads: tuple[tuple[str, Any], ...] = (("get", "serde-fails"), ("get_many", ["serde-fails"]))
        for method, argument in reads:
            with pytest.raises(memlease.SerializationError) as caught:
                getattr(c, method)(argument)
            assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_pickle_errors_keep_their_cause(client: memlease.Client) -> None:
    with pytest.raises(memlease.SerializationError) as caught:
        client.set("unpicklable", lambda: None)
    assert caught.value.__cause__ is not None


def test_custom_serde_memlease_errors_pass_through(server, make_client: Any) -> None:
    class Refusing:
        def __init__(self, error: BaseException) -> None:
            self.error = error

        def serialize(self, key: object, value: object) -> tuple[bytes, int]:
            raise self.error

        def deserialize(self, key: object, data: bytes, flags: int) -> object:
            return data

    already_typed: Any = Refusing(memlease.InvalidArgument("refused by the serde"))
    with (
        make_client(server.address, serde=already_typed) as c,
        pytest.raises(memlease.InvalidArgument, match="refused by the serde"),
    ):
        c.set("k", 1)


class TextSerde:
    """pymemcache's JSONSerde example: serialize returns str, not bytes."""

    def serialize(self, key: object, value: object) -> tuple[str, int]:
        import json

        return json.dumps(value), 2

    def deserialize(self, key: object, data: bytes, flags: int) -> object:
        import json

        return json.loads(data.decode("utf-8"))


def test_custom_serde_may_return_text(server, make_client: Any) -> None:
    serde: Any = TextSerde()
    with make_client(server.address, serde=serde) as c:
        assert c.set("text-serde", {"olé": ["☃"]})
        assert c.get("text-serde") == {"olé": ["☃"]}
        assert c.set_many({"text-serde": [1]}) == []
        with make_client(server.address, serde="raw") as raw:
            assert raw.get("text-serde") == b"[1]"
