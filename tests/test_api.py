"""The public surface is pinned: changing it is a deliberate act."""

from __future__ import annotations

import memlease


def test_public_names() -> None:
    assert sorted(memlease.__all__) == sorted(
        [
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
            "RecachePolicy",
            "ReadTimeout",
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
    )
    for name in memlease.__all__:
        assert hasattr(memlease, name)


def test_exception_tree() -> None:
    tree = {
        memlease.ClientError: memlease.MemcacheError,
        memlease.InvalidKey: memlease.ClientError,
        memlease.InvalidArgument: memlease.ClientError,
        memlease.ValueTooLarge: memlease.ClientError,
        memlease.SerializationError: memlease.ClientError,
        memlease.ServerRejected: memlease.ClientError,
        memlease.ServerError: memlease.MemcacheError,
        memlease.UnexpectedReply: memlease.ServerError,
        memlease.MemcacheConnectionError: memlease.MemcacheError,
        memlease.MemcacheTimeout: memlease.MemcacheConnectionError,
        memlease.ServerDown: memlease.MemcacheConnectionError,
        memlease.ConnectTimeout: memlease.MemcacheTimeout,
        memlease.ReadTimeout: memlease.MemcacheTimeout,
        memlease.PoolTimeout: memlease.MemcacheTimeout,
    }
    for child, parent in tree.items():
        assert issubclass(child, parent), (child, parent)
    assert issubclass(memlease.InvalidArgument, ValueError)
    assert "MemcacheError" in (memlease.__doc__ or "")
