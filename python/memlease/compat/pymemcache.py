"""pymemcache 4's client API on memlease: moving an application is an import change::

    # from pymemcache.client.base import Client, PooledClient
    # from pymemcache.client.hash import HashClient
    # from pymemcache.exceptions import MemcacheError
    from memlease.compat.pymemcache import Client, PooledClient, HashClient, MemcacheError

``Client``, ``PooledClient`` and ``HashClient`` take pymemcache 4.0's constructor arguments and
have its methods, arguments, defaults and return values (``set`` returns True with the default
``default_noreply=True``; ``gets`` on a miss returns ``(default, cas_default)``; ``cas`` on a
missing key returns None; ``get_multi`` / ``set_multi`` / ``delete_multi`` aliases; ``stats``
returns ``{b"name": value}``; ``version`` returns bytes ...). With no ``serde``, values are
stored as pymemcache stores them (bytes as given, ``str`` / ``int`` as text, flags 0) and read
back as bytes; pymemcache's ``pickle_serde`` / ``compressed_serde`` objects work as they are,
and memlease's default layout is pymemcache's ``pickle_serde``, so both clients share data.

Exceptions are pymemcache's names (``MemcacheError``, ``MemcacheClientError``,
``MemcacheUnknownCommandError``, ``MemcacheIllegalInputError``, ``MemcacheServerError``,
``MemcacheUnknownError``, ``MemcacheUnexpectedCloseError``), each also a subclass of the
matching memlease exception, and of the memlease class of the error that happened: a read
timeout is a ``MemcacheUnexpectedCloseError``, a ``memlease.ReadTimeout`` and a
``TimeoutError``; other network failures are also ``ConnectionError`` (pymemcache raises the
socket's errors for these).

Deliberate differences from pymemcache 4.0:

* Keys: memlease encodes keys pymemcache refuses instead of raising
  ``MemcacheIllegalInputError``: keys with whitespace or control characters go base64 with the
  meta protocol's binary-key flag, keys over 250 bytes are replaced by a digest. Non-ASCII
  ``str`` keys are still refused unless ``allow_unicode_keys=True``, as in pymemcache. (Keys
  pymemcache accepts are sent exactly as pymemcache sends them, so both share items.)
* Timeouts are always finite: ``connect_timeout=None`` / ``timeout=None`` (pymemcache: wait
  forever) mean :data:`DEFAULT_CONNECT_TIMEOUT` / :data:`DEFAULT_TIMEOUT` seconds. Waiting for
  a free pooled connection is bounded by the same ``timeout``.
* ``noreply=True`` still waits for the server's answer (memlease never leaves replies unread
  on a connection); it only changes the return value to pymemcache's noreply value, and a
  failure is raised rather than lost.
* Network I/O happens in memlease's Rust core: ``socket_module`` (e.g. gevent's),
  ``socket_keepalive``, ``no_delay``, ``pool_idle_timeout`` and ``lock_generator`` are
  accepted and ignored; ``tls_context`` is refused (memlease has no TLS).
* Every client is thread-safe and pools its connections (``Client`` too).
* ``HashClient`` places keys as pymemcache's default ``RendezvousHash`` does (memlease's
  ``hashing="pymemcache"``); another ``hasher`` is refused. A server that fails
  ``retry_attempts`` times in a row is skipped for ``dead_timeout`` seconds, its keys going to
  the other servers; ``retry_timeout`` is not used.
* ``gets_many`` costs one round trip per key. ``raw_command`` sends one line (no data block);
  a reply that goes on past ``end_tokens`` raises (pymemcache returns the first part and
  leaves the rest unread on its socket).
* A serde's ``deserialize`` receives the key as sent (bytes, with ``key_prefix``), where
  pymemcache passes the caller's key.
* A key that is neither ``str`` nor ``bytes`` (``get(5)``, ``get(None)``) raises
  ``MemcacheIllegalInputError`` (pymemcache: ``TypeError``); ``key in client`` is a ``get``
  (pymemcache defines no ``__contains__``); a serde's own exception reaches the caller as
  ``MemcacheClientError`` (a ``memlease.SerializationError``) with the original as its cause.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import memlease
from memlease.compat import _pymemcache_values as convert
from memlease.compat._pymemcache_errors import (
    MemcacheClientError,
    MemcacheError,
    MemcacheIllegalInputError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
    translated,
)
from memlease.compat._pymemcache_values import FlagsOverride, WireSerde

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Client",
    "HashClient",
    "MemcacheClientError",
    "MemcacheError",
    "MemcacheIllegalInputError",
    "MemcacheServerError",
    "MemcacheUnexpectedCloseError",
    "MemcacheUnknownCommandError",
    "MemcacheUnknownError",
    "PooledClient",
]

#: Seconds allowed to open a connection when ``connect_timeout=None``.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds allowed for a request (and for a free pooled connection) when ``timeout=None``.
DEFAULT_TIMEOUT = 10.0
# pymemcache's Client retries a dead server on every call; so do ours (HashClient aside).
_NEVER_MARK_DOWN = 2**31
# PooledClient's max_pool_size=None: pymemcache's pool is unbounded.
_UNBOUNDED_POOL = 2**16


class _Base:
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
        ttl = convert.integer(expire, "expire")
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

    def set(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        return bool(self._store("set", key, value, expire, noreply, flags))

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

    def add(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        return bool(self._store("add", key, value, expire, noreply, flags))

    def replace(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        return bool(self._store("replace", key, value, expire, noreply, flags))

    def append(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        """Append to the stored data (memcached keeps the item's TTL: `expire` is unused)."""
        return bool(self._store("append", key, value, expire, noreply, flags))

    def prepend(
        self,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> bool:
        return bool(self._store("prepend", key, value, expire, noreply, flags))

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


class _OneServer(_Base):
    """The administrative methods of pymemcache's ``Client`` and ``PooledClient``."""

    @property
    def server(self) -> Any:
        return self.servers[0]

    def _admin(self, line: str, end: bytes | None = None) -> bytes:
        with translated():
            (reply,) = self._core._text_command(line, end).values()
        return reply

    def stats(self, *args: str) -> dict[bytes, Any]:
        """``{b"name": value}``: ``stats("slabs")``, ``stats("cachedump", "1", "1")`` ..."""
        words = [arg.decode() if isinstance(arg, bytes) else str(arg) for arg in args]
        with translated():
            (stats,) = self._core.stats(*words).values()
        return convert.stats_values(stats)

    def cache_memlimit(self, memlimit: int) -> bool:
        """Set the server's memory limit, in megabytes."""
        self._admin(f"cache_memlimit {convert.integer(memlimit, 'memlimit')}")
        return True

    def version(self) -> bytes:
        with translated():
            (version,) = self._core.version().values()
        return version.encode()

    def raw_command(self, command: str | bytes, end_tokens: str | bytes = "\r\n") -> bytes:
        """Send `command` (one line) and return its reply up to `end_tokens`, which is removed.
        An error line (``ERROR``, ``CLIENT_ERROR ...``) raises at once; a reply that goes on
        past `end_tokens` raises too, and its connection is closed rather than left out of
        step."""
        text = command.decode(self.encoding) if isinstance(command, bytes) else command
        end = end_tokens.encode(self.encoding) if isinstance(end_tokens, str) else end_tokens
        return self._admin(text, end)

    def shutdown(self, graceful: bool = False) -> None:
        """Ask the server to shut down (it must run with ``--enable-shutdown``)."""
        # The server closing the connection is the success case.
        with contextlib.suppress(MemcacheUnexpectedCloseError):
            self._admin("shutdown graceful" if graceful else "shutdown")


class Client(_OneServer):
    """pymemcache's ``Client``: one server. Thread-safe (pymemcache's is not)."""

    def __init__(
        self,
        server: Any,
        serde: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        no_delay: bool = False,
        ignore_exc: bool = False,
        socket_module: Any = socket,
        socket_keepalive: Any = None,
        key_prefix: bytes | str = b"",
        default_noreply: bool = True,
        allow_unicode_keys: bool = False,
        encoding: str = "ascii",
        tls_context: Any = None,
    ) -> None:
        super().__init__(
            [server],
            **_shared(locals()),
        )


class PooledClient(_OneServer):
    """pymemcache's ``PooledClient``: one server, at most ``max_pool_size`` connections."""

    def __init__(
        self,
        server: Any,
        serde: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        no_delay: bool = False,
        ignore_exc: bool = False,
        socket_module: Any = socket,
        socket_keepalive: Any = None,
        key_prefix: bytes | str = b"",
        max_pool_size: int | None = None,
        pool_idle_timeout: float = 0,
        lock_generator: Any = None,
        default_noreply: bool = True,
        allow_unicode_keys: bool = False,
        encoding: str = "ascii",
        tls_context: Any = None,
    ) -> None:
        super().__init__(
            [server],
            **_shared(locals()),
            max_pool_size=max_pool_size,
        )


class HashClient(_Base):
    """pymemcache's ``HashClient``: keys spread over `servers` by rendezvous hashing."""

    def __init__(
        self,
        servers: Iterable[Any],
        hasher: Any = None,
        serde: Any = None,
        serializer: Any = None,
        deserializer: Any = None,
        connect_timeout: float | None = None,
        timeout: float | None = None,
        no_delay: bool = False,
        socket_module: Any = socket,
        socket_keepalive: Any = None,
        key_prefix: bytes | str = b"",
        max_pool_size: int | None = None,
        pool_idle_timeout: float = 0,
        lock_generator: Any = None,
        retry_attempts: int = 2,
        retry_timeout: float = 1,
        dead_timeout: float = 60,
        use_pooling: bool = False,
        ignore_exc: bool = False,
        allow_unicode_keys: bool = False,
        default_noreply: bool = True,
        encoding: str = "ascii",
        tls_context: Any = None,
    ) -> None:
        if hasher is not None and getattr(hasher, "__name__", None) != "RendezvousHash":
            raise MemcacheClientError(
                "memlease places keys with pymemcache's RendezvousHash only (hasher=None)"
            )
        self.retry_attempts = retry_attempts
        self.retry_timeout = retry_timeout
        self.dead_timeout = dead_timeout
        self.use_pooling = use_pooling
        super().__init__(
            list(servers),
            **_shared(locals()),
            max_pool_size=max_pool_size,
            memlease_options={
                "hashing": "pymemcache",
                "failures_to_mark_down": max(1, retry_attempts),
                "mark_down_period": dead_timeout,
                "remap_on_failure": True,
                # pymemcache's HashClient with ignore_exc answers misses and False instead.
                "on_server_error": "miss" if ignore_exc else "raise",
            },
        )

    def add_server(self, server: Any, port: int | None = None) -> None:
        """Add a server (``add_server("host", 11211)`` or ``add_server(("host", 11211))``);
        keys are placed again over the new list."""
        spec = convert.server_spec(server if port is None else (server, port))
        with self._lock:
            if spec not in self.servers:
                self.servers.append(spec)
        self.close()

    def remove_server(self, server: Any, port: int | None = None) -> None:
        """Stop using a server; its keys go to the others."""
        spec = convert.server_spec(server if port is None else (server, port))
        with self._lock:
            if spec in self.servers:
                self.servers.remove(spec)
        self.close()

    def get_many(self, keys: Iterable[Any], gets: bool = False) -> dict[Any, Any]:
        """``{key: value}`` of the keys found (``{key: (value, cas)}`` with ``gets=True``)."""
        if gets:
            return self.gets_many(keys)
        return super().get_many(keys)

    get_multi = get_many


# The constructor arguments every client passes on to `_Base` unchanged.
_SHARED_ARGUMENTS = (
    "serde",
    "serializer",
    "deserializer",
    "connect_timeout",
    "timeout",
    "ignore_exc",
    "key_prefix",
    "default_noreply",
    "allow_unicode_keys",
    "encoding",
    "tls_context",
)


def _shared(arguments: dict[str, Any]) -> dict[str, Any]:
    return {name: arguments[name] for name in _SHARED_ARGUMENTS}


def _ttl(expire: Any) -> int:
    return convert.integer(expire, "expire")
