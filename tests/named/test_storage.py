"""How entries are stored: zstd / zlib compression round trips, flags other clients refuse
rather than misread, a dedicated pool, and tracked invalidations."""

from __future__ import annotations

import pickle
from typing import Any

import pymemcache
import pymemcache.serde
import pytest

import memlease
from memlease import CacheManager, InvalidArgument, MemcacheConnectionError, SerializationError
from memlease.named import _envelope
from tests.named.conftest import Calls, Named
from tests.proxies import WriteFailingProxy

BIG = {"rows": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(2000)]}


@pytest.mark.parametrize("codec", ["zstd", "zlib", None])
def test_compression_round_trips_and_shrinks_the_stored_entry(named: Named, codec: Any) -> None:
    cache = named.manager().cache(f"c-{codec}", ttl=60, compression=codec)
    assert named.get(cache, 1, Calls(BIG)) == BIG
    assert named.get(cache, 1, Calls("recomputed")) == BIG
    raw = named.client._lease_get_with_counters(cache.key(1), [])[0].value
    assert raw[:4] == _envelope.MAGIC + bytes([_envelope.CODECS[codec]])
    plain_size = len(_envelope.encode(_envelope.Entry(BIG, (), (), 0.0), None))
    if codec is None:
        assert len(raw) == plain_size
    else:
        assert len(raw) * 4 < plain_size


def test_other_clients_refuse_entries_rather_than_misread_them(server: Any) -> None:
    with memlease.Client([server.address]) as client:
        client.flush_all()
        cache = CacheManager(client, "shop").cache("c", ttl=60, compression="zstd")
        cache.get(1, lambda: BIG)
        cache.get(2, lambda: "small")
        with pytest.raises(SerializationError):
            client.get(cache.key(1))
        # pymemcache with the serde whose layout memlease shares (without one it hands out
        # every value as raw bytes, whatever the flags).
        theirs = pymemcache.Client(server.address, serde=pymemcache.serde.pickle_serde)
        try:
            for id in (1, 2):
                with pytest.raises(ValueError):
                    theirs.get(cache.key(id))
        finally:
            theirs.close()


def test_a_foreign_value_under_a_named_key_is_a_miss(named: Named) -> None:
    cache = named.manager().cache("c", ttl=60)
    named.client.set(cache.key(1), "written by someone else")
    assert named.get(cache, 1, Calls("mine")) == "mine"
    assert named.get(cache, 1, Calls("again")) == "mine"


def test_a_corrupt_entry_is_dropped_and_computed_again(named: Named) -> None:
    cache = named.manager().cache("c", ttl=60)
    key = cache.key(1)
    named.client.fill(
        key, _envelope.MAGIC + b"\x02junk", None, 60, client_flags=_envelope.ENTRY_FLAGS
    )
    assert named.get(cache, 1, Calls("fresh")) == "fresh"
    assert named.get(cache, 1, Calls("again")) == "fresh"


def test_corrupt_codec_number_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        _envelope.decode(_envelope.MAGIC + b"\x09rest", _envelope.ENTRY_FLAGS)
    with pytest.raises(SerializationError):
        _envelope.decode(_envelope.MAGIC + b"\x02not zstd", _envelope.ENTRY_FLAGS)
    with pytest.raises(SerializationError):  # pickled, but not an entry's fields
        _envelope.decode(_envelope.MAGIC + b"\x00" + pickle.dumps((1, 2)), _envelope.ENTRY_FLAGS)


def test_pool_puts_the_cache_on_its_dedicated_servers(cluster: list[Any]) -> None:
    main, sessions = cluster[:2], cluster[2]
    with memlease.Client(
        pools={"default": [s.address for s in main], "sessions": [sessions.address]},
        routes={"urn:shop:sessions:": "sessions"},
    ) as client:
        client.flush_all()
        manager = CacheManager(client, "shop")
        cache = manager.cache("sessions", ttl=60, pool="sessions")
        for i in range(20):
            cache.get(i, lambda: "s")
        assert {client.server_for(cache.key(i)) for i in range(20)} == {sessions.address}
        with memlease.Client([sessions.address]) as direct:
            assert all(
                direct._lease_get_with_counters(cache.key(i), [])[0].found for i in range(20)
            )
        with pytest.raises(InvalidArgument, match="route"):
            manager.cache("users", ttl=60, pool="sessions")


def test_failed_invalidations_go_to_the_write_failure_tracker(own_server: Any) -> None:
    with memlease.Client([own_server.address], timeout=0.3, connect_timeout=0.3) as client:
        manager = CacheManager(client, "shop")
        cache = manager.cache("users", ttl=60)
        cache.get(1, lambda: "v", tags=["t"])
        own_server.stop()
        with pytest.raises(MemcacheConnectionError):
            cache.invalidate(1)
        with pytest.raises(MemcacheConnectionError):
            manager.invalidate_tags(["t"])
        pending = client.write_failures.pending()
        assert cache.key(1) in pending
        assert "urn:shop#tag:t" in pending


def test_a_failed_tag_invalidation_is_replayed_before_the_next_read(server: Any) -> None:
    proxy = WriteFailingProxy(server)
    tracker = memlease.WriteFailureTracker(
        retry_interval=60, max_backoff=60
    )  # no replay of its own
    try:
        # A failure does not mark the server down: the next read reaches it.
        with memlease.Client(
            [proxy.address], write_failures=tracker, failures_to_mark_down=100
        ) as client:
            client.flush_all()
            manager = CacheManager(client, "shop")
            cache = manager.cache("users", ttl=60)
            cache.get(1, lambda: "old", tags=["t"])
            proxy.failing = True
            with pytest.raises(MemcacheConnectionError):
                manager.invalidate_tags(["t"])
            proxy.failing = False
            assert cache.get(1, lambda: "new", tags=["t"]) == "new"
            # Read from memcached (the entry dead), not around an unreachable one.
            assert manager.stats()["caches"]["users"]["layers"]["memcached"]["errors"] == 0
    finally:
        tracker.close()
        proxy.close()


def test_an_unpicklable_value_raises_a_typed_error_and_releases_the_lease(named: Named) -> None:
    cache = named.manager().cache("c", ttl=60)
    with pytest.raises(SerializationError):
        named.get(cache, 1, Calls(lambda: None))  # a lambda cannot be pickled
    assert named.get(cache, 1, Calls("ok")) == "ok"
    # The next caller won the lease (and stored its value) rather than waiting it out.
    assert named.managers[0].stats()["caches"]["c"]["layers"]["memcached"]["fills"] == 1
