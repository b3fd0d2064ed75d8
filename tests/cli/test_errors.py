"""Exit codes and one-line messages: unreachable, timeout, bad arguments, missing extra; and the
real console entry (`python -m memlease`) in a subprocess."""

from __future__ import annotations

import contextlib
import importlib.metadata
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from memlease import cli as cli_package
from memlease.testing import MemcachedServer
from tests.cli.conftest import RunCli, invoke


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memlease", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    "args",
    [["stats"], ["get", "k"], ["set", "k", "v"], ["delete", "k"], ["touch", "k", "1"], ["bench"]],
)
def test_unreachable_server_exits_3_with_one_line(dead_address: str, args: list[str]) -> None:
    result = invoke(dead_address, args)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("memlease: ")
    assert "MemcacheConnectionError" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.fixture
def frozen(own_server: MemcachedServer) -> Iterator[MemcachedServer]:
    """A server that accepts connections but never answers (SIGSTOP)."""
    own_server.freeze()
    try:
        yield own_server
    finally:
        own_server.thaw()


def test_timeout_exits_4(frozen: MemcachedServer) -> None:
    result = invoke(frozen.address, ["--timeout", "0.2", "get", "k"])
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith("memlease: ReadTimeout")
    assert result.stderr.count("\n") == 1


@pytest.fixture
def failing_server() -> Iterator[str]:
    """A scripted server answering every request line with SERVER_ERROR."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as requests:
                for _line in requests:
                    conn.sendall(b"SERVER_ERROR out of memory storing object\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_server_error_exits_5(failing_server: str) -> None:
    result = invoke(failing_server, ["get", "k"])
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith("memlease: ServerError")
    assert "out of memory" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("servers", "args", "message"),
    [
        ("127.0.0.1:1", ["nosuchcommand"], "No such command"),
        ("127.0.0.1:1", ["set", "k", "v", "--ttl", "-1"], "--ttl"),
        ("127.0.0.1:1", ["touch", "k"], "Missing argument"),
        ("127.0.0.1:1", ["--hashing", "nope", "stats"], "--hashing"),
        ("127.0.0.1:1", ["--timeout", "0", "stats"], "--timeout"),
        ("127.0.0.1:1 x", ["stats"], "weight"),
        ("a b c", ["stats"], "host:port [weight]"),
        (None, ["stats"], "MEMLEASE_SERVERS"),
        ("127.0.0.1:1", ["bench", "--get-ratio", "2"], "--get-ratio"),
        ("127.0.0.1:1", ["get", ""], "InvalidKey"),  # the library's refusal, not a crash
    ],
)
def test_bad_arguments_exit_2(
    servers: str | None, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMLEASE_SERVERS", raising=False)
    result = invoke(servers, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_servers_from_the_environment(
    run_cli: RunCli, server: MemcachedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("set", "k", "from-env")
    monkeypatch.setenv("MEMLEASE_SERVERS", server.address)
    result = invoke(None, ["get", "k"])
    assert (result.exit_code, result.stdout) == (0, "from-env\n")


def test_help_needs_no_servers_and_documents_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMLEASE_SERVERS", raising=False)
    top = invoke(None, ["--help"])
    assert top.exit_code == 0
    assert "Exit codes:" in top.stdout
    assert "3 server unreachable" in top.stdout
    assert invoke(None, ["stats", "--help"]).exit_code == 0


def test_missing_extra_is_one_line_telling_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich -> ImportError
    with pytest.raises(SystemExit) as exit_info:
        cli_package.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err == "memlease: the command-line tool needs rich: pip install 'memlease[cli]'\n"


def test_console_script_is_declared() -> None:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="memlease")
    assert entry.value == "memlease.cli:main"
    assert entry.load() is cli_package.main


def test_subprocess_round_trip_and_exit_codes(server: MemcachedServer, dead_address: str) -> None:
    ok = run_module("--servers", server.address, "set", "sub", "process")
    assert (ok.returncode, ok.stdout) == (0, "stored\n")
    got = run_module("--servers", server.address, "get", "sub", "--raw")
    assert (got.returncode, got.stdout) == (0, "process")
    missing = run_module("--servers", server.address, "get", "never-set-key")
    assert missing.returncode == 1
    down = run_module("--servers", dead_address, "stats")
    assert down.returncode == 3
    assert down.stderr.startswith("memlease: ")
    assert down.stderr.count("\n") == 1
    assert "Traceback" not in down.stderr
    usage = run_module("--servers", server.address, "touch", "k", "soon")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


def test_ctrl_c_stops_watch_cleanly(server: MemcachedServer) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "memlease", "--servers", server.address, "watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # one refresh printed: it is running
        assert '"servers"' in first
        watcher.send_signal(signal.SIGINT)
        _, stderr = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
        watcher.wait()
    assert watcher.returncode == 0
    assert "Traceback" not in stderr
