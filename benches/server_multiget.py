#!/usr/bin/env python3
"""How long memcached itself takes to answer a 100-key read, per request form.

    .venv/bin/python benches/server_multiget.py [--keys 100] [--batches 2000] [--rounds 3]

A raw socket sends one prebuilt request (no client library, no parsing beyond finding the
end marker) and waits for the whole reply, so the time per batch is the round trip plus
memcached's own work. It compares the classic ``get k1 ... kN`` (what pylibmc's ``get_multi``
sends) with ``N`` quiet meta gets and a closing ``mn`` (what memlease's ``get_many`` sends), and
variants of the meta form.

Why it exists: memlease's ``get_many`` spends about the same client CPU per key as pylibmc but
is slower end to end; this shows the difference is memcached's per-command cost. The classic
form is not an option for memlease: it returns stale-marked items as plain hits and lease
placeholders as empty values.
"""

from __future__ import annotations

import argparse
import socket
import time

from memlease.testing import MemcachedServer

VALUE = b"x" * 100


def forms(keys: list[str]) -> dict[str, tuple[bytes, bytes]]:
    """Each request form: (request bytes, the bytes its reply ends with)."""
    quiet = "".join(f"mg {k} v f q O{i}\r\n" for i, k in enumerate(keys))
    return {
        "classic get": (("get " + " ".join(keys) + "\r\n").encode(), b"END\r\n"),
        "mg v f q O<n> + mn": ((quiet + "mn\r\n").encode(), b"MN\r\n"),
        "mg v q O<n> + mn": (
            ("".join(f"mg {k} v q O{i}\r\n" for i, k in enumerate(keys)) + "mn\r\n").encode(),
            b"MN\r\n",
        ),
        "mg v f (loud) + mn": (
            ("".join(f"mg {k} v f\r\n" for k in keys) + "mn\r\n").encode(),
            b"MN\r\n",
        ),
    }


def round_trip(sock: socket.socket, request: bytes, end: bytes) -> int:
    sock.sendall(request)
    reply = b""
    while not reply.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("memcached closed the connection")
        reply += chunk
    return len(reply)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keys = [f"multiget:{i:04d}" for i in range(args.keys)]
    with MemcachedServer(threads=2) as server:
        sock = socket.create_connection((server.host, server.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for key in keys:
            round_trip(sock, f"set {key} 0 0 {len(VALUE)}\r\n".encode() + VALUE + b"\r\n", b"\r\n")
        print(f"{args.keys} hits of {len(VALUE)} B, {args.batches} batches per round")
        for rnd in range(1, args.rounds + 1):
            for name, (request, end) in forms(keys).items():
                started = time.perf_counter()
                for _ in range(args.batches):
                    size = round_trip(sock, request, end)
                per_batch = (time.perf_counter() - started) / args.batches
                print(f"round {rnd}  {name:20s} {per_batch * 1e6:7.1f} µs per batch  ({size} B)")
        sock.close()


if __name__ == "__main__":
    main()
