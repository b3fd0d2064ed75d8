"""What every pymemcache-compatible client shares (see :mod:`memlease.compat.pymemcache`): the
options, the memlease client behind them (made on first use, remade after ``close``), and
pymemcache's key-value methods on top of it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

import memlease
from memlease.compat import _pymemcache_values as convert
from memlease.compat._pymemcache_errors import MemcacheClientError, MemcacheError, translated
from memlease.compat._pymemcache_values import FlagsOverride, WireSerde

#: Seconds allowed to open a connection when ``connect_timeout=None``.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds allowed for a request (and for a free pooled connection) when ``timeout=None``.
DEFAULT_TIMEOUT = 10.0
# pymemcache's Client retries a dead server on every call; so do ours (HashClient aside).
_NEVER_MARK_DOWN = 2**31
# PooledClient's max_pool_size=None: pymemcache's pool is unbounded.
_UNBOUNDED_POOL = 2**16


class StorageCommand(Protocol):
    """pymemcache's storage commands (``set``, ``add``, ``replace``, ``append``, ``prepend``),
    as a client's method: the same arguments, only the command sent differs."""

    def __call__(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool: ...


def _storage_command(command: str, doc: str | None = None) -> StorageCommand:
    def store(
        self: BaseClient,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        return bool(self._store(command, key, value, expire, noreply, flags))

    store.__name__ = command
    store.__qualname__ = f"BaseClient.{command}"
    store.__doc__ = doc
    # A class attribute, so bound on access: callers see StorageCommand's signature.
    return cast("StorageCommand", store)


class BaseClient:
    """What every client shares: options, the memlease client (made on first use, remade
    after ``close``), key and value conversion, and pymemcache's method surface."""

    def __init__(
        self,
        servers: list[Any],
        *,
        serde: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        ignore_exc: bool = False,
        key_prefix: bytes | str = b"",
        default_noreply: bool = True,
        allow_unicode_keys: bool = False,
        encoding: str = "ascii",
        tls_context: Any = None,
        max_pool_size: int | None = None,
        memlease_options: Mapping[str, Any] | None = None,
    ) -> None:
        if tls_context is not None:
            raise MemcacheClientError("memlease does not support TLS connections (tls_context)")
        self.servers = [convert.server_spec(server) for server in servers]
        self.serde = WireSerde(serde, serializer, deserializer, encoding)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.ignore_exc = ignore_exc
        self.key_prefix = convert.key_prefix_bytes(key_prefix)
        self.default_noreply = default_noreply
        self.allow_unicode_keys = allow_unicode_keys
        self.encoding = encoding
        self._max_connections = _UNBOUNDED_POOL if max_pool_size is None else max_pool_size
        self._memlease_options = dict(memlease_options or {})
        self._client: memlease.Client | None = None
        self._lock = threading.Lock()

    # -- the memlease client ---------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        timeout = DEFAULT_TIMEOUT if self.timeout is None else self.timeout
        return {
            "connect_timeout": (
                DEFAULT_CONNECT_TIMEOUT if self.connect_timeout is None else self.connect_timeout
            ),
            "timeout": timeout,
            "pool_timeout": timeout,
            "max_connections": self._max_connections,
            "serde": self.serde,
            "failures_to_mark_down": _NEVER_MARK_DOWN,
            **self._memlease_options,
        }

    @property
    def _core(self) -> memlease.Client:
        client = self._client
        if client is None:
            with self._lock, translated():
                if self._client is None:
                    self._client = memlease.Client(list(self.servers), **self._options())
                client = self._client
        return client

    def close(self) -> None:
        """Close the connections; the next call opens new ones."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    disconnect_all = close

    def quit(self) -> None:
        """pymemcache sends ``quit``, which makes the server close the connection: the same
        as :meth:`close` here."""
        self.close()

    # -- conversions -----------------------------------------------------------------------

    def check_key(self, key: Any, key_prefix: bytes | None = None) -> bytes:
        """`key` as sent: prefixed, bytes (see the module docs for which keys are refused)."""
        prefix = self.key_prefix if key_prefix is None else key_prefix
        return convert.wire_key(key, prefix, self.allow_unicode_keys)

    def _noreply(self, noreply: bool | None) -> bool:
        return self.default_noreply if noreply is None else noreply

    def _store(
        self,
        method: str,
        key: Any,
        value: Any,
        expire: Any,
        noreply: bool | None,
        flags: int | None,
        *args: Any,
    ) -> Any:
        wire = self.check_key(key)
        ttl = _ttl(expire)
        # memlease's append / prepend take no TTL: memcached keeps the item's.
        ttl_args = () if method in ("append", "prepend") else (ttl,)
        with translated(), FlagsOverride(flags):
            stored = getattr(self._core, method)(wire, value, *args, *ttl_args)
        return True if self._noreply(noreply) else stored

    def _read(self, default: Any, read: Any) -> Any:
        """Run `read`; with ``ignore_exc``, a failure is a miss (`default`)."""
        try:
            with translated():
                return read()
        except MemcacheError:
            if self.ignore_exc:
                return default
            raise

    # -- pymemcache's methods ----------------------------------------------------------------

    set = _storage_command("set")
    add = _storage_command("add")
    replace = _storage_command("replace")
    append = _storage_command(
        "append", "Append to the stored data (memcached keeps the item's TTL: `expire` is unused)."
    )
    prepend = _storage_command("prepend")

    def set_many(
        self,
        values: Mapping[Any, Any],
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> list[Any]:
        """Store every item; the keys that were not stored (none with noreply)."""
        ttl = _ttl(expire)
        originals = {self.check_key(key): key for key in values}
        mapping = {wire: values[key] for wire, key in originals.items()}
        with translated(), FlagsOverride(flags):
            failed = self._core.set_many(mapping, ttl)
        return [] if self._noreply(noreply) else [originals[wire] for wire in failed]

    set_multi = set_many

    def cas(
        self,
        key: Any,
        value: Any,
        cas: Any,
        expire: int = 0,
        noreply: bool | None = False,
        flags: int | None = None,
    ) -> bool | None:
        """True if stored, False if the item changed since `cas` was read, None if it is gone
        (True with noreply)."""
        token = convert.cas_token(cas, self.encoding)
        result: bool | None = self._store("cas", key, value, expire, noreply, flags, token)
        return result

    def get(self, key: Any, default: Any = None) -> Any:
        wire = self.check_key(key)
        return self._read(default, lambda: self._core.get(wire, default))

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        originals = {self.check_key(key): key for key in keys}
        if not originals:
            return {}
        found = self._read({}, lambda: self._core.get_many(list(originals)))
        return {originals[wire]: value for wire, value in found.items()}

    get_multi = get_many

    def gets(self, key: Any, default: Any = None, cas_default: Any = None) -> tuple[Any, Any]:
        """``(value, cas)``, or ``(default, cas_default)`` if the key is missing."""
        wire = self.check_key(key)
        misses = (default, cas_default)
        value, cas = self._read(misses, lambda: self._core.gets(wire, default, cas_default))
        return value, (cas if cas is cas_default else convert.cas_bytes(cas))

    def gets_many(self, keys: Iterable[Any]) -> dict[Any, tuple[Any, Any]]:
        """``{key: (value, cas)}`` of the keys found."""
        originals = {self.check_key(key): key for key in keys}
        missing = object()

        def read_all() -> dict[Any, tuple[Any, Any]]:
            found = {}
            for wire, key in originals.items():
                value, cas = self._core.gets(wire, missing)
                if value is not missing:
                    found[key] = (value, convert.cas_bytes(cas))
            return found

        result: dict[Any, tuple[Any, Any]] = self._read({}, read_all)
        return result

    gets_multi = gets_many

    def delete(self, key: Any, noreply: bool | None = None) -> bool:
        """True if the key existed (always True with noreply)."""
        wire = self.check_key(key)
        with translated():
            existed = self._core.delete(wire)
        return True if self._noreply(noreply) else existed

    def delete_many(self, keys: Iterable[Any], noreply: bool | None = None) -> bool:
        """Delete every key; True (pymemcache does not say which existed)."""
        wire_keys = [self.check_key(key) for key in keys]
        if wire_keys:
            with translated():
                self._core.delete_many(wire_keys)
        return True

    delete_multi = delete_many

    def incr(self, key: Any, value: int, noreply: bool | None = False) -> int | None:
        """The new value, or None if the key is missing (always None with noreply)."""
        return self._arithmetic("incr", key, value, noreply)

    def decr(self, key: Any, value: int, noreply: bool | None = False) -> int | None:
        """Subtract (not below 0); the new value, or None if the key is missing."""
        return self._arithmetic("decr", key, value, noreply)

    def _arithmetic(self, method: str, key: Any, delta: Any, noreply: bool | None) -> int | None:
        wire = self.check_key(key)
        amount = convert.integer(delta, "value")
        with translated():
            result: int | None = getattr(self._core, method)(wire, amount)
        return None if noreply else result

    def touch(self, key: Any, expire: int = 0, noreply: bool | None = None) -> bool:
        """True if the key existed (always True with noreply)."""
        wire = self.check_key(key)
        ttl = _ttl(expire)
        with translated():
            existed = self._core.touch(wire, ttl)
        return True if self._noreply(noreply) else existed

    def flush_all(self, delay: int = 0, noreply: bool | None = None) -> bool:
        seconds = convert.integer(delay, "delay")
        with translated():
            self._core.flush_all(seconds)
        return True

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set(key, value, noreply=True)

    def __delitem__(self, key: Any) -> None:
        self.delete(key, noreply=True)

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ttl(expire: Any) -> int:
    return convert.integer(expire, "expire")
