"""The blocking clients under test: memlease's Client and its peers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any

import memlease

from .client_api import BenchClient, split_address
from .dataset import NAMED_IDS, NAMED_TAGS, SMALL_VALUE
from .local_layer import filled_local_layer


class MemleaseClient(BenchClient):
    name = "memlease"

    def __init__(self, address: str) -> None:
        # Values are bytes already: store them as-is, and never compress (see the 100 KB case).
        self._client = memlease.Client(address, serde="raw", compress_threshold=None)
        self._named = named_cache(self._client)
        self._local = filled_local_layer()

    leases = True
    named = True
    local_layer = True

    def named_get(self, id: int) -> Any:
        return self._named.get(id, lambda: SMALL_VALUE, tags=NAMED_TAGS)

    def local_get(self, key: str) -> Any:
        return self._local.get(key)

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def lease_get(self, key: str) -> Any:
        return self._client.get_or_lease(key).value

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_many(mapping)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        return [self] * threads  # thread-safe: one Client, its pool, shared by every thread

    def describe(self) -> str:
        return (
            f"{memlease.__version__} (serde='raw', compress_threshold=None, default timeouts "
            "and max_connections; threads share the one Client)"
        )

    def close(self) -> None:
        self._client.close()


def named_cache(client: memlease.Client) -> memlease.NamedCache:
    """The named cache of named_get_2tags_100B, its entries stored up front (each id's first
    read misses and fills; the rounds then time hits)."""
    cache = memlease.CacheManager(client, "bench").cache("small", ttl=0, request_layer=False)
    for id in NAMED_IDS:
        cache.get(id, lambda: SMALL_VALUE, tags=NAMED_TAGS)
    return cache


class PymemcacheClient(BenchClient):
    name = "pymemcache"

    def __init__(self, address: str, *, pool_size: int | None = None) -> None:
        from pymemcache.client.base import Client, PooledClient

        host, port = split_address(address)
        self._address = address
        self._pooled: dict[int, PymemcacheClient] = {}  # by thread count: max_pool_size
        # pymemcache's default is noreply=True: a set that never waits for the server would
        # not be comparable with the acknowledged sets of the other clients.
        options: dict[str, Any] = {"no_delay": True, "default_noreply": False}
        if pool_size is None:
            self._client = Client((host, port), **options)
        else:  # Client is not thread-safe; PooledClient lends each call a Client of its own
            self._client = PooledClient((host, port), max_pool_size=pool_size, **options)

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_many(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_many(mapping, noreply=False)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        if threads not in self._pooled:
            self._pooled[threads] = PymemcacheClient(self._address, pool_size=threads)
        return [self._pooled[threads]] * threads

    def describe(self) -> str:
        return (
            f"{version('pymemcache')} (base.Client, no_delay=True, default_noreply=False; "
            "threads share one base.PooledClient with max_pool_size=the thread count)"
        )

    def close(self) -> None:
        self._client.close()
        for pooled in self._pooled.values():
            pooled.close()


class PylibmcClient(BenchClient):
    name = "pylibmc"

    def __init__(self, address: str, *, clone_of: PylibmcClient | None = None) -> None:
        import pylibmc

        self._client: Any
        if clone_of is not None:  # same server and behaviors, a connection of its own
            self._client = clone_of._client.clone()
        else:
            self._client = pylibmc.Client([address], binary=False, behaviors={"tcp_nodelay": True})
        self._address = address
        self._clones: list[PylibmcClient] = []

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.get_multi(keys)

    def set_many(self, mapping: Mapping[str, bytes]) -> Sequence[Any]:
        return self._client.set_multi(mapping)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        # A pylibmc Client is not thread-safe: every thread gets a clone of its own.
        while len(self._clones) < threads:
            self._clones.append(PylibmcClient(self._address, clone_of=self))
        return list(self._clones[:threads])

    def describe(self) -> str:
        import pylibmc

        return (
            f"{version('pylibmc')} (libmemcached {pylibmc.libmemcached_version}, "
            "text protocol, tcp_nodelay; each thread has its own clone())"
        )

    def close(self) -> None:
        for clone in self._clones:
            clone.close()
        self._client.disconnect_all()


class MetaMemcacheClient(BenchClient):
    name = "meta-memcache"
    # Its CacheClient has multi_get but no multi-key set.
    scenarios = frozenset(
        {
            "get_100B",
            "set_100B",
            "mixed_1KB",
            "get_many_100",
            "get_many_100_1KB",
            "get_100KB",
            "set_100KB",
            "threads4_get_100B",
            "threads8_get_100B",
            "lease_get_100B",
        }
    )
    leases = True
    # The library's default read buffer (4 KiB) stalls for ~100 ms per refill on larger replies
    # (see shared/research/bench-baseline.md); with 64 KiB the transport is what gets measured.
    READ_BUFFER_SIZE = 65536

    def __init__(self, address: str) -> None:
        from meta_memcache import CacheClient, ServerAddress, connection_pool_factory_builder

        host, port = split_address(address)
        self._client = CacheClient.cache_client_from_servers(
            servers=[ServerAddress(host=host, port=port)],
            connection_pool_factory_fn=connection_pool_factory_builder(
                read_buffer_size=self.READ_BUFFER_SIZE
            ),
            serializer=_raw_bytes_serializer(),
        )
        from meta_memcache import LeasePolicy

        self._lease_policy = LeasePolicy()

    def get(self, key: str) -> Any:
        return self._client.get(key)

    def lease_get(self, key: str) -> Any:
        return self._client.get_or_lease(key, self._lease_policy)

    def set(self, key: str, value: bytes) -> Any:
        return self._client.set(key, value, ttl=0)

    def get_many(self, keys: Sequence[str]) -> Mapping[Any, Any]:
        return self._client.multi_get(keys)

    def thread_clients(self, threads: int) -> list[BenchClient]:
        return [self] * threads  # CacheClient pools its connections and may be shared

    def describe(self) -> str:
        return (
            f"{version('meta-memcache')} (meta-memcache-socket {version('meta-memcache-socket')}, "
            f"raw-bytes serializer, read_buffer_size={self.READ_BUFFER_SIZE}, "
            "threads share the one CacheClient)"
        )

    def close(self) -> None:
        pass  # CacheClient has no close(); its pooled sockets go with the process


def _raw_bytes_serializer() -> Any:
    """A meta-memcache serializer that stores bytes as-is with flags 0.

    Its default MixedSerializer zlib-compresses every value over 128 B, which would measure
    zlib rather than the client.
    """
    from meta_memcache.base.base_serializer import BaseSerializer, EncodedValue

    class RawBytesSerializer(BaseSerializer):  # type: ignore[misc]
        def serialize(self, key: Any, value: Any) -> Any:
            return EncodedValue(data=value, encoding_id=0)

        def unserialize(self, data: Any, encoding_id: int) -> Any:
            return bytes(data)

    return RawBytesSerializer()
