"""Throwaway memcached servers for tests, demos and benchmarks.

``MemcachedServer`` starts a real ``memcached`` binary on a free loopback port (or a Unix
socket) and stops it on exit::

    with MemcachedServer() as server:
        client = memlease.Client(server.address)

It can also freeze (``SIGSTOP``) and thaw a server, to test how a client behaves when a server
accepts connections but never answers, and require authentication
(``MemcachedServer(credentials=("user", "password"))``: memcached's ``-Y`` auth file).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["MemcachedServer", "find_memcached", "free_port"]

_START_TIMEOUT = 10.0


def find_memcached() -> str:
    """Path of the memcached binary (``$MEMCACHED`` or ``PATH``, then /usr/bin and /usr/sbin)."""
    candidates = [os.environ.get("MEMCACHED"), shutil.which("memcached")]
    candidates += ["/usr/bin/memcached", "/usr/sbin/memcached", "/usr/local/bin/memcached"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("memcached not found: install it (Debian: apt-get install memcached)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MemcachedServer:
    """One memcached process on loopback, for the duration of a ``with`` block."""

    def __init__(
        self,
        *,
        port: int | None = None,
        unix_socket: bool = False,
        memory_mb: int = 64,
        threads: int = 2,
        item_size_max: str | None = None,
        extra_args: tuple[str, ...] = (),
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.unix_socket = unix_socket
        self._memory_mb = memory_mb
        self._threads = threads
        self._item_size_max = item_size_max
        self._extra_args = extra_args
        self._credentials = credentials
        self._auth_dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: tempfile.TemporaryDirectory[str] | None = None
        self.socket_path: str | None = None

    @property
    def address(self) -> str:
        """The spec a client takes: ``"127.0.0.1:port"`` or ``"unix:/path"``."""
        if self.socket_path is not None:
            return f"unix:{self.socket_path}"
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("server not started")
        return self._process.pid

    def _command(self) -> list[str]:
        command = [
            find_memcached(),
            "-m",
            str(self._memory_mb),
            "-t",
            str(self._threads),
            "-U",
            "0",
        ]
        if self.socket_path is not None:
            command += ["-s", self.socket_path]
        else:
            command += ["-l", self.host, "-p", str(self.port)]
        if self._item_size_max:
            command += ["-I", self._item_size_max]
        if os.geteuid() == 0:
            command += ["-u", "root"]  # memcached refuses to run as root without it
        if self._credentials is not None:
            command += ["-Y", self._auth_file()]
        return command + list(self._extra_args)

    def _auth_file(self) -> str:
        """The ``user:password`` file of ``-Y``, written once per server."""
        assert self._credentials is not None
        if self._auth_dir is None:
            self._auth_dir = tempfile.TemporaryDirectory(prefix="memlease-auth-")
        path = Path(self._auth_dir.name) / "auth"
        user, password = self._credentials
        path.write_text(f"{user}:{password}\n")
        return str(path)

    def _hello(self) -> bytes:
        """What the readiness check sends: a no-op, after authenticating if required."""
        if self._credentials is None:
            return b"mn\r\n"
        token = " ".join(self._credentials).encode()
        return b"set auth 0 0 %d\r\n%s\r\nmn\r\n" % (len(token), token)

    def start(self) -> MemcachedServer:
        """Start the server and wait until it accepts connections."""
        if self.unix_socket:
            self._socket_dir = tempfile.TemporaryDirectory(prefix="memlease-")
            self.socket_path = str(Path(self._socket_dir.name) / "memcached.sock")
        fixed_port = self.port is not None
        for _attempt in range(5):
            if not self.unix_socket and not fixed_port:
                self.port = free_port(self.host)
            if self._spawn():
                return self
            if fixed_port or self.unix_socket:
                break
        raise RuntimeError(f"memcached did not start on {self.address}")

    def _spawn(self) -> bool:
        """Start the process; True once it answers, else it is reaped and False returned."""
        self._process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if self._wait_ready():
            return True
        self._reap()
        return False

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            try:
                with self._connect() as sock:
                    sock.sendall(self._hello())
                    reply = b""
                    while len(reply) < 64 and not reply.endswith(b"MN\r\n"):
                        chunk = sock.recv(64)
                        if not chunk:
                            break
                        reply += chunk
                    if reply.endswith(b"MN\r\n"):
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    def _connect(self) -> socket.socket:
        if self.socket_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(1.0)
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
            return sock
        assert self.port is not None
        return socket.create_connection((self.host, self.port), timeout=1.0)

    def _reap(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            # SIGKILL: a throwaway server has nothing to save, and memcached's graceful
            # shutdown takes about a second.
            self._process.kill()
            self._process.wait()
        self._process = None

    def stop(self) -> None:
        """Stop the server (its data is lost)."""
        self._reap()
        if self._socket_dir is not None:
            self._socket_dir.cleanup()
            self._socket_dir = None
        if self._auth_dir is not None:
            self._auth_dir.cleanup()
            self._auth_dir = None

    def restart(self) -> None:
        """Stop and start again on the same address, with an empty cache."""
        self._reap()
        # The old socket may linger briefly in the kernel; retry the bind for a few seconds.
        for _attempt in range(50):
            if self._spawn():
                return
            time.sleep(0.1)
        raise RuntimeError(f"memcached did not restart on {self.address}")

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but nothing is answered. Returns once
        the process is really stopped (the signal is delivered asynchronously)."""
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not self._stopped():
            time.sleep(0.001)

    def _stopped(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                # The state follows the parenthesised command name: T = stopped.
                return stat.read().rsplit(")", 1)[1].split()[0] == "T"
        except OSError:
            return True  # no /proc (not Linux): the short sleep above is all we can do

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        os.kill(self.pid, signal.SIGCONT)

    def __enter__(self) -> MemcachedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
