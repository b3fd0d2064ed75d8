"""A TCP proxy in front of one memcached that can be told to fail writes, for tests of what a
client does when a write is lost while reads keep working."""

from __future__ import annotations

import contextlib
import socket
import threading

from memlease.testing import MemcachedServer

# Meta commands that change an item: set (also add, replace, append ...) and delete.
_WRITES = (b"ms ", b"md ")


def _carries_a_write(data: bytes) -> bool:
    return any(line.startswith(_WRITES) for line in data.split(b"\r\n"))


class WriteFailingProxy:
    """Forwards every connection to `server`. While ``failing`` is set, a connection that sends
    a write is cut before the write reaches the server: the client sees a broken connection
    (a "may or may not have happened" failure; here it surely did not). Reads pass."""

    def __init__(self, server: MemcachedServer) -> None:
        self._upstream = (server.host, server.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.failing = False
        self.writes_failed = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [downstream, upstream]
            pair = (downstream, upstream)
            threading.Thread(target=self._pump, args=(*pair, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(*reversed(pair), False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests and self.failing and _carries_a_write(data):
                    self.writes_failed += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Cut both directions, so the other pump and the client see it at once.
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
