"""``memlease watch``: live per-server rates from ``stats`` deltas (as memcached-tool and mctop)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import click
from rich.live import Live
from rich.table import Table
from rich.text import Text

from memlease.cli.connect import Fleet
from memlease.cli.exits import describe
from memlease.cli.output import emit_json, json_option, out, percent
from memlease.cli.probe import FleetProbe, Reading, failures

# Counters shown as per-second rates: stats name -> column.
RATES = {
    "cmd_get": "get/s",
    "cmd_set": "set/s",
    "get_hits": "hits/s",
    "get_misses": "misses/s",
    "evictions": "evictions/s",
}


def rates(before: Reading, after: Reading, seconds: float) -> dict[str, Any]:
    """One server's rates between two readings. A counter that went down means the server
    restarted: no rate for that interval rather than a negative one."""
    row: dict[str, Any] = {"server": after.server, "error": None}
    if after.error is not None or after.stats is None:
        row["error"] = describe(after.error) if after.error else "no stats"
        return row
    old = before.stats or {}
    deltas = {}
    for name, column in RATES.items():
        if name in old and after.stats.get(name, 0) >= old[name]:
            deltas[name] = after.stats[name] - old[name]
            row[column] = deltas[name] / seconds
        else:
            row[column] = None
    looked_up = deltas.get("get_hits", 0) + deltas.get("get_misses", 0)
    row["hit_ratio"] = deltas["get_hits"] / looked_up if looked_up else None
    row["items"] = after.stats.get("curr_items")
    row["curr_connections"] = after.stats.get("curr_connections")
    return row


def _table(rows: list[dict[str, Any]], interval: float) -> Table:
    table = Table(title=f"memcached rates (every {interval:g} s; Ctrl-C to stop)")
    table.add_column("server")
    for column in (*RATES.values(), "hit ratio", "items", "conns"):
        table.add_column(column, justify="right")
    for row in rows:
        if row["error"] is not None:
            table.add_row(row["server"], Text(row["error"], style="red"))
            continue
        cells = ["-" if row[c] is None else f"{row[c]:,.1f}" for c in RATES.values()]
        table.add_row(
            row["server"],
            *cells,
            percent(row["hit_ratio"]),
            f"{row['items']:,}",
            str(row["curr_connections"]),
        )
    return table


@click.command()
@click.option(
    "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="Seconds."
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after N refreshes.")
@json_option
@click.pass_obj
def watch(fleet: Fleet, interval: float, count: int | None, as_json: bool) -> None:
    """Refreshing per-server ops/s (get, set, hits, misses), hit ratio and evictions.

    With --json, one JSON document a line per refresh. Ctrl-C stops it (exit 0)."""
    as_json = as_json or fleet.as_json
    with FleetProbe(fleet) as probe:
        previous, taken = probe.read(), time.monotonic()
        failed = failures(previous)
        if len(failed) == len(previous):
            assert failed[0].error is not None
            raise failed[0].error  # nothing to watch: reported like any unreachable fleet
        live = (
            Live(console=out(), auto_refresh=False) if out().is_terminal and not as_json else None
        )
        try:
            if live is not None:
                live.start()
            for refresh in itertools.count(1):
                time.sleep(interval)
                current, now = probe.read(), time.monotonic()
                rows = [rates(b, a, now - taken) for b, a in zip(previous, current, strict=True)]
                previous, taken = current, now
                if as_json:
                    emit_json({"time": time.time(), "interval": interval, "servers": rows})
                elif live is not None:
                    live.update(_table(rows, interval), refresh=True)
                else:
                    out().print(_table(rows, interval))
                if count is not None and refresh >= count:
                    break
        except KeyboardInterrupt:
            pass  # the way to stop watching: a clean exit, not an error
        finally:
            if live is not None:
                live.stop()
