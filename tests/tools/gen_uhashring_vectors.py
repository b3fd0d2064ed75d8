"""Regenerate src/route/ring/testdata/uhashring.txt (preset `uhashring`) from RevenueCat's
meta-memcache and uhashring.

Fleets without weights go through meta-memcache's own `HashRingConnectionPoolProvider` (a
uhashring `HashRing` over the sorted `ServerAddress`es, so nodes are named `str(address)`:
"host:port", "[v6]:port"), with `Key(key)` exactly as the application passes it (a `bytes` key is
hashed as its repr "b'...'", since uhashring hashes `str(key)`). meta-memcache exposes no weights,
so the weighted fleet uses uhashring's `HashRing({address: {"weight": w}})` directly, which gives a
node `160 * weight` points. Unix sockets: meta-memcache only connects over TCP; the vectors name
them `ServerAddress(path, 0)` ("path:0"), which is what the preset does.

Failover (`live` lines): the listed nodes are removed from the ring (`remove_node`), so a key goes
to the next point clockwise owned by a remaining node; checked to equal the first remaining node
of uhashring's `iterate_nodes(key)`.

    .venv/bin/pip install meta-memcache==4.3.0 uhashring==2.5
    .venv/bin/python -m tests.tools.gen_uhashring_vectors
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from tests.tools.placement_common import FLEETS, Key, Node, write_vectors

# Not dev requirements (and untyped for mypy's purposes): imported dynamically.
uhashring: Any = importlib.import_module("uhashring")
configuration: Any = importlib.import_module("meta_memcache.configuration")
providers: Any = importlib.import_module("meta_memcache.connection.providers")
protocol: Any = importlib.import_module("meta_memcache.protocol")


def addresses(fleet: list[Node]) -> list[Any]:
    return [configuration.ServerAddress(node.host, node.port) for node in fleet]


def ring(fleet: list[Node]) -> Any:
    return uhashring.HashRing(
        {a: {"weight": n.weight} for a, n in zip(addresses(fleet), fleet, strict=True)}
    )


def place(fleet: list[Node]) -> Callable[[Key], int]:
    if any(node.weight != 1 for node in fleet):
        weighted = ring(fleet)
        names = addresses(fleet)
        return lambda key: names.index(weighted.get_node(key.python()))
    # The "pools" are the server indices: the provider hands back whatever it was given.
    provider = providers.HashRingConnectionPoolProvider(
        {address: i for i, address in enumerate(addresses(fleet))}
    )
    return lambda key: int(provider.get_pool(protocol.Key(key.python())))


def live(fleet: list[Node], down: list[int]) -> Callable[[Key], int | None]:
    names = addresses(fleet)
    remaining = ring(fleet)
    full = ring(fleet)
    for index in down:
        remaining.remove_node(names[index])

    def lookup(key: Key) -> int | None:
        node = remaining.get_node(key.python())
        walk = (n for n in full.iterate_nodes(key.python()) if names.index(n) not in down)
        assert node == next(walk, None)
        return None if node is None else names.index(node)

    return lookup


if __name__ == "__main__":
    write_vectors(
        "uhashring.txt",
        f"preset uhashring: meta-memcache {version('meta-memcache')} HashRingConnectionPoolProvider"
        f" / uhashring {version('uhashring')} HashRing",
        FLEETS,
        place,
        live,
    )
