"""memlease: a memcached client for Python with a Rust core.

It speaks memcached's meta protocol over pooled connections, places keys on many servers with
a libmemcached-compatible ketama ring, releases the GIL for every network wait, and reads and
writes values in pymemcache's ``pickle_serde`` layout.

Errors form one tree rooted at :class:`MemcacheError`::

    MemcacheError
    ├── ClientError                  the request itself is wrong; retrying cannot help
    │   ├── InvalidKey               empty key, or not str / bytes
    │   ├── InvalidArgument          bad option, flag string, server spec, TTL, delta ...
    │   ├── ValueTooLarge            value over the server's item size limit (.size, .limit)
    │   ├── SerializationError       the value cannot be (de)serialized
    │   └── ServerRejected           the server answered CLIENT_ERROR (e.g. incr of text)
    ├── ServerError                  the server answered, with an error or with nonsense
    │   └── UnexpectedReply          protocol violation; the connection was discarded
    ├── AuthenticationError          the server refused username / password (-Y auth file)
    └── MemcacheConnectionError      the server could not be reached or the connection broke
        ├── ServerDown               marked down after failing: failed at once (.retry_in)
        └── MemcacheTimeout          a deadline passed
            ├── ConnectTimeout       opening a connection took longer than connect_timeout
            ├── ReadTimeout          the reply took longer than timeout
            └── PoolTimeout          no free connection within pool_timeout
"""

from __future__ import annotations

from memlease import _logging  # noqa: F401  (routes the core's events to logging)
from memlease._client import AsyncClient, Client
from memlease._core import LeaseResult, MetaResult
from memlease._errors import (
    AuthenticationError,
    ClientError,
    ConnectTimeout,
    InvalidArgument,
    InvalidKey,
    MemcacheConnectionError,
    MemcacheError,
    MemcacheTimeout,
    PoolTimeout,
    ReadTimeout,
    SerializationError,
    ServerDown,
    ServerError,
    ServerRejected,
    UnexpectedReply,
    ValueTooLarge,
)
from memlease._policies import LeasePolicy, RecachePolicy, StalePolicy
from memlease._tracker import WriteFailureTracker
from memlease.crud import AsyncRepository, Repository
from memlease.named import CacheManager, NamedCache

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncRepository",
    "AuthenticationError",
    "CacheManager",
    "Client",
    "ClientError",
    "ConnectTimeout",
    "InvalidArgument",
    "InvalidKey",
    "LeasePolicy",
    "LeaseResult",
    "MemcacheConnectionError",
    "MemcacheError",
    "MemcacheTimeout",
    "MetaResult",
    "NamedCache",
    "PoolTimeout",
    "ReadTimeout",
    "RecachePolicy",
    "Repository",
    "SerializationError",
    "ServerDown",
    "ServerError",
    "ServerRejected",
    "StalePolicy",
    "UnexpectedReply",
    "ValueTooLarge",
    "WriteFailureTracker",
    "__version__",
]
