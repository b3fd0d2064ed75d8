"""Steps and their drivers: the consistency decisions are generators that *yield* what they
need done and receive the outcome; :func:`run_sync` and :func:`run_async` carry each step out
with a blocking or an awaited call. So ``Client`` and ``AsyncClient`` cannot drift apart.

A step that calls the client names the method and carries its arguments as typed fields:
:meth:`ClientCall.perform` makes the call, so the type checker holds each step to the
signatures of both clients' methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from memlease._errors import InvalidArgument

if TYPE_CHECKING:
    from memlease._client import AsyncClient, Client
    from memlease._policies import ReadThroughPolicy

AnyClient: TypeAlias = "Client | AsyncClient"
T = TypeVar("T")


class ClientCall(ABC):
    """A step that calls one of the client's methods: the call's outcome is the step's (a
    blocking client returns it, an async one an awaitable of it)."""

    __slots__ = ()

    @abstractmethod
    def perform(self, client: AnyClient) -> Any:
        """Call the client's method with this step's arguments."""


@dataclass(slots=True)
class LeaseGet(ClientCall):
    """``lease_get``: read `key`, taking a lease on a miss (``lease_ttl=None``: no lease)."""

    key: Any
    lease_ttl: int | None = None
    recache_ttl: int | None = None

    def perform(self, client: AnyClient) -> Any:
        return client.lease_get(self.key, lease_ttl=self.lease_ttl, recache_ttl=self.recache_ttl)


@dataclass(slots=True)
class Fill(ClientCall):
    """``fill``: store a computed value, only while the key's CAS is `cas` (if given)."""

    key: Any
    value: Any
    cas: int | None
    ttl: int
    compute_time: float | None = None

    def perform(self, client: AnyClient) -> Any:
        return client.fill(self.key, self.value, self.cas, self.ttl, compute_time=self.compute_time)


@dataclass(slots=True)
class Invalidate(ClientCall):
    """The client's tracked ``invalidate`` (a failure is recorded for replay)."""

    key: Any
    stale_ttl: int | None = None
    cas: int | None = None

    def perform(self, client: AnyClient) -> Any:
        return client.invalidate(self.key, stale_ttl=self.stale_ttl, cas=self.cas)


@dataclass(slots=True)
class DeleteManyReporting(ClientCall):
    """The core's batched delete: ``(how many existed, the keys it could not reach)``."""

    keys: list[Any]

    def perform(self, client: AnyClient) -> Any:
        return client._delete_many_reporting(self.keys)


@dataclass(slots=True)
class InvalidateMany(ClientCall):
    """The client's tracked ``invalidate_many``."""

    keys: Iterable[Any]
    stale_ttl: int | None = None

    def perform(self, client: AnyClient) -> Any:
        return client.invalidate_many(self.keys, stale_ttl=self.stale_ttl)


@dataclass(slots=True)
class Touch(ClientCall):
    """``touch``: set `key`'s TTL."""

    key: Any
    ttl: int

    def perform(self, client: AnyClient) -> Any:
        return client.touch(self.key, self.ttl)


@dataclass(slots=True)
class GetOrCompute(ClientCall):
    """The client's read-through, as `policy` says."""

    key: Any
    loader: Callable[[], Any]
    policy: ReadThroughPolicy

    def perform(self, client: AnyClient) -> Any:
        p = self.policy
        return client.get_or_compute(
            self.key,
            self.loader,
            p.ttl,
            lease=p.lease,
            recache=p.recache,
            stale=p.stale,
            beta=p.beta,
            none_ttl=p.none_ttl,
        )


@dataclass(slots=True)
class Load:
    """Run the caller's loader (sync or async)."""

    loader: Callable[[], Any]


@dataclass(slots=True)
class Sleep:
    seconds: float
    sleep: Callable[[float], Any] | None


Step = ClientCall | Load | Sleep
Steps = Generator[Step, Any, T]


