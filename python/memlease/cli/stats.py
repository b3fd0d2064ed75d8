"""``memlease stats``: a table of each server's state."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from memlease.cli.connect import Fleet
from memlease.cli.exits import describe, exit_code
from memlease.cli.output import (
    emit_json,
    err,
    human_bytes,
    human_duration,
    json_option,
    out,
    percent,
)
from memlease.cli.probe import FleetProbe, Reading, failures, hit_ratio


def summary(reading: Reading) -> dict[str, Any]:
    """The numbers ``stats`` shows for one server (``None`` ones if it could not be read)."""
    stats = reading.stats or {}
    return {
        "server": reading.server,
        "error": None if reading.error is None else describe(reading.error),
        "version": stats.get("version"),
        "uptime": stats.get("uptime"),
        "items": stats.get("curr_items"),
        "bytes": stats.get("bytes"),
        "limit_maxbytes": stats.get("limit_maxbytes"),
        "hit_ratio": None if reading.stats is None else hit_ratio(stats),
        "evictions": stats.get("evictions"),
        "curr_connections": stats.get("curr_connections"),
    }


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="memcached servers")
    for heading in ("server", "version", "uptime", "items", "memory", "hit ratio", "evictions"):
        table.add_column(heading, justify="left" if heading == "server" else "right")
    table.add_column("conns", justify="right")
    for row in rows:
        if row["error"] is not None:
            table.add_row(row["server"], Text(row["error"], style="red"), *[""] * 6)
            continue
        memory = f"{human_bytes(row['bytes'])} / {human_bytes(row['limit_maxbytes'])}"
        table.add_row(
            row["server"],
            str(row["version"]),
            human_duration(row["uptime"]),
            f"{row['items']:,}",
            memory,
            percent(row["hit_ratio"]),
            f"{row['evictions']:,}",
            str(row["curr_connections"]),
        )
    return table


@click.command()
@json_option
@click.option("--all", "show_all", is_flag=True, help="Every stat of every server (raw names).")
@click.pass_obj
def stats(fleet: Fleet, as_json: bool, show_all: bool) -> None:
    """Per server: version, uptime, items, memory used/limit, hit ratio, evictions, connections."""
    with FleetProbe(fleet) as probe:
        readings = probe.read()
    if show_all:
        data: Any = {r.server: r.stats for r in readings}
    else:
        data = [summary(r) for r in readings]
    failed = failures(readings)
    if as_json or fleet.as_json:
        emit_json(data)
    elif len(failed) < len(readings):  # if none answered, the messages below say it all
        if show_all:
            _print_all(readings)
        else:
            out().print(_table(data))
    for reading in failed:
        assert reading.error is not None
        err().print(f"memlease: {reading.server}: {describe(reading.error)}", markup=False)
    if failed:
        # The table of the servers that answered is printed; the exit code still tells a
        # script that the fleet is not all there.
        raise click.exceptions.Exit(exit_code(failed[0].error))  # type: ignore[arg-type]


def _print_all(readings: list[Reading]) -> None:
    table = Table(title="memcached stats")
    table.add_column("stat")
    for reading in readings:
        table.add_column(reading.server, justify="right")
    names = sorted({name for r in readings for name in (r.stats or {})})
    for name in names:
        table.add_row(name, *[str((r.stats or {}).get(name, "")) for r in readings])
    out().print(table)
