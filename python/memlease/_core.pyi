"""Type stubs for the Rust extension ``memlease._core`` (checked with ``mypy.stubtest``)."""

from asyncio import Future
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, final

from typing_extensions import Self, disjoint_base

_Key = str | bytes | tuple[str | bytes, str | bytes]
_ServerSpec = str | tuple[str, int] | tuple[str, int, int]
_K = TypeVar("_K", str, bytes, str | bytes)
_OnServerError = Literal["raise", "miss"]
_Hashing = Literal[
    "ketama", "libmemcached_ketama", "modula", "pymemcache", "python_memcached", "uhashring", "jump"
]
_Servers = str | Sequence[_ServerSpec]
_PoolSettings = Mapping[str, Any]

__all__ = [
    "AsyncClient",
    "Client",
    "LeaseResult",
    "LocalLayer",
    "MetaResult",
    "_compress",
    "_decompress",
    "_flush_logs",
    "_install_logging",
    "_option_defaults",
    "_refresh_log_levels",
    "_stop_logging",
]

def _option_defaults() -> dict[str, Any]:
    """``{option: default}`` of both clients' constructors, in signature order."""

def _compress(data: bytes, codec_name: str) -> bytes: ...
def _decompress(data: bytes, codec_name: str) -> bytes: ...

class _Serde(Protocol):
    """Custom serialization: ``serialize(key, value) -> (bytes, flags)`` and back."""

    def serialize(self, key: _Key, value: Any) -> tuple[bytes | str, int]: ...
    def deserialize(self, key: _Key, data: bytes, flags: int) -> Any: ...

@final
class LocalLayer:
    """A bounded, TTL'd, tag-invalidated in-process cache of values by str key (named caches).

    Take ``since = layer.generation()`` before reading a value from its source and pass it to
    ``put``: the put is refused if the key, one of its tags or the layer was invalidated after
    the token was taken, so a value read before an invalidation is never stored after it.
    """

    def __new__(cls, max_entries: int, ttl: float) -> Self: ...
    def get(self, key: str, default: object = None) -> Any: ...
    def put(
        self,
        key: str,
        value: object,
        tags: Iterable[str] | None = (),
        ttl: float | None = None,
        *,
        since: int | None = None,
    ) -> None: ...
    def generation(self) -> int: ...
    def remove(self, key: str) -> bool: ...
    def remove_tags(self, tags: Iterable[str]) -> int: ...
    def clear(self) -> None: ...
    def configure(self, *, max_entries: int | None = None, ttl: float | None = None) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def __len__(self) -> int: ...