def run_sync(client: Any, steps: Steps[T]) -> T:
    """Carry out `steps` with blocking calls to `client`'s methods. What a step raises is
    handed to the steps, which decide; what they raise reaches the caller as raised (a
    ``GeneratorExit`` or ``StopIteration`` from a loader included: see :class:`_Carried`)."""
    outcome: Any = None
    error: BaseException | None = None
    while True:
        more, step = _advance(steps, outcome, error)
        if not more:
            return step  # type: ignore[no-any-return]
        error = outcome = None
        try:
            if type(step) is Load:
                outcome = _not_awaitable(step.loader(), "the loader")
            elif type(step) is Sleep:
                _not_awaitable((step.sleep or time.sleep)(step.seconds), "LeasePolicy.sleep")
            else:
                outcome = step.perform(client)
        except BaseException as e:  # handed to the generator, which decides
            # (A GeneratorExit here is the step's own: a plain function is never "closed".)
            error = _Carried.wrap(e)


async def run_async(client: Any, steps: Steps[T]) -> T:
    """Carry out `steps` with awaited calls (see :func:`run_sync`). If this coroutine is
    closed while it awaits (never resumed), no further step runs."""
    outcome: Any = None
    error: BaseException | None = None
    while True:
        more, step = _advance(steps, outcome, error)
        if not more:
            return step  # type: ignore[no-any-return]
        error = outcome = None
        awaiting: _Awaiting | None = None
        try:
            if type(step) is Load:
                outcome = step.loader()
                if inspect.isawaitable(outcome):
                    awaiting = _Awaiting(outcome)
                    outcome = await awaiting
            elif type(step) is Sleep:
                slept = (step.sleep or asyncio.sleep)(step.seconds)
                if inspect.isawaitable(slept):
                    awaiting = _Awaiting(slept)
                    await awaiting
            else:
                awaiting = _Awaiting(step.perform(client))
                outcome = await awaiting
        except BaseException as e:
            if awaiting is not None and awaiting.closed:
                _abandon(steps)
                raise
            error = _Carried.wrap(e)  # handed to the generator, which decides


def _advance(steps: Steps[Any], outcome: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Hand the last step's outcome (or error) to `steps`: ``(True, next step)``, or ``(False,
    their return value)``. What they raise propagates, a carried ``StopIteration`` as itself
    (from :func:`run_async`, Python turns that into ``RuntimeError`` as it leaves the
    coroutine)."""
    try:
        return True, steps.throw(error) if error is not None else steps.send(outcome)
    except StopIteration as done:
        return False, done.value
    except _Carried as carried:
        original = carried.error
    raise original  # outside the handler: its context stays the loader's, not the carrier


class _Carried(Exception):
    """A ``StopIteration`` raised by a step, on its way through the step generators: raised
    as itself inside a generator, Python would turn it into ``RuntimeError`` (PEP 479)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error

    @staticmethod
    def wrap(error: BaseException) -> BaseException:
        return _Carried(error) if isinstance(error, StopIteration) else error


class _Awaiting:
    """Awaits `awaitable` for :func:`run_async`, noting whether the runner was closed meanwhile.

    Closing a coroutine closes what it awaits first, then raises ``GeneratorExit`` in it; an
    awaitable that raises ``GeneratorExit`` itself (a loader) looks the same from the runner.
    ``closed`` tells the two apart: only the first must stop the steps without further I/O.
    """

    __slots__ = ("_inner", "closed")

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self._inner: Any = awaitable.__await__()
        self.closed = False

    def __await__(self) -> _Awaiting:
        return self

    def __iter__(self) -> _Awaiting:
        return self

    def __next__(self) -> Any:
        return next(self._inner)

    def send(self, value: Any) -> Any:
        return next(self._inner) if value is None else self._inner.send(value)

    def throw(self, *error: Any) -> Any:
        return self._inner.throw(*error)

    def close(self) -> None:
        self.closed = True
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _abandon(steps: Steps[Any]) -> None:
    """The runner itself is being closed (a coroutine closed mid-await, never resumed): it
    cannot carry out further steps, so the steps' own cleanup must not ask for any."""
    # RuntimeError: a cleanup step was asked for and refused; what it would release expires.
    with contextlib.suppress(RuntimeError):
        steps.close()


def _not_awaitable(outcome: Any, what: str) -> Any:
    if inspect.isawaitable(outcome):
        _close_awaitable(outcome)
        raise InvalidArgument(f"{what} is async: use AsyncClient")
    return outcome


def _close_awaitable(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
