"""How the pymemcache-compatible clients turn keys, values and numbers into what memlease
sends, following pymemcache 4's rules (see :mod:`memlease.compat.pymemcache`)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from memlease.compat._pymemcache_errors import MemcacheIllegalInputError

# A per-call ``flags=`` argument overrides the serializer's flags (pymemcache's contract). The
# core calls the serde inside the store call, so the override travels in a context variable.
_FLAGS_OVERRIDE: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "memlease_compat_flags", default=None
)


class FlagsOverride:
    """``with FlagsOverride(flags):`` stores made inside use `flags` (unless None)."""

    def __init__(self, flags: int | None) -> None:
        self._flags = flags
        self._token: contextvars.Token[int | None] | None = None

    def __enter__(self) -> None:
        self._token = _FLAGS_OVERRIDE.set(self._flags)

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        _FLAGS_OVERRIDE.reset(self._token)


class WireSerde:
    """The caller's serde (or the legacy ``serializer`` / ``deserializer`` pair, or none) as
    memlease calls it. Data that is not bytes is sent as ``str(data)`` in `encoding`, as
    pymemcache does, so with no serde ``str`` and ``int`` values are stored as plain text and
    read back as ``bytes``."""

    def __init__(
        self,
        serde: Any,
        serializer: Callable[[Any, Any], tuple[Any, int]] | None,
        deserializer: Callable[[Any, bytes, int], Any] | None,
        encoding: str,
    ) -> None:
        self._serde = serde
        self._serializer = serializer
        self._deserializer = deserializer
        self._encoding = encoding

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        if self._serde is not None:
            data, flags = self._serde.serialize(key, value)
        elif self._serializer is not None:
            data, flags = self._serializer(key, value)
        else:
            data, flags = value, 0
        override = _FLAGS_OVERRIDE.get()
        if override is not None:
            flags = override
        if not isinstance(data, bytes):
            try:
                data = str(data).encode(self._encoding)
            except UnicodeEncodeError as error:
                message = f"Data values must be binary-safe: {error}"
                raise MemcacheIllegalInputError(message) from error
        return data, flags

    def deserialize(self, key: Any, data: bytes, flags: int) -> Any:
        if self._serde is not None:
            return self._serde.deserialize(key, data, flags)
        if self._deserializer is not None:
            return self._deserializer(key, data, flags)
        return data


def wire_key(key: Any, prefix: bytes, allow_unicode_keys: bool) -> bytes:
    """`key` with `prefix`, as bytes. ``str`` keys are ASCII unless `allow_unicode_keys`
    (then UTF-8). Whitespace, control bytes and length are not checked: memlease encodes such
    keys instead of refusing them."""
    if isinstance(key, str):
        try:
            key = key.encode("utf8" if allow_unicode_keys else "ascii")
        except UnicodeEncodeError as error:
            raise MemcacheIllegalInputError(f"Non-ASCII key: {key!r}") from error
    elif not isinstance(key, bytes):
        raise MemcacheIllegalInputError(f"keys must be str or bytes, got {key!r}")
    return bytes(prefix + key)


def key_prefix_bytes(key_prefix: Any) -> bytes:
    if isinstance(key_prefix, str):
        key_prefix = key_prefix.encode("ascii")
    if not isinstance(key_prefix, bytes):
        raise TypeError("key_prefix should be bytes.")
    return key_prefix


def integer(value: Any, name: str) -> int:
    """An integer argument (TTL, delta, delay, memory limit); anything else is refused."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise MemcacheIllegalInputError(f"{name} must be integer, got bad value: {value!r}")
    return value


def cas_bytes(cas: Any) -> Any:
    """A CAS token as pymemcache returns it: the server's digits as ``bytes``."""
    return str(cas).encode("ascii") if isinstance(cas, int) else cas


def cas_token(cas: Any, encoding: str) -> int:
    """A CAS token given as an int, or as digits in ``str`` / ``bytes``."""
    if isinstance(cas, (int, str)) and not isinstance(cas, bool):
        try:
            cas = str(cas).encode(encoding)
        except UnicodeEncodeError as error:
            raise MemcacheIllegalInputError(f"non-ASCII cas value: {cas!r}") from error
    elif not isinstance(cas, bytes):
        raise MemcacheIllegalInputError(
            f"cas must be integer, string, or bytes, got bad value: {cas!r}"
        )
    if not cas.isdigit():
        message = f"cas must only contain values in 0-9, got bad value: {cas!r}"
        raise MemcacheIllegalInputError(message)
    return int(cas)


def server_spec(server: Any) -> str | tuple[str, int]:
    """A pymemcache server spec (``(host, port)``, ``"host:port"``, ``"host"``, a Unix socket
    path, ``"unix:/path"``) as memlease's."""
    if isinstance(server, tuple):
        host, port = server
        return (str(host).strip("[]"), int(port))
    if not isinstance(server, str):
        raise ValueError(f"Unsupported server specification: {server!r}")
    if server.startswith("unix:"):
        return server
    if server.startswith("/"):
        return "unix:" + server
    if ":" not in server or server.endswith("]"):
        return (server.strip("[]"), 11211)
    host, port = server.rsplit(":", 1)
    return (host.strip("[]"), int(port))


# `stats` values memcached prints as 0/1, yes/no or in octal-ish hex, which pymemcache
# converts to bool / int; the rest stay numbers or become bytes.
_BOOLEAN_STATS = frozenset(
    {
        "hash_is_expanding",
        "slab_reassign_running",
        "detail_enabled",
        "cas_enabled",
        "maxconns_fast",
        "slab_reassign",
        "slab_automove",
    }
)


def stats_values(stats: dict[str, Any]) -> dict[bytes, Any]:
    """memlease's ``{name: int | float | str}`` of one server as pymemcache returns it."""
    result: dict[bytes, Any] = {}
    for name, value in stats.items():
        if name in _BOOLEAN_STATS and isinstance(value, int):
            value = value != 0
        elif name == "auth_enabled_sasl":
            value = value == "yes"
        elif name == "umask":
            value = int(str(value), 16)
        elif name in ("version", "inter", "stat_key_prefix") or isinstance(value, str):
            value = str(value).encode()
        result[name.encode()] = value
    return result
