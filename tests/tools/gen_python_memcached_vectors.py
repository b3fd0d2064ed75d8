"""Regenerate src/route/ring/testdata/python_memcached.txt (preset `python_memcached`) from
python-memcached itself.

Builds a real `memcache.Client` per fleet (`"host:port"`, `"inet6:[host]:port"` or
`"unix:path"` specs, as `(spec, weight)` tuples) and asks its `_get_server` for each key, encoded
the way the client encodes keys (`_encode_key`: str -> UTF-8). No socket is opened:
`_Host.connect` is replaced by its dead-or-alive check, so `_get_server`'s own rehash loop
(`str(hash) + str(i)`, 10 tries) runs unchanged for the `live` lines, where the listed servers are
marked dead (`deaduntil` in the future).

    .venv/bin/pip install python-memcached==1.62
    .venv/bin/python -m tests.tools.gen_python_memcached_vectors
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from tests.tools.placement_common import FLEETS, Key, Node, write_vectors

memcache: Any = importlib.import_module("memcache")  # untyped; not a dev requirement
# Alive unless marked dead, without connecting anywhere.
memcache._Host.connect = lambda host: 0 if host._check_dead() else 1


def spec(node: Node) -> tuple[str, int]:
    if node.is_unix:
        address = f"unix:{node.host}"
    elif ":" in node.host:
        address = f"inet6:[{node.host}]:{node.port}"
    else:
        address = f"{node.host}:{node.port}"
    return (address, node.weight)


def client(fleet: list[Node], down: list[int]) -> tuple[Any, list[Any]]:
    mc = memcache.Client([spec(node) for node in fleet])
    hosts = list(mc.servers)
    for index in down:
        hosts[index].deaduntil = time.time() + 3600
    return mc, hosts


def live(fleet: list[Node], down: list[int]) -> Callable[[Key], int | None]:
    mc, hosts = client(fleet, down)

    def lookup(key: Key) -> int | None:
        server, _ = mc._get_server(mc._encode_key(key.python()))
        return None if server is None else hosts.index(server)

    return lookup


def place(fleet: list[Node]) -> Callable[[Key], int]:
    lookup = live(fleet, [])
    return lambda key: lookup(key) or 0


if __name__ == "__main__":
    write_vectors(
        "python_memcached.txt",
        f"preset python_memcached: memcache.Client, python-memcached {version('python-memcached')}",
        FLEETS,
        place,
        live,
    )
