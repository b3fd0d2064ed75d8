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
from collections.abc import Iterable
from typing import Any

from memlease.compat import _pymemcache_values as convert
from memlease.compat._pymemcache_base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, BaseClient
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


class _OneServer(BaseClient):
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


class HashClient(BaseClient):
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


# The constructor arguments every client passes on to `BaseClient` unchanged.
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
