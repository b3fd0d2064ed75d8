"""Where a run happened: machine, Python, memcached, event loop, commit, and the clients."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import memlease

from .client_api import AnyClient, AsyncBenchClient

REPOSITORY = Path(__file__).resolve().parents[2]  # benches/peer_bench/ -> the checkout


def environment(address: str, clients: list[AnyClient]) -> dict[str, Any]:
    probe = memlease.Client(address)
    try:
        memcached_version = next(iter(probe.version().values()))
    finally:
        probe.close()
    loop = asyncio.new_event_loop()
    loop_class = type(loop).__name__
    loop.close()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memcached": memcached_version,
        "event_loop": loop_class,
        "commit": commit(),
        "clients": {client_label(client): client.describe() for client in clients},
    }


def client_label(client: AnyClient) -> str:
    return f"{client.name} (async)" if isinstance(client, AsyncBenchClient) else client.name


def cpu_model() -> str:
    """The CPU's model name as Linux reports it, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def commit() -> str:
    """The checkout's commit, marked when its tracked files differ from it."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes" if dirty else head
