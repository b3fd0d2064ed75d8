"""Shared pieces of the placement vector generators (tests/tools/gen_*_vectors.py).

Every generator places the same keys (src/route/ring/testdata/placement_keys.txt) on the same fleets
with a real client library and writes one file per preset, which the Rust tests in src/route/ring/
replay. The format is compact so that thousands of keys per fleet stay small:

    # comment lines
    fleet <name> <host:port:weight> ...   a server list (unix sockets: <path>:0:<weight>)
    place <one character per key>         index of the owning server, base 36 ("0".."9", "a"..)
    live <down indices, comma-separated> <one character per key, "-" when none is live>

`live` lines record the library's own failover with the listed servers unavailable.
The key file has one key per line: `s <hex of UTF-8>` for a Python str, `b <hex>` for bytes.

    .venv/bin/python -m tests.tools.gen_placement_keys   # only when the key set changes
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "..", "src", "route", "ring", "testdata")
KEYS_FILE = os.path.join(TESTDATA, "placement_keys.txt")
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class Node(NamedTuple):
    host: str  # as configured: IPv6 without brackets, unix socket path
    port: int  # 0 for a unix socket
    weight: int

    @property
    def is_unix(self) -> bool:
        return self.port == 0

    def spec(self) -> str:
        return f"{self.host}:{self.port}:{self.weight}"


def _ip(host: str, port: int = 11211, weight: int = 1) -> Node:
    return Node(host, port, weight)


FLEETS: dict[str, list[Node]] = {
    # protocol.md §3.1's table: default port ("host-k" names) next to a non-default one.
    "local3": [_ip("127.0.0.1"), _ip("127.0.0.1", 11212), _ip("10.0.0.5")],
    "two": [_ip("mc1.example.com", 11212), _ip("mc2.example.com", 11213)],
    "hosts4": [
        _ip("cache-a.internal"),
        _ip("cache-b.internal", 11311),
        _ip("cache-c"),
        _ip("192.168.1.20", 22122),
    ],
    # Weights, for the presets that have them (the others must ignore them).
    "weighted5": [
        _ip("10.0.1.1", 11211, 3),
        _ip("10.0.1.2", 11211, 1),
        _ip("cache-x", 11500, 2),
        _ip("10.0.1.4", 11211, 5),
        _ip("cache-y", 11211, 1),
    ],
    "equal10": [_ip(f"10.1.0.{i}") for i in range(1, 11)],
    "ipv6": [_ip("::1"), _ip("fe80::1", 11300), _ip("2001:db8::10")],
    "unix2": [Node("/tmp/memcached-a.sock", 0, 1), Node("/var/run/memcached/b.sock", 0, 1)],
}


class Key(NamedTuple):
    data: bytes  # the key's bytes (UTF-8 for a str key)
    is_bytes: bool

    def python(self) -> str | bytes:
        """The key as the application would pass it to the client."""
        return self.data if self.is_bytes else self.data.decode("utf-8")


def make_keys() -> list[Key]:
    """The fixed key set: ASCII, non-ASCII and control characters, bytes keys (every byte value,
    both quote characters), lengths from 1 to 1024 (XXH3 has separate paths up to 240 bytes)."""
    rng = random.Random(20261128)
    printable = [chr(c) for c in range(0x21, 0x7F)]
    unicode_pool = (
        list("éüÿßñçøåÆŒ")
        + list("αβγδΩжщЯ")
        + list("中文字符日本語한국어")
        + [
            "\U0001f600",
            "\U0001f680",
            "\u2603",
            "\u00a0",
            "\u0100",
            "\u0101",
            "\u0180",
            "\u01ff",
        ]
    )
    keys: list[Key] = []

    def text(s: str) -> None:
        keys.append(Key(s.encode("utf-8"), False))

    def raw(b: bytes) -> None:
        keys.append(Key(b, True))

    for word in ["foo", "bar", "user:1", "session:abc", "VDEAAAAA", "SVa_]_V41)", "6666", "ok"]:
        text(word)
        raw(word.encode())
    for i in range(300):
        text(f"user:{i}:profile")
    for _ in range(700):
        text("".join(rng.choice(printable) for _ in range(rng.randint(1, 40))))
    for _ in range(300):
        text(
            "".join(
                rng.choice(unicode_pool) if rng.random() < 0.5 else rng.choice(printable)
                for _ in range(rng.randint(1, 30))
            )
        )
    for _ in range(40):
        # Whitespace and control characters: not valid on the text protocol, but placement
        # hashes the user's key before any wire mapping.
        text(
            "".join(
                rng.choice([*printable, " ", "\t", "\n", "\r", "\x01", "\x7f"]) for _ in range(12)
            )
        )
    for c in range(0x20, 0x7F):
        text(chr(c))
    for b in range(256):
        raw(bytes([b]))
    for _ in range(300):
        raw(bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 40))))
    for _ in range(300):
        raw("".join(rng.choice(printable) for _ in range(rng.randint(1, 40))).encode())
    for body in ["it's", 'say "hi"', "both ' and \"", "back\\slash", "'", '"', "\\"]:
        raw(body.encode())
    for length in [*range(41, 251, 3), 300, 400, 512, 700, 1000, 1024]:
        text("".join(rng.choice(printable) for _ in range(length)))
        raw(bytes(rng.randint(1, 255) for _ in range(length)))
    seen: set[Key] = set()
    unique = []
    for key in keys:
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def write_keys(keys: Sequence[Key]) -> None:
    with open(KEYS_FILE, "w") as out:
        for key in keys:
            out.write(f"{'b' if key.is_bytes else 's'} {key.data.hex()}\n")


def load_keys() -> list[Key]:
    keys = []
    with open(KEYS_FILE) as f:
        for line in f:
            kind, hexed = line.split()
            keys.append(Key(bytes.fromhex(hexed), kind == "b"))
    return keys


def encode(indices: Iterable[int | None]) -> str:
    return "".join("-" if i is None else DIGITS[i] for i in indices)


def down_sets(count: int) -> list[list[int]]:
    """Which servers to take down for the failover vectors: one, two, all but one, all."""
    sets = [[0], [count - 1], list(range(count - 1)), list(range(count))]
    if count > 2:
        sets.insert(2, [1, count - 1])
    return sets


def write_vectors(
    path: str,
    header: str,
    fleets: dict[str, list[Node]],
    place: Callable[[list[Node]], Callable[[Key], int]],
    live: Callable[[list[Node], list[int]], Callable[[Key], int | None] | None] | None = None,
) -> None:
    """Write one preset's vectors: `place(fleet)` returns the library's key -> server index
    function, `live(fleet, down)` the same with servers `down` unavailable (or None to skip)."""
    keys = load_keys()
    with open(os.path.join(TESTDATA, path), "w") as out:
        out.write(f"# {header}\n")
        out.write(
            f"# {len(keys)} keys from placement_keys.txt; format: tests/tools/placement_common.py\n"
        )
        for name, fleet in fleets.items():
            out.write(f"fleet {name} {' '.join(node.spec() for node in fleet)}\n")
            lookup = place(fleet)
            out.write(f"place {encode(lookup(key) for key in keys)}\n")
            if live is None:
                continue
            for down in down_sets(len(fleet)):
                lookup_live = live(fleet, down)
                if lookup_live is None:
                    continue
                result = encode(lookup_live(key) for key in keys)
                out.write(f"live {','.join(map(str, down))} {result}\n")
