"""raw-socket: the floor under every client, one round trip written in plain Python."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from .client_api import BenchClient, split_address


class RawSocketConnection:
    """The least a Python program can do per get: one ``mg`` out, read until the reply is in."""

    RECV_SIZE = 65536

    def __init__(self, address: str) -> None:
        self._sock = socket.create_connection(split_address(address))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, key: bytes) -> bytes | None:
        self._sock.sendall(b"mg " + key + b" v\r\n")
        reply = self._recv()
        while b"\r\n" not in reply:
            reply += self._recv()
        header_end = reply.index(b"\r\n")
        if reply.startswith(b"EN"):
            return None
        if not reply.startswith(b"VA "):
            raise RuntimeError(f"unexpected reply to mg: {reply[:header_end]!r}")
        value_start = header_end + 2
        value_end = value_start + int(reply[3:header_end].split(b" ", 1)[0])
        while len(reply) < value_end + 2:  # the value and its trailing \r\n
            reply += self._recv()
        return reply[value_start:value_end]

    def store(self, key: bytes, value: bytes) -> None:
        self._sock.sendall(b"ms %s %d T0\r\n%s\r\n" % (key, len(value), value))
        reply = self._recv()
        if reply != b"HD\r\n":
            raise RuntimeError(f"unexpected reply to ms: {reply!r}")

    def store_many(self, keys: Sequence[str], value: bytes) -> None:
        """Store `value` under every key in one pipelined write: quiet sets, then a no-op whose
        reply says they are all done (a quiet set answers only when it fails)."""
        header = b"ms %s %d T0 q\r\n"
        request = b"".join(header % (key.encode(), len(value)) + value + b"\r\n" for key in keys)
        self._sock.sendall(request + b"mn\r\n")
        reply = self._recv()
        while not reply.endswith(b"MN\r\n"):
            reply += self._recv()
        if reply != b"MN\r\n":
            raise RuntimeError(f"unexpected reply to quiet ms: {reply[:200]!r}")

    def _recv(self) -> bytes:
        chunk = self._sock.recv(self.RECV_SIZE)
        if not chunk:
            raise ConnectionError("memcached closed the connection")
        return chunk

    def close(self) -> None:
        self._sock.close()


class RawSocketClient(BenchClient):
    name = "raw-socket"
    scenarios = frozenset({"get_100B"})

    def __init__(self, address: str) -> None:
        self._connection = RawSocketConnection(address)

    def get(self, key: str) -> Any:
        return self._connection.get(key.encode())

    def describe(self) -> str:
        return "`mg <key> v` + recv until the reply is complete, in pure Python (this script)"

    def close(self) -> None:
        self._connection.close()
