"""The fault matrix: each fault (a misbehaving proxy, or a real memcached killed, frozen,
restarted, short of memory, of item size or of connections) against each client (``Client``,
``AsyncClient`` on its loop and on its runtime I/O path) and each operation family (plain
get/set, multi-key get_many/set_many, lease get_or_compute + invalidate).

A cell: a fresh client makes one healthy round, the fault begins, the family runs `calls`
steps, the fault ends, then the client must recover on its own. What is checked:

- no wrong value: every value read is one written for its key since the last acknowledged
  write (values encode their key, so another key's value is caught);
- every call returns, or raises a ``MemcacheError``, within ``timeout`` plus a margin;
- recovery: once the fault ends, rounds succeed again with right values (a connection that saw
  the fault and were reused out of step would fail this);
- a failed invalidation is pending in the client's tracker right after it raised, and every
  pending one has been replayed once the fault is over.

Used by tests/test_fault_matrix.py (CI-sized) and benches/fault_matrix.py (``make faults``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import memlease
from memlease.testing import MemcachedServer
from tests.fault_proxy import FaultProxy

TIMEOUT = 0.3
# What a call may take beyond `timeout`: scheduling on 2 shared cores, a loop hop. Under
# `timeout`, so a call that waited out two round trips is caught.
MARGIN = 0.2
RECOVERY_DEADLINE = 5.0

FLAVORS = ("sync", "async-loop", "async-runtime")
FAMILIES = ("plain", "multi", "lease")


# -- faults ---------------------------------------------------------------------------------


class Environment:
    """One fault's memcached, and the proxy in front of it if the fault needs one."""

    def __init__(self, server: MemcachedServer, proxy: FaultProxy | None) -> None:
        self.server = server
        self.proxy = proxy
        self.value_size = 40
        self._hogs: list[socket.socket] = []

    @property
    def address(self) -> str:
        return self.proxy.address if self.proxy is not None else self.server.address

    def hog_connections(self) -> None:
        """Open connections to the server until it refuses more (its ``-c`` limit)."""
        assert self.server.port is not None
        for _ in range(200):
            sock = socket.create_connection((self.server.host, self.server.port), timeout=1.0)
            try:
                sock.sendall(b"mn\r\n")
                answered = sock.recv(64).startswith(b"MN")
            except OSError:
                answered = False
            if not answered:
                sock.close()
                return
            self._hogs.append(sock)
        raise RuntimeError("the server's connection limit was never reached")

    def release_connections(self) -> None:
        for sock in self._hogs:
            sock.close()
        self._hogs.clear()

    def close(self) -> None:
        self.release_connections()
        if self.proxy is not None:
            self.proxy.close()
        self.server.stop()


@dataclass(frozen=True)
class Fault:
    name: str
    begin: Callable[[Environment], None]
    end: Callable[[Environment], None]
    proxied: bool = False
    # Whether the client makes a healthy round (opening its connections) before the fault.
    warm: bool = True
    server_options: dict[str, Any] = field(default_factory=dict)

    def open_environment(self) -> Environment:
        """Start this fault's memcached (and proxy); the caller closes it."""
        server = MemcachedServer(**self.server_options).start()
        assert server.port is not None
        proxy = FaultProxy((server.host, server.port)) if self.proxied else None
        return Environment(server, proxy)


def _proxy_fault(mode: str) -> Fault:
    def begin(env: Environment) -> None:
        assert env.proxy is not None
        env.proxy.set_mode(mode)

    def end(env: Environment) -> None:
        assert env.proxy is not None
        env.proxy.set_mode("pass")

    return Fault(mode, begin, end, proxied=True)


def _nothing(env: Environment) -> None:
    pass


def _fill_memory(env: Environment) -> None:
    """Write more than the server's memory holds: what the matrix writes next evicts."""
    with memlease.Client(env.server.address, serde="raw") as filler:
        filler.set_many({f"filler:{i}": b"x" * 50_000 for i in range(120)})
    env.value_size = 20_000


