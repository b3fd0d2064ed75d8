"""The constructor options of ``Client`` and ``AsyncClient``, described once.

The core (``memlease._core``) declares each option with its default once (``src/py/constructor.rs``,
read here through ``_core._option_defaults()``); this module says what
each one means, and builds from both the public classes' signature and the option list of
their docstrings, so ``help(memlease.Client)`` shows every option, its default and its
meaning. ``tests/test_options.py`` checks that the core's signature, the stubs and this table
name the same options with the same defaults.
"""

from __future__ import annotations

import inspect
import textwrap

from memlease import _core

MEANINGS: dict[str, str] = {
    "servers": '"host:port [weight]" strings (or one string), "unix:/path" for sockets.',
    "connect_timeout": "Seconds to open a connection.",
    "timeout": "Seconds a whole call may take, converting and queueing included.",
    "max_connections": "Connections per server; more threads combine into shared rounds.",
    "pool_timeout": "Seconds to wait for a free connection in a full pool.",
    "serde": 'None (pymemcache\'s layout), "raw" (bytes as given), or an object with '
    "serialize(key, value) / deserialize(key, data, flags).",
    "pickle": "Whether values other than bytes, str and int may be pickled.",
    "compress_threshold": "Values over this many bytes are zlib-compressed when that pays "
    "(None: never).",
    "hashing": "Placement preset: ketama, libmemcached_ketama, modula, pymemcache, "
    "python_memcached, uhashring, jump.",
    "failures_to_mark_down": "Consecutive failures after which a server is marked down.",
    "mark_down_period": "Seconds a marked-down server is refused before one caller probes it.",
    "remap_on_failure": "Send an unreachable server's keys to the next server of its pool.",
    "remap_ttl": "TTL cap (seconds) of the copies a remapped server takes.",
    "on_server_error": '"raise", or "miss" to treat an unreachable server as a miss.',
    "on_event": "Callable(event, server, detail) told of mark-downs and rejoins.",
    "gutter": "Servers (or pool settings) that take an unreachable server's keys.",
    "gutter_ttl": "TTL cap (seconds) of the copies the gutter takes.",
    "mirror": "Servers (or pool settings) that take every write and serve failed-over reads.",
    "pools": "Named pools: {name: servers or pool settings}; the first is the default.",
    "routes": "Key prefix -> pool name.",
    "max_ttl": "Clamp every TTL written (an ephemeral cache).",
    "hot_keys": "Keys stored as several copies on their own servers.",
    "hot_key_copies": "Copies of each hot key.",
    "local_cache_size": "Entries of the in-process cache of hot keys (0: off).",
    "local_cache_ttl": "Seconds a local copy is served.",
    "local_cache_admission": "Probability that a hot key read is kept locally.",
    "local_cache_hot_window": "Seconds since its last access within which a key counts as hot.",
    "io": 'AsyncClient: "loop" does its I/O on the event loop\'s own thread (no thread hop '
    'per call), "runtime" on memlease\'s I/O threads. Client ignores it.',
    "username": "memcached ASCII authentication (-Y auth file): sent with password= on each "
    "new connection before any request, for every pool (gutter, mirror, named pools alike).",
    "password": "The password of username= (never shown in repr, logs, errors or health()).",
    "write_failures": "WriteFailureTracker keeping failed invalidations for replay "
    "(default: one of the client's own).",
}

# The option only the Python classes add to the core's.
_WRITE_FAILURES = inspect.Parameter("write_failures", inspect.Parameter.KEYWORD_ONLY, default=None)


def core_signature() -> inspect.Signature:
    """The core's constructor signature with its defaults: pyo3 renders the declared defaults
    as ``...``, so their values come from the option list the core declares them in."""
    core = inspect.signature(_core.Client)
    defaults = _core._option_defaults()
    if list(defaults) != list(core.parameters):
        raise RuntimeError("memlease._core: the option list and the constructor disagree")
    return core.replace(
        parameters=[p.replace(default=defaults[name]) for name, p in core.parameters.items()]
    )


def public_signature() -> inspect.Signature:
    """The core's constructor signature plus ``write_failures``."""
    core = core_signature()
    return core.replace(parameters=[*core.parameters.values(), _WRITE_FAILURES])


def options_doc() -> str:
    """Every option with its default and meaning, for the classes' docstrings."""
    lines = ["Options (keyword-only after ``servers``):", ""]
    for name, parameter in public_signature().parameters.items():
        lines.append(f"- ``{name}={parameter.default!r}``: {MEANINGS[name]}")
    return "\n".join(textwrap.fill(line, 96, subsequent_indent="  ") for line in lines)
