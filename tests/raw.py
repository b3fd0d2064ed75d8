"""Reading a server's memory behind memlease's back.

memlease's clients in one process share what they know about servers (a server that missed
an invalidation owes it, and pays it before answering the next read of that key). A test that
wants to see what the server itself holds, debts unpaid, asks over a socket of its own.
"""

from __future__ import annotations

import socket

from memlease.testing import MemcachedServer


def raw_get(server: MemcachedServer, key: str) -> bytes | None:
    """The bytes `server` holds under `key` (a miss, a lease placeholder or a stale item as
    memcached returns them: None for a miss, the stored bytes otherwise)."""
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(f"mg {key} v\r\n".encode())
        reply = b""
        while not (reply.startswith(b"EN\r\n") or _complete(reply)):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{server.address} closed the connection")
            reply += chunk
    if reply.startswith(b"EN"):
        return None
    header, _, rest = reply.partition(b"\r\n")
    size = int(header.split()[1])
    return rest[:size]


def _complete(reply: bytes) -> bool:
    header, sep, rest = reply.partition(b"\r\n")
    if not sep or not header.startswith(b"VA "):
        return False
    return len(rest) >= int(header.split()[1]) + 2