@final
class MetaResult:
    """One meta-protocol reply with every return flag (``None`` / ``False`` when absent)."""

    @property
    def status(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def cas(self) -> int | None: ...
    @property
    def ttl(self) -> int | None: ...
    @property
    def client_flags(self) -> int | None: ...
    @property
    def hit_before(self) -> bool | None: ...
    @property
    def last_access(self) -> int | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def opaque(self) -> bytes | None: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def win(self) -> bool: ...
    @property
    def stale(self) -> bool: ...
    @property
    def already_won(self) -> bool: ...

@final
class LeaseResult:
    """What a lease-managed read found (see ``Client.lease_get``)."""

    def __new__(
        cls,
        *,
        key: Any = None,
        value: Any = None,
        found: bool = False,
        won: bool = False,
        stale: bool = False,
        already_won: bool = False,
        cas: int | None = None,
        ttl: int | None = None,
        compute_time: float | None = None,
    ) -> LeaseResult: ...
    @property
    def key(self) -> Any: ...
    @property
    def value(self) -> Any: ...
    @property
    def found(self) -> bool: ...
    @property
    def won(self) -> bool: ...
    @property
    def stale(self) -> bool: ...
    @property
    def already_won(self) -> bool: ...
    @property
    def cas(self) -> int | None: ...
    @property
    def ttl(self) -> int | None: ...
    @property
    def compute_time(self) -> float | None: ...

@disjoint_base
class Client:
    """A memcached client for one or more servers; thread-safe, share one per process.

    Defaults: ``connect_timeout=0.25``, ``timeout=0.25`` (per operation), ``pool_timeout=0.25``
    seconds, ``max_connections=16`` per server, values over 16 KiB zlib-compressed (not with
    ``serde="raw"``, which stores bytes exactly as given).
    """

    def __new__(
        cls,
        servers: _Servers | None = None,
        *,
        connect_timeout: float = 0.25,
        timeout: float = 0.25,
        max_connections: int = 16,
        pool_timeout: float = 0.25,
        serde: _Serde | str | None = None,
        pickle: bool = True,
        compress_threshold: int | None = 16384,
        hashing: _Hashing = "ketama",
        failures_to_mark_down: int = 1,
        mark_down_period: float = 3.0,
        remap_on_failure: bool = False,
        remap_ttl: int = 10,
        on_server_error: _OnServerError = "raise",
        on_event: Callable[[str, str, str], object] | None = None,
        gutter: _Servers | _PoolSettings | None = None,
        gutter_ttl: int = 10,
        mirror: _Servers | _PoolSettings | None = None,
        pools: Mapping[str, _Servers | _PoolSettings] | None = None,
        routes: Mapping[str | bytes, str] | None = None,
        max_ttl: int | None = None,
        hot_keys: Iterable[str | bytes] | None = None,
        hot_key_copies: int = 3,
        local_cache_size: int = 0,
        local_cache_ttl: float = 1.0,
        local_cache_admission: float = 0.1,
        local_cache_hot_window: int = 1,
        io: Literal["loop", "runtime"] = "loop",
        username: str | None = None,
        password: str | None = None,
    ) -> Self: ...
    def get(
        self, key: _Key, default: Any = None, *, on_server_error: _OnServerError | None = None
    ) -> Any: ...
    def gets(
        self,
        key: _Key,
        default: Any = None,
        cas_default: Any = None,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> tuple[Any, Any]: ...
    def set(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def add(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def replace(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def append(
        self, key: _Key, value: Any, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def prepend(
        self, key: _Key, value: Any, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def cas(
        self,
        key: _Key,
        value: Any,
        cas: int,
        ttl: int = 0,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> bool | None: ...
    def delete(self, key: _Key, *, on_server_error: _OnServerError | None = None) -> bool: ...
    def touch(
        self, key: _Key, ttl: int, *, on_server_error: _OnServerError | None = None
    ) -> bool: ...
    def incr(
        self,
        key: _Key,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: int = 0,
        on_server_error: _OnServerError | None = None,
    ) -> int | None: ...
    def decr(
        self,
        key: _Key,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: int = 0,
        on_server_error: _OnServerError | None = None,
    ) -> int | None: ...
    def get_many(
        self, keys: Iterable[_K], *, on_server_error: _OnServerError | None = None
    ) -> dict[_K, Any]: ...
    def set_many(
        self,
        mapping: Mapping[_K, Any],
        ttl: int = 0,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> list[_K]: ...
    def delete_many(
        self, keys: Iterable[_Key], *, on_server_error: _OnServerError | None = None
    ) -> int: ...
    def _delete_many_reporting(self, keys: Iterable[_Key]) -> tuple[int, list[_Key]]: ...
    def flush_all(self, delay: int = 0) -> None: ...
    def stats(self, *args: str) -> dict[str, dict[str, int | float | str]]: ...
    def _text_command(self, line: str, end: bytes | None = None) -> dict[str, bytes]: ...
    def version(self) -> dict[str, str]: ...
    def lease_get(
        self, key: _Key, *, lease_ttl: int | None = None, recache_ttl: int | None = None
    ) -> LeaseResult: ...
    def _lease_get_with_counters(
        self,
        key: _Key,
        counters: Iterable[_Key],
        *,
        lease_ttl: int | None = None,
        recache_ttl: int | None = None,
    ) -> tuple[LeaseResult, int, list[int | None]]: ...
    def fill(
        self,
        key: _Key,
        value: Any,
        cas: int | None = None,
        ttl: int = 0,
        *,
        compute_time: float | None = None,
        client_flags: int | None = None,
    ) -> bool: ...
    def invalidate(
        self, key: _Key, *, stale_ttl: int | None = None, cas: int | None = None
    ) -> bool: ...
    def meta_get(self, key: _Key, flags: str = "") -> MetaResult: ...
    def meta_set(self, key: _Key, value: Any, flags: str = "") -> MetaResult: ...
    def meta_delete(self, key: _Key, flags: str = "") -> MetaResult: ...
    def meta_arithmetic(self, key: _Key, flags: str = "") -> MetaResult: ...
    def server_for(self, key: _Key) -> str: ...
    def _pool_of(self, key: _Key) -> str: ...
    @property
    def _placement_identity(self) -> str: ...
    def _wire_location(self, key: _Key) -> tuple[str, bytes, bool]: ...
    @property
    def servers(self) -> list[str]: ...
    def pool_stats(self) -> dict[str, dict[str, int]]: ...
    def health(self) -> dict[str, dict[str, Any]]: ...
    def ledger_stats(self) -> dict[str, int]: ...
    def local_cache_stats(self) -> dict[str, int] | None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@disjoint_base
class AsyncClient:
    """The asyncio client: the methods of ``Client``, awaitable, over multiplexed connections.

    Every method returns an asyncio future bound to the running loop (call it from a
    coroutine). Cancelling the awaiting task never desynchronises a connection. Use
    ``async with`` or ``await client.close()``.
    """

    def __new__(
        cls,
        servers: _Servers | None = None,
        *,
        connect_timeout: float = 0.25,
        timeout: float = 0.25,
        max_connections: int = 16,
        pool_timeout: float = 0.25,
        serde: _Serde | str | None = None,
        pickle: bool = True,
        compress_threshold: int | None = 16384,
        hashing: _Hashing = "ketama",
        failures_to_mark_down: int = 1,
        mark_down_period: float = 3.0,
        remap_on_failure: bool = False,
        remap_ttl: int = 10,
        on_server_error: _OnServerError = "raise",
        on_event: Callable[[str, str, str], object] | None = None,
        gutter: _Servers | _PoolSettings | None = None,
        gutter_ttl: int = 10,
        mirror: _Servers | _PoolSettings | None = None,
        pools: Mapping[str, _Servers | _PoolSettings] | None = None,
        routes: Mapping[str | bytes, str] | None = None,
        max_ttl: int | None = None,
        hot_keys: Iterable[str | bytes] | None = None,
        hot_key_copies: int = 3,
        local_cache_size: int = 0,
        local_cache_ttl: float = 1.0,
        local_cache_admission: float = 0.1,
        local_cache_hot_window: int = 1,
        io: Literal["loop", "runtime"] = "loop",
        username: str | None = None,
        password: str | None = None,
    ) -> Self: ...
    def get(
        self, key: _Key, default: Any = None, *, on_server_error: _OnServerError | None = None
    ) -> Future[Any]: ...
    def gets(
        self,
        key: _Key,
        default: Any = None,
        cas_default: Any = None,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> Future[tuple[Any, Any]]: ...
    def set(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def add(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def replace(
        self, key: _Key, value: Any, ttl: int = 0, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def append(
        self, key: _Key, value: Any, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def prepend(
        self, key: _Key, value: Any, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def cas(
        self,
        key: _Key,
        value: Any,
        cas: int,
        ttl: int = 0,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> Future[bool | None]: ...
    def delete(
        self, key: _Key, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def touch(
        self, key: _Key, ttl: int, *, on_server_error: _OnServerError | None = None
    ) -> Future[bool]: ...
    def incr(
        self,
        key: _Key,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: int = 0,
        on_server_error: _OnServerError | None = None,
    ) -> Future[int | None]: ...
    def decr(
        self,
        key: _Key,
        delta: int = 1,
        *,
        initial: int | None = None,
        ttl: int = 0,
        on_server_error: _OnServerError | None = None,
    ) -> Future[int | None]: ...
    def get_many(
        self, keys: Iterable[_K], *, on_server_error: _OnServerError | None = None
    ) -> Future[dict[_K, Any]]: ...
    def set_many(
        self,
        mapping: Mapping[_K, Any],
        ttl: int = 0,
        *,
        on_server_error: _OnServerError | None = None,
    ) -> Future[list[_K]]: ...
    def delete_many(
        self, keys: Iterable[_Key], *, on_server_error: _OnServerError | None = None
    ) -> Future[int]: ...
    def _delete_many_reporting(self, keys: Iterable[_Key]) -> Future[tuple[int, list[_Key]]]: ...
    def flush_all(self, delay: int = 0) -> Future[None]: ...
    def stats(self, *args: str) -> Future[dict[str, dict[str, int | float | str]]]: ...
    def _text_command(self, line: str, end: bytes | None = None) -> Future[dict[str, bytes]]: ...
    def version(self) -> Future[dict[str, str]]: ...
    def lease_get(
        self, key: _Key, *, lease_ttl: int | None = None, recache_ttl: int | None = None
    ) -> Future[LeaseResult]: ...
    def _lease_get_with_counters(
        self,
        key: _Key,
        counters: Iterable[_Key],
        *,
        lease_ttl: int | None = None,
        recache_ttl: int | None = None,
    ) -> Future[tuple[LeaseResult, int, list[int | None]]]: ...
    def fill(
        self,
        key: _Key,
        value: Any,
        cas: int | None = None,
        ttl: int = 0,
        *,
        compute_time: float | None = None,
        client_flags: int | None = None,
    ) -> Future[bool]: ...
    def invalidate(
        self, key: _Key, *, stale_ttl: int | None = None, cas: int | None = None
    ) -> Future[bool]: ...
    def meta_get(self, key: _Key, flags: str = "") -> Future[MetaResult]: ...
    def meta_set(self, key: _Key, value: Any, flags: str = "") -> Future[MetaResult]: ...
    def meta_delete(self, key: _Key, flags: str = "") -> Future[MetaResult]: ...
    def meta_arithmetic(self, key: _Key, flags: str = "") -> Future[MetaResult]: ...
    def server_for(self, key: _Key) -> str: ...
    def _pool_of(self, key: _Key) -> str: ...
    @property
    def _placement_identity(self) -> str: ...
    def _wire_location(self, key: _Key) -> tuple[str, bytes, bool]: ...
    @property
    def servers(self) -> list[str]: ...
    def pool_stats(self) -> dict[str, dict[str, int]]: ...
    def health(self) -> dict[str, dict[str, Any]]: ...
    def ledger_stats(self) -> dict[str, int]: ...
    def local_cache_stats(self) -> dict[str, int] | None: ...
    def close(self) -> Future[None]: ...
    def __aenter__(self) -> Future[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Future[None]: ...

# Logging bridge (python/memlease/_logging.py).
def _install_logging(
    emit: Callable[[str, int, str, dict[str, Any], str, int, str | None, float, str | None], None],
    thresholds: Callable[[list[str]], tuple[list[int], int, int]],
) -> None: ...
def _refresh_log_levels() -> None: ...
def _flush_logs(timeout: float) -> bool: ...
def _stop_logging() -> None: ...
