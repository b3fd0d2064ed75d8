"""TCP proxies in front of a real memcached that misbehave on purpose: one that fails writes,
one that answers a reply behind. Each forwards every client connection to its own upstream
connection with one thread per direction."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from memlease.testing import MemcachedServer

# Meta commands that change an item: set (also add, replace, append ...) and delete.
_WRITES = (b"ms ", b"md ")


class Proxy:
    """Forwards each connection to `server`, bytes unchanged both ways; subclasses override
    :meth:`requests` or :meth:`replies` to misbehave."""

    def __init__(self, server: MemcachedServer) -> None:
        self._upstream = (server.host, server.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        for downstream in accepted(self._listener):
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self.connections += 1
                self._sockets += [downstream, upstream]
            for pump in (self._requests, self._replies):
                threading.Thread(target=pump, args=(downstream, upstream), daemon=True).start()

    def _requests(self, downstream: socket.socket, upstream: socket.socket) -> None:
        with self._cut_when_done(downstream, upstream):
            self.requests(downstream, upstream)

    def _replies(self, downstream: socket.socket, upstream: socket.socket) -> None:
        with self._cut_when_done(downstream, upstream):
            self.replies(upstream, downstream)

    def requests(self, client: socket.socket, server: socket.socket) -> None:
        _copy(client, server)

    def replies(self, server: socket.socket, client: socket.socket) -> None:
        _copy(server, client)

    @contextlib.contextmanager
    def _cut_when_done(self, *pair: socket.socket) -> Any:
        # Either direction ending cuts both, so the other pump and the client see it at once.
        try:
            yield
        except OSError:
            pass
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def accepted(listener: socket.socket) -> Iterator[socket.socket]:
    """The connections `listener` accepts, until it is closed."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # closed
        yield connection


def _copy(source: socket.socket, sink: socket.socket) -> None:
    while data := source.recv(65536):
        sink.sendall(data)


class WriteFailingProxy(Proxy):
    """While ``failing`` is set, a connection that sends a write is cut before the write
    reaches the server: the client sees a broken connection (a "may or may not have happened"
    failure; here it surely did not). Reads pass."""

    def __init__(self, server: MemcachedServer) -> None:
        self.failing = False
        self.writes_failed = 0
        super().__init__(server)

    def requests(self, client: socket.socket, server: socket.socket) -> None:
        while data := client.recv(65536):
            if self.failing and any(line.startswith(_WRITES) for line in data.split(b"\r\n")):
                self.writes_failed += 1
                return
            server.sendall(data)


class LaggingProxy(Proxy):
    """Answers each connection's first request in step and every later one with the reply to
    the request before it: the classic "one reply behind" desynchronisation."""

    def replies(self, server: socket.socket, client: socket.socket) -> None:
        stream = server.makefile("rb")
        previous: bytes | None = None
        while (reply := _read_meta_reply(stream)) is not None:
            client.sendall(reply if previous is None else previous)
            previous = reply


def _read_meta_reply(stream: Any) -> bytes | None:
    """One meta reply off a buffered socket file, `None` at end of stream."""
    line = stream.readline()
    if not line:
        return None
    if line.startswith(b"VA "):
        size = int(line.split()[1])
        line += stream.read(size + 2)
    return bytes(line)