def _values_over_the_item_limit(env: Environment) -> None:
    env.value_size = 3_000


def _small_values(env: Environment) -> None:
    env.value_size = 40


PROXY_FAULTS = [
    _proxy_fault(mode)
    for mode in (
        "delay",
        "trickle",
        "silent",
        "reset",
        "truncate",
        "garbage",
        "replay",
        "swap",
        "unanswered",
    )
]
SERVER_FAULTS = [
    Fault("killed", lambda env: env.server.stop(), lambda env: env.server.restart()),
    Fault("frozen", lambda env: env.server.freeze(), lambda env: env.server.thaw()),
    Fault("restarted empty", lambda env: env.server.restart(), _nothing),
    Fault("out of memory", _fill_memory, _small_values, server_options={"memory_mb": 2}),
    Fault(
        "item limit 1k",
        _values_over_the_item_limit,
        _small_values,
        server_options={"item_size_max": "1k", "extra_args": ("-o", "slab_chunk_max=1024")},
    ),
    Fault(
        "connection limit",
        lambda env: env.hog_connections(),
        lambda env: env.release_connections(),
        server_options={"extra_args": ("-c", "32")},
        # Cold: a client already connected keeps its connections; one connecting meets the
        # limit.
        warm=False,
    ),
]
FAULTS = PROXY_FAULTS + SERVER_FAULTS


# -- clients --------------------------------------------------------------------------------


