"""Every ```python block of README.md and docs/**/*.md runs, as written, against real memcached.

The conventions the pages follow (so a reader can paste any block into a Python shell):

- A page's python blocks run in order, in one namespace (the ``__main__`` module, as in a
  shell, so classes a block defines can be pickled), in a fresh interpreter per page: a page may
  configure Django, start threads or event loops without touching this process or other pages.
- Servers: blocks name local memcached servers ``"127.0.0.1:11211"``, ``"127.0.0.1:11212"``, ...
  (ports 11211-11229). Each distinct such address on a page is replaced by the address of a
  throwaway server started here (``memlease.testing.MemcachedServer``), all flushed before the
  page runs. Other addresses are left alone (``"127.0.0.1:1"``: nothing listens there, a page
  may use it as a server that is down).
- Blocks that must not run use another fence (```sh, ```text, ```toml ...), or follow an HTML
  comment ``<!-- no-run: why -->`` on the line before the fence (invisible once rendered); the
  reason is required.
- A traceback names the page and the line in it: each block is compiled with the page as its
  file name and its own line numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import memlease
from memlease.testing import MemcachedServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LOCAL_ADDRESS = re.compile(r"127\.0\.0\.1:(112[1-2][0-9])\b")
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`]*)$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run:(?P<reason>.*?)-->\s*$")
PAGE_TIMEOUT = 180.0

# Runs in the page's own interpreter: the blocks, in order, in __main__'s namespace.
RUNNER = """
import __main__, json, sys
for path, line, code in json.load(sys.stdin):
    exec(compile("\\n" * (line - 1) + code, path, "exec"), __main__.__dict__)
"""


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the block's first code line in the page
    info: str  # the fence's info string: "python", "sh" ...
    code: str
    no_run: str | None  # the reason, for a python block marked not to run


def blocks_of(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(root))
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        marker = NO_RUN.match(lines[index - 1]) if index > 0 else None
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        start = index - len(body) + 1  # 1-based line of the first code line
        reason = marker["reason"].strip() if marker else None
        found.append(Block(page, start, opening["info"].strip(), "\n".join(body) + "\n", reason))
        index += 1
    return found


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks_of(path) if b.info == "python" and b.no_run is None]


class ServerPool:
    """memcached servers started on demand and shared by the pages."""

    def __init__(self) -> None:
        self.servers: list[MemcachedServer] = []

    def take(self, count: int) -> list[MemcachedServer]:
        while len(self.servers) < count:
            self.servers.append(MemcachedServer().start())
        return self.servers[:count]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerPool]:
    servers = ServerPool()
    yield servers
    servers.stop()


def with_servers(blocks: list[Block], pool: ServerPool) -> list[tuple[str, int, str]]:
    """The blocks with each local address replaced by a running server's, all flushed."""
    ports = sorted({port for b in blocks for port in LOCAL_ADDRESS.findall(b.code)})
    servers = pool.take(len(ports))
    for server in servers:
        with memlease.Client(server.address) as client:
            client.flush_all()
    address = {port: server.address for port, server in zip(ports, servers, strict=True)}
    return [(b.page, b.line, LOCAL_ADDRESS.sub(lambda m: address[m[1]], b.code)) for b in blocks]


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


WITH_CODE = [path for path in PAGES if runnable(path)]


@pytest.mark.parametrize("path", WITH_CODE, ids=[name(p) for p in WITH_CODE])
def test_page_snippets_run(path: Path, pool: ServerPool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(with_servers(runnable(path), pool)),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{name(path)} failed:\n{result.stderr}"


def test_every_guide_has_runnable_python() -> None:
    """Guards the extractor: a fence it stopped recognising would silently drop a page from
    the test above. Only the API reference pages (mkdocstrings directives) have no code."""
    assert {"README.md", "docs/index.md", "docs/quickstart.md"} <= {name(p) for p in PAGES}
    without = {name(p) for p in PAGES if p not in WITH_CODE}
    assert all(page.startswith("docs/reference/") for page in without), without


def test_no_run_markers_give_a_reason() -> None:
    marked = [b for p in PAGES for b in blocks_of(p) if b.no_run is not None]
    assert all(b.no_run for b in marked), [f"{b.page}:{b.line}" for b in marked if not b.no_run]


def test_extractor_reads_fences_lines_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n<!-- no-run: needs a cluster -->\n```python\nboom\n```\n"
        "- item\n\n  ```sh\n  make demo\n  ```\n"
    )
    found = blocks_of(page, root=tmp_path)
    assert [(b.line, b.info, b.code, b.no_run) for b in found] == [
        (3, "python", "x = 1\n", None),
        (7, "python", "boom\n", "needs a cluster"),
        (12, "sh", "make demo\n", None),
    ]
