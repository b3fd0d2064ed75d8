"""The ``memlease`` command group: global options, and errors turned into exit codes."""

from __future__ import annotations

from typing import Any

import click

from memlease import __version__
from memlease._errors import MemcacheError
from memlease.cli import bench, keys, ring, stats, watch
from memlease.cli.connect import HASHING_PRESETS, SERVERS_ENV, Fleet
from memlease.cli.exits import EPILOG, Exit, exit_code, one_line
from memlease.cli.output import err


class MemleaseGroup(click.Group):
    """Runs a command and turns what can go wrong talking to memcached into a one-line message
    on stderr and an exit code (see ``EPILOG``) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MemcacheError as error:
            err().print(one_line(error), markup=False)
            ctx.exit(exit_code(error))
        except KeyboardInterrupt:
            err().print("memlease: interrupted", markup=False)
            ctx.exit(Exit.INTERRUPTED)


@click.group(
    cls=MemleaseGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--servers",
    "-s",
    envvar=SERVERS_ENV,
    show_envvar=True,
    metavar="SPECS",
    help='Comma-separated "host:port [weight]" specs, e.g. "10.0.0.1:11211,10.0.0.2:11211 2".',
)
@click.option(
    "--hashing",
    type=click.Choice(HASHING_PRESETS),
    default="ketama",
    show_default=True,
    help="Placement preset (which client's key placement to reproduce).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Seconds to connect and for each operation.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one document, or one a line).")
@click.version_option(__version__, prog_name="memlease")
@click.pass_context
def cli(
    ctx: click.Context, servers: str | None, hashing: str, timeout: float, as_json: bool
) -> None:
    """Inspect and exercise a memcached fleet: stats, keys, placement, live rates, load."""
    ctx.obj = Fleet(servers, hashing, timeout, as_json)


for command in (
    stats.stats,
    keys.get,
    keys.set_,
    keys.delete,
    keys.touch,
    ring.ring,
    watch.watch,
    bench.bench,
):
    cli.add_command(command)
