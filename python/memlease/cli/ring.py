"""``memlease ring``: where keys live, by the client's own placement (``Client.server_for``)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from memlease import Client
from memlease.cli.connect import Fleet
from memlease.cli.output import emit_json, json_option, out


@click.command()
@click.argument("keys", nargs=-1)
@click.option(
    "--balance",
    type=click.IntRange(min=1),
    metavar="N",
    help="Place N random keys and show how they spread over the servers.",
)
@click.option("--seed", type=int, help="Seed of the random keys of --balance (repeatable runs).")
@json_option
@click.pass_obj
def ring(
    fleet: Fleet, keys: tuple[str, ...], balance: int | None, seed: int | None, as_json: bool
) -> None:
    """Which server each KEY lives on under --hashing (no server is contacted)."""
    if not keys and balance is None:
        raise click.UsageError("give KEYs to place, or --balance N")
    as_json = as_json or fleet.as_json
    with fleet.client() as client:
        if keys:
            _show_placement(fleet, client, keys, as_json)
        if balance is not None:
            _show_balance(fleet, client, balance, seed, as_json)


def _show_placement(fleet: Fleet, client: Client, keys: tuple[str, ...], as_json: bool) -> None:
    placement = {key: client.server_for(key) for key in keys}
    if as_json:
        emit_json({"hashing": fleet.hashing, "placement": placement})
        return
    table = Table(title=f"placement ({fleet.hashing})")
    table.add_column("key")
    table.add_column("server")
    for key, server in placement.items():
        table.add_row(Text(key), server)  # Text: a key is not rich markup
    out().print(table)


def balance_rows(
    fleet: Fleet, client: Client, count: int, seed: int | None
) -> list[dict[str, Any]]:
    """Per server: its weight, how many of `count` random keys it got, and the share its
    weight would give it."""
    rng = random.Random(seed)
    counts = Counter(client.server_for(f"key:{rng.getrandbits(64):016x}") for _ in range(count))
    # client.servers lists the servers as server_for names them, in the order given.
    weights = {name: spec.weight for name, spec in zip(client.servers, fleet.servers, strict=True)}
    total_weight = sum(weights.values())
    return [
        {
            "server": name,
            "weight": weight,
            "keys": counts.get(name, 0),
            "share": counts.get(name, 0) / count,
            "expected": weight / total_weight,
        }
        for name, weight in weights.items()
    ]


def _show_balance(
    fleet: Fleet, client: Client, count: int, seed: int | None, as_json: bool
) -> None:
    rows = balance_rows(fleet, client, count, seed)
    if as_json:
        emit_json({"hashing": fleet.hashing, "keys": count, "servers": rows})
        return
    table = Table(title=f"{count:,} random keys ({fleet.hashing})")
    for heading in ("server", "weight", "keys", "share", "expected"):
        table.add_column(heading, justify="left" if heading == "server" else "right")
    for row in rows:
        table.add_row(
            row["server"],
            str(row["weight"]),
            f"{row['keys']:,}",
            f"{row['share'] * 100:.2f}%",
            f"{row['expected'] * 100:.2f}%",
        )
    out().print(table)