class LoopThread:
    """An asyncio loop in a daemon thread, for the AsyncClient flavours."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Hung(Exception):
    """A call that neither returned nor raised within far more than its timeout."""


class Driver:
    """Calls one client's methods the same way for every flavour: an AsyncClient's are awaited
    on the loop thread."""

    def __init__(self, flavor: str, address: str, loop: LoopThread) -> None:
        self.flavor = flavor
        self._loop = loop
        options: dict[str, Any] = {
            "timeout": TIMEOUT,
            "connect_timeout": TIMEOUT,
            # Never marked down: every call meets the fault rather than failing fast.
            "failures_to_mark_down": 1_000_000,
            "mark_down_period": 0.2,
            "write_failures": memlease.WriteFailureTracker(retry_interval=0.05, max_backoff=0.2),
        }
        if flavor == "sync":
            self.client: Any = memlease.Client(address, **options)
        else:
            io = "loop" if flavor == "async-loop" else "runtime"
            self.client = self._on_loop(lambda: _make_async(address, io, options))

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self.client, method)
        if self.flavor == "sync":
            return bound(*args, **kwargs)

        return self._on_loop(lambda: bound(*args, **kwargs))

    def _on_loop(self, make: Callable[[], Any]) -> Any:
        async def run() -> Any:
            outcome = make()
            return await outcome if inspect.isawaitable(outcome) else outcome

        future = asyncio.run_coroutine_threadsafe(run(), self._loop.loop)
        try:
            return future.result(10 * (TIMEOUT + MARGIN))
        except TimeoutError:
            future.cancel()
            raise Hung(f"no answer after {10 * (TIMEOUT + MARGIN):.1f} s") from None

    @property
    def tracker(self) -> memlease.WriteFailureTracker:
        return self.client.write_failures  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.flavor == "sync":
            self.client.close()
        else:
            self("close")


async def _make_async(address: str, io: str, options: dict[str, Any]) -> Any:
    return memlease.AsyncClient(address, io=io, **options)


# -- operation families ---------------------------------------------------------------------


@dataclass
class CellResult:
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    worst: float = 0.0
    wrong: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # calls over timeout + margin
    untyped: list[str] = field(default_factory=list)  # exceptions outside MemcacheError
    untracked: list[str] = field(default_factory=list)  # failed invalidations not pending
    recovered: bool = True
    unreplayed: int = 0  # invalidations still pending after recovery

    @property
    def clean(self) -> bool:
        return not (
            self.wrong or self.slow or self.untyped or self.untracked or self.unreplayed
        ) and (self.recovered)


class Family:
    """One operation family's steps against one client; values are ``"<key>|<n>"``, and
    `allowed` holds, per key, the values a read may return besides a miss: the last
    acknowledged write and every write attempted since (a failed write may have happened)."""

    def __init__(self, name: str, driver: Driver, env: Environment, prefix: str) -> None:
        self.name = name
        self.driver = driver
        self.env = env
        self.prefix = prefix
        self.allowed: dict[str, set[str]] = {}
        self.result = CellResult()
        self._counter = itertools.count()
        self.failed_calls = 0  # in the current step

    def value_for(self, key: str) -> str:
        head = f"{key}|{next(self._counter)}|"
        return head + "v" * max(0, self.env.value_size - len(head))

    def call(self, label: str, method: str, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """One timed call; (True, result) or (False, None) after recording its error."""
        self.result.calls += 1
        started = time.monotonic()
        try:
            outcome = self.driver(method, *args, **kwargs)
            ok = True
        except memlease.MemcacheError as error:
            self.result.errors[type(error).__name__] += 1
            outcome, ok = error, False
        except Exception as error:  # the matrix reports what escaped the tree
            self.result.errors[type(error).__name__] += 1
            self.result.untyped.append(f"{label}: {type(error).__name__}: {error}")
            outcome, ok = error, False
        elapsed = time.monotonic() - started
        self.result.worst = max(self.result.worst, elapsed)
        if elapsed > TIMEOUT + MARGIN:
            self.result.slow.append(f"{label} took {elapsed:.2f} s")
        if not ok:
            self.failed_calls += 1
        return ok, outcome

    def check_read(self, key: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value.startswith(f"{key}|"):
            self.result.wrong.append(f"{key}: another key's value {str(value)[:40]!r}")
        elif value not in self.allowed.get(key, set()):
            self.result.wrong.append(f"{key}: an outdated value {value[:40]!r}")

    def wrote(self, key: str, value: str, acknowledged: bool) -> None:
        if acknowledged:
            self.allowed[key] = {value}
        else:
            self.allowed.setdefault(key, set()).add(value)

    def step(self, index: int) -> None:
        self.failed_calls = 0
        getattr(self, f"_{self.name}")(index)

    def _plain(self, index: int) -> None:
        key = f"{self.prefix}:p{index % 4}"
        value = self.value_for(key)
        ok, stored = self.call("set", "set", key, value)
        self.wrote(key, value, ok and stored is True)
        ok, read = self.call("get", "get", key)
        if ok:
            self.check_read(key, read)

    def _multi(self, index: int) -> None:
        keys = [f"{self.prefix}:m{index % 2}:{j}" for j in range(8)]
        mapping = {key: self.value_for(key) for key in keys}
        ok, failed = self.call("set_many", "set_many", mapping)
        for key, value in mapping.items():
            self.wrote(key, value, ok and key not in failed)
        ok, read = self.call("get_many", "get_many", keys)
        if ok:
            for key, value in read.items():
                if key not in mapping:
                    self.result.wrong.append(f"get_many returned a key not asked for: {key!r}")
                else:
                    self.check_read(key, value)

    def _lease(self, index: int) -> None:
        key = f"{self.prefix}:l{index % 4}"

        def loader() -> str:
            value = self.value_for(key)
            self.allowed.setdefault(key, set()).add(value)
            return value

        ok, read = self.call("get_or_compute", "get_or_compute", key, loader, 60)
        if ok:
            self.check_read(key, read)
        ok, error = self.call("invalidate", "invalidate", key)
        # Invalidated (or pending replay, which read-through honours): no earlier value may
        # be served again through get_or_compute.
        self.allowed[key] = set()
        if not ok and isinstance(error, memlease.MemcacheConnectionError | memlease.ServerError):
            spot = self.driver.client._spot(key)
            if not self.driver.tracker.is_pending(spot):
                self.result.untracked.append(f"invalidate {key}: {type(error).__name__}")


def run_cell(
    fault: Fault, env: Environment, flavor: str, family: str, calls: int, loop: LoopThread
) -> CellResult:
    """One cell of the matrix: healthy round, fault, `calls` steps, recovery."""
    driver = Driver(flavor, env.address, loop)
    ops = Family(family, driver, env, prefix=f"{flavor}:{family}:{time.monotonic_ns()}")
    try:
        if fault.warm:
            ops.step(0)  # a healthy round: connections open before the fault
        fault.begin(env)
        try:
            for index in range(1, calls + 1):
                ops.step(index)
        finally:
            fault.end(env)
        ops.result.recovered = _recovers(ops, calls)
        ops.result.unreplayed = _pending_after(driver, RECOVERY_DEADLINE)
    finally:
        with suppress(Exception):
            driver.close()
    return ops.result


def _recovers(ops: Family, calls: int) -> bool:
    """Whether, once the fault is over, steps succeed again within the deadline and then keep
    succeeding: a clean step, then `calls` more without an error."""
    deadline = time.monotonic() + RECOVERY_DEADLINE
    index = 1000
    while time.monotonic() < deadline:
        index += 1
        ops.step(index)
        if ops.failed_calls == 0:
            break
        time.sleep(0.05)
    else:
        return False
    for _ in range(calls):
        index += 1
        ops.step(index)
        if ops.failed_calls:
            return False
    return True


def _pending_after(driver: Driver, deadline: float) -> int:
    give_up = time.monotonic() + deadline
    while driver.tracker.has_pending() and time.monotonic() < give_up:
        time.sleep(0.02)
    return len(driver.tracker.pending())


# -- the table ------------------------------------------------------------------------------

ABBREVIATIONS = {
    "ReadTimeout": "RT",
    "ConnectTimeout": "CT",
    "PoolTimeout": "PT",
    "MemcacheConnectionError": "CE",
    "ServerDown": "SD",
    "UnexpectedReply": "UR",
    "ServerError": "SE",
    "ValueTooLarge": "VL",
    "ServerRejected": "SR",
    "Hung": "HUNG",
}


def describe(result: CellResult) -> str:
    """``calls errors worst wrong``, e.g. ``24 RT6,CE2 0.31s 0w``, then what failed."""
    errors = ",".join(
        f"{ABBREVIATIONS.get(name, name)}{count}" for name, count in sorted(result.errors.items())
    )
    text = f"{result.calls} {errors or '-'} {result.worst:.2f}s {len(result.wrong)}w"
    flags = []
    if result.slow:
        flags.append(f"SLOW{len(result.slow)}")
    if result.untyped:
        flags.append(f"UNTYPED{len(result.untyped)}")
    if not result.recovered:
        flags.append("NO-RECOVERY")
    if result.untracked:
        flags.append(f"UNTRACKED{len(result.untracked)}")
    if result.unreplayed:
        flags.append(f"UNREPLAYED{result.unreplayed}")
    return " ".join([text, *flags])


def table(rows: dict[str, dict[tuple[str, str], CellResult]]) -> str:
    columns = [(flavor, family) for flavor in FLAVORS for family in FAMILIES]
    header = ["fault", *(f"{flavor} {family}" for flavor, family in columns)]
    lines = [header] + [
        [fault, *(describe(cells[column]) if column in cells else "" for column in columns)]
        for fault, cells in rows.items()
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(line: list[str]) -> str:
        return (
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


LEGEND = (
    "cell: calls, errors by type (RT ReadTimeout, CT ConnectTimeout, PT PoolTimeout, "
    "CE MemcacheConnectionError, SD ServerDown, UR UnexpectedReply, SE ServerError, "
    "VL ValueTooLarge, SR ServerRejected), worst latency, wrong values; then any broken "
    f"invariant (SLOW: over timeout {TIMEOUT}s + {MARGIN}s, UNTYPED, NO-RECOVERY, "
    "UNTRACKED, UNREPLAYED)."
)
