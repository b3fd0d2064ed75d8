"""The exception classes. The tree, and what each branch means for the caller, is drawn in the
package docstring (``help(memlease)``). After a ``MemcacheConnectionError`` the request may or may
not have been applied by the server; the connection it used has been closed, never reused.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClientError",
    "ConnectTimeout",
    "InvalidArgument",
    "InvalidKey",
    "MemcacheConnectionError",
    "MemcacheError",
    "MemcacheTimeout",
    "PoolTimeout",
    "ReadTimeout",
    "SerializationError",
    "ServerDown",
    "ServerError",
    "ServerRejected",
    "UnexpectedReply",
    "ValueTooLarge",
]


class MemcacheError(Exception):
    """Root of every memlease error."""


class ClientError(MemcacheError):
    """The request is wrong; the same call will fail again."""


class InvalidKey(ClientError):
    """The key is empty or not ``str`` / ``bytes``."""


class InvalidArgument(ClientError, ValueError):
    """An option, flag string, server spec, TTL or number is out of range or malformed."""


class ValueTooLarge(ClientError):
    """The value is over the server's item size limit.

    ``size`` is the serialized size in bytes and ``limit`` the server's ``item_size_max``
    (``None`` if it could not be read). The key's previous value has been deleted, so readers
    do not keep seeing the value the failed write meant to replace (except for ``add``, which
    never replaces).
    """

    def __init__(self, message: str, size: int = 0, limit: int | None = None) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SerializationError(ClientError):
    """The value cannot be serialized, or stored data cannot be deserialized."""


class ServerRejected(ClientError):
    """The server refused the request with ``CLIENT_ERROR``."""


class ServerError(MemcacheError):
    """The server reported a failure (``SERVER_ERROR``) or answered out of protocol."""


class UnexpectedReply(ServerError):
    """A reply that does not fit the request. The connection has been discarded."""


class AuthenticationError(MemcacheError):
    """The server refused the client's ``username`` / ``password`` (memcached's ``-Y`` auth
    file). The connection was closed before any request was sent on it. A refusal marks the
    server down like a failed connect, so a wrong password costs one connection attempt per
    ``mark_down_period`` (calls in between raise ``ServerDown``), never a retry loop. The
    message names the server and the username, never the password."""


class MemcacheConnectionError(MemcacheError):
    """The server could not be reached, or the connection broke during the request."""


class ServerDown(MemcacheConnectionError):
    """The server is marked down after failing; the call failed at once, without network I/O.

    ``retry_in`` is how many seconds remain before one caller is let through to probe it.
    """

    def __init__(self, message: str, retry_in: float = 0.0) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class MemcacheTimeout(MemcacheConnectionError):
    """A deadline passed."""


class ConnectTimeout(MemcacheTimeout):
    """Opening a connection took longer than ``connect_timeout``."""


class ReadTimeout(MemcacheTimeout):
    """Writing the request and reading its reply took longer than ``timeout``."""


class PoolTimeout(MemcacheTimeout):
    """Every connection to the server stayed busy for ``pool_timeout``."""
