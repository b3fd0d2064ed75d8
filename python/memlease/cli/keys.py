"""``memlease get / set / delete / touch``: one key at a time, values shown safely.

``--serde raw`` (the default) shows the bytes as stored with their client flags;
``--serde pickle`` decodes memlease's default layout (pymemcache's ``pickle_serde``: text,
ints, zlib, pickle) as a Python application reads it. Unpickling runs code chosen by whoever
wrote the value, so the tool never does it unless asked.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from memlease import Client
from memlease.cli.connect import Fleet
from memlease.cli.exits import Exit
from memlease.cli.output import (
    describe_flags,
    emit_json,
    err,
    json_option,
    json_value,
    out,
    preview,
)

_PICKLED = 1

serde_option = click.option(
    "--serde",
    type=click.Choice(["raw", "pickle"]),
    default="raw",
    show_default=True,
    help="raw: bytes as stored; pickle: decode memlease's default layout (text, int, zlib, "
    "pickle; only for caches you trust).",
)


def _client(fleet: Fleet, serde: str) -> Client:
    return fleet.client(serde="raw" if serde == "raw" else None)


def _not_found(key: str, as_json: bool, **fields: Any) -> None:
    if as_json:
        emit_json({"key": key, "found": False, **fields})
    else:
        err().print(f"memlease: {key!r} not found", markup=False)
    raise click.exceptions.Exit(Exit.NOT_FOUND)


@click.command()
@click.argument("key")
@serde_option
@click.option(
    "--raw", "raw_out", is_flag=True, help="Write the stored bytes to stdout as they are."
)
@json_option
@click.pass_obj
def get(fleet: Fleet, key: str, serde: str, raw_out: bool, as_json: bool) -> None:
    """Show KEY's value, client flags, size and TTL (exit 1 if missing)."""
    as_json = as_json or fleet.as_json
    # --raw writes what is stored, whatever --serde says.
    with _client(fleet, "raw" if raw_out else serde) as client:
        result = client.meta_get(key, "v f t s")
        server = client.server_for(key)
    if result.status != "VA":  # not `value is None`: a pickled None is a value
        _not_found(key, as_json, server=server)
    if raw_out:
        sys.stdout.buffer.write(result.value)
        sys.stdout.buffer.flush()
        return
    flags = result.client_flags
    if as_json:
        emit_json(
            {
                "key": key,
                "found": True,
                "server": server,
                "flags": flags,
                "flags_meaning": describe_flags(flags),
                "ttl": result.ttl,
                "size": result.size,
                **json_value(result.value),
            }
        )
        return
    out().print(preview(result.value), markup=False)
    ttl = "never expires" if result.ttl in (None, -1) else f"ttl {result.ttl} s"
    details = f"flags {flags} ({describe_flags(flags)}) · {result.size} bytes · {ttl} · {server}"
    if serde == "raw" and flags is not None and flags & _PICKLED:
        details += " · pickled: --serde pickle unpickles it (trusted caches only)"
    err().print(details, style="dim", markup=False)


@click.command(name="set")
@click.argument("key")
@click.argument("value")
@click.option(
    "--ttl",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seconds (0: never expires).",
)
@serde_option
@json_option
@click.pass_obj
def set_(fleet: Fleet, key: str, value: str, ttl: int, serde: str, as_json: bool) -> None:
    """Store VALUE under KEY ("-" reads the value's bytes from stdin).

    With --serde raw the bytes are stored with flags 0 (a Python app reads bytes); with
    --serde pickle text is stored as str (flags 16), as memlease and pymemcache store it."""
    data: bytes | str = sys.stdin.buffer.read() if value == "-" else value
    if serde == "raw" and isinstance(data, str):
        data = data.encode("utf-8")
    with _client(fleet, serde) as client:
        stored = client.set(key, data, ttl)
        server = client.server_for(key)
    if as_json or fleet.as_json:
        emit_json({"key": key, "stored": stored, "server": server, "ttl": ttl})
    else:
        out().print("stored" if stored else "not stored", markup=False)
    if not stored:
        raise click.exceptions.Exit(Exit.NOT_FOUND)


@click.command()
@click.argument("key")
@json_option
@click.pass_obj
def delete(fleet: Fleet, key: str, as_json: bool) -> None:
    """Delete KEY (exit 1 if it did not exist)."""
    with fleet.client() as client:
        existed = client.delete(key)
    _report(key, "deleted", existed, as_json or fleet.as_json)


@click.command()
@click.argument("key")
@click.argument("ttl", type=click.IntRange(min=0))
@json_option
@click.pass_obj
def touch(fleet: Fleet, key: str, ttl: int, as_json: bool) -> None:
    """Give KEY a new TTL in seconds (0: never expires; exit 1 if missing)."""
    with fleet.client() as client:
        found = client.touch(key, ttl)
    _report(key, "touched", found, as_json or fleet.as_json, ttl=ttl)


def _report(key: str, done: str, found: bool, as_json: bool, **fields: Any) -> None:
    if not found:
        _not_found(key, as_json, **fields)
    if as_json:
        emit_json({"key": key, "found": True, done: True, **fields})
    else:
        out().print(done, markup=False)
