"""A TCP proxy in front of a real memcached that misbehaves on command, for the fault matrix
(tests/faults.py). Unlike the fixed-behaviour proxies of tests/proxies.py, its fault is a mode
switched while clients are connected, so a connection that was healthy sees the fault mid-life.

It stays a test tool rather than part of ``memlease.testing``: its modes are shaped by what the
matrix needs, and a public class would owe users a stable interface.

Faults act on replies only (requests pass, except when silent): a request held back and
delivered later would land a stale write after the fault ended, which is the network's doing,
not the client's, and would blur the "no wrong value" check.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Any

from tests.proxies import _read_meta_reply, accepted

MODES = (
    "pass",  # forward unchanged
    "delay",  # every reply byte sent after `byte_delay` seconds
    "trickle",  # replies delivered one byte per TCP segment (slow but correct)
    "silent",  # half-open: connected, nothing forwarded either way
    "reset",  # the connection reset (RST) in the middle of a reply's value
    "truncate",  # half a reply sent, then the connection closed (FIN)
    "garbage",  # bytes that are no reply instead of the reply
    "replay",  # a value reply answered with the last value reply seen (another request's)
    "swap",  # each two consecutive replies of a connection delivered in reverse order
    "unanswered",  # connections accepted and never answered; open ones closed
)

GARBAGE = b"\x00\xfe ZZ 17 garbage\r\nVA x\r\n"


class FaultProxy:
    """Forwards each accepted connection to ``upstream`` ("host", port) with one thread per
    direction; :meth:`set_mode` switches the fault for every connection at once."""

    def __init__(self, upstream: tuple[str, int], byte_delay: float = 0.05) -> None:
        self._upstream = upstream
        self.byte_delay = byte_delay
        self.mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._held: list[socket.socket] = []  # accepted in "unanswered" mode
        self._last_value_reply: bytes | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        if mode == "unanswered":
            # Make the clients open new connections, which then hang.
            self._close_all(self._open)
        elif mode == "pass":
            self._close_all(self._held)

    def _accept(self) -> None:
        for downstream in accepted(self._listener):
            downstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.mode == "unanswered":
                with self._lock:
                    self._held.append(downstream)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=1.0)
                upstream.settimeout(None)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._open += [downstream, upstream]
            for pump in (self._requests, self._replies):
                threading.Thread(target=pump, args=(downstream, upstream), daemon=True).start()

    def _requests(self, downstream: socket.socket, upstream: socket.socket) -> None:
        with _cut_when_done(downstream, upstream):
            while data := downstream.recv(65536):
                if self.mode != "silent":
                    upstream.sendall(data)

    def _replies(self, downstream: socket.socket, upstream: socket.socket) -> None:
        with _cut_when_done(downstream, upstream):
            stream = upstream.makefile("rb")
            held: bytes | None = None
            while (reply := _read_meta_reply(stream)) is not None:
                mode = self.mode
                if mode != "swap" and held is not None:
                    downstream.sendall(held)
                    held = None
                if reply.startswith(b"VA "):
                    previous, self._last_value_reply = self._last_value_reply, reply
                else:
                    previous = None
                if mode == "pass":
                    downstream.sendall(reply)
                elif mode == "delay":
                    _send_bytewise(downstream, reply, self.byte_delay)
                elif mode == "trickle":
                    _send_bytewise(downstream, reply, 0.0005)
                elif mode == "silent":
                    continue
                elif mode == "reset":
                    downstream.sendall(reply[: _middle_of_value(reply)])
                    _reset(downstream)
                    return
                elif mode == "truncate":
                    downstream.sendall(reply[: len(reply) // 2])
                    return
                elif mode == "garbage":
                    downstream.sendall(GARBAGE)
                elif mode == "replay":
                    downstream.sendall(previous if previous not in (None, reply) else reply)
                elif mode == "swap":
                    if held is None:
                        held = reply
                    else:
                        downstream.sendall(reply + held)
                        held = None
                # "unanswered" leaves the connections open before the switch alone: they were
                # closed by set_mode; one that raced it forwards as before.
                else:
                    downstream.sendall(reply)

    def _close_all(self, sockets: list[socket.socket]) -> None:
        with self._lock:
            doomed = list(sockets)
            sockets.clear()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self._close_all(self._open)
        self._close_all(self._held)


@contextlib.contextmanager
def _cut_when_done(*pair: socket.socket) -> Any:
    # Either direction ending cuts both, so the other pump and the client see it at once.
    try:
        yield
    except (OSError, ValueError):
        pass  # ValueError: a socket file read after the socket was closed
    finally:
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _send_bytewise(sock: socket.socket, data: bytes, delay: float) -> None:
    for index in range(len(data)):
        time.sleep(delay)
        sock.sendall(data[index : index + 1])


def _middle_of_value(reply: bytes) -> int:
    """Where to cut `reply`: halfway through its value if it has one, else halfway through."""
    header_end = reply.find(b"\r\n") + 2
    if reply.startswith(b"VA ") and len(reply) > header_end + 2:
        return header_end + (len(reply) - header_end) // 2
    return max(1, len(reply) // 2)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
