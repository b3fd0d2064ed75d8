"""Running the ``memlease`` tool in-process (click's CliRunner) against the real memcached of
tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from click.testing import CliRunner, Result

from memlease.cli.app import cli
from memlease.testing import MemcachedServer, free_port

RunCli = Callable[..., Result]


def invoke(servers: str | None, args: Sequence[str], stdin: bytes | None = None) -> Result:
    """`memlease [--servers servers] args...`, stdout and stderr kept apart."""
    runner = CliRunner()
    prefix = [] if servers is None else ["--servers", servers]
    return runner.invoke(cli, [*prefix, *args], input=stdin, prog_name="memlease")


@pytest.fixture
def run_cli(server: MemcachedServer) -> RunCli:
    """The tool pointed at the session's server (flushed first)."""
    import memlease

    with memlease.Client(server.address) as client:
        client.flush_all()

    def run(*args: str, stdin: bytes | None = None) -> Result:
        return invoke(server.address, args, stdin)

    return run


@pytest.fixture
def dead_address() -> str:
    """A loopback port nothing listens on (connection refused)."""
    return f"127.0.0.1:{free_port()}"
