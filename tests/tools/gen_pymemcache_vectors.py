"""Regenerate src/route/ring/testdata/pymemcache.txt (preset `pymemcache`) from pymemcache itself.

Builds a real `pymemcache.client.hash.HashClient` per fleet (servers as `(host, port)` tuples, or
the path for a unix socket; no connection is made) and asks its hasher, the default
`RendezvousHash`, for each key's node. The key goes in exactly as the application passes it: a
`bytes` key is formatted into pymemcache's f-string as "b'...'". Keys that HashClient accepts are
also routed through `HashClient._get_client` to check that it picks the same server. pymemcache
has no weights; the weighted fleet checks that the preset ignores them.

Failover (`live` lines): HashClient removes a dead server from its hasher
(`remove_server` -> `hasher.remove_node`); the key then goes to the best-scoring remaining node.

    .venv/bin/pip install pymemcache==4.0.0
    .venv/bin/python -m tests.tools.gen_pymemcache_vectors
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheIllegalInputError

from tests.tools.placement_common import FLEETS, Key, Node, write_vectors


def servers(fleet: list[Node]) -> list[tuple[str, int] | str]:
    return [node.host if node.is_unix else (node.host, node.port) for node in fleet]


def client(fleet: list[Node]) -> tuple[HashClient, list[str]]:
    hc = HashClient(servers(fleet), allow_unicode_keys=True)
    # HashClient keys its clients (and names hasher nodes) "host:port", or the socket path.
    names = [hc._make_client_key(server) for server in servers(fleet)]
    assert list(hc.clients) == names and hc.hasher.nodes == names
    return hc, names


def place(fleet: list[Node]) -> Callable[[Key], int]:
    hc, names = client(fleet)

    def lookup(key: Key) -> int:
        index = names.index(hc.hasher.get_node(key.python()))
        try:
            chosen = hc._get_client(key.python())
        except MemcacheIllegalInputError:
            return index  # whitespace, NUL, >250 bytes: HashClient refuses the key itself
        assert chosen is hc.clients[names[index]]
        return index

    return lookup


def live(fleet: list[Node], down: list[int]) -> Callable[[Key], int | None]:
    hc, names = client(fleet)
    for index in down:
        hc.hasher.remove_node(names[index])

    def lookup(key: Key) -> int | None:
        node = hc.hasher.get_node(key.python())
        return None if node is None else names.index(node)

    return lookup


if __name__ == "__main__":
    write_vectors(
        "pymemcache.txt",
        f"preset pymemcache: HashClient + RendezvousHash, pymemcache {version('pymemcache')}",
        FLEETS,
        place,
        live,
    )
