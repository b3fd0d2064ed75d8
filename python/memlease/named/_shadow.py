"""Shadow checks (DoorDash's idea): for a sample of cache hits, also run the fallback, off the
request path, and compare the source of truth with what the cache served.

What a check costs the request: a random draw, and for the sampled ones a slot reservation and
a hand-off. The fallback itself runs elsewhere:

- a plain function on a small thread pool (``workers`` threads);
- an ``async def`` fallback, when :meth:`ShadowChecker.maybe_check` is called from a running
  event loop, as a task on that loop (the fallback's own resources, such as an async database
  pool, belong to that loop, so it cannot run on another one);
- a plain function that returns an awaitable (``lambda: fetch(id)``) on the pool, its awaitable
  then awaited on the loop the check came from.

At most ``max_pending`` checks are queued or running at once; a sampled check beyond that is
dropped and counted (``dropped``), so a slow source of truth never piles up work. One method
serves both kinds of manager: it detects async fallbacks itself.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import inspect
import logging
import math
import random
import threading
from collections.abc import Awaitable, Callable, Mapping, Set
from typing import Any

__all__ = ["ShadowChecker", "first_difference"]

log = logging.getLogger("memlease.named")

OnMismatch = Callable[[str, Any, Any, Any], object]

# How many recent staleness samples the median is taken over.
STALENESS_SAMPLES = 1024


def first_difference(a: Any, b: Any) -> str | None:
    """The path of the first place where `a` and `b` differ, ``None`` if they are equal.

    Paths read like attribute access: ``.items[2].price`` (dataclass fields and attributes
    of plain objects as ``.name``, string dict keys that are identifiers as ``.key``, other
    keys as ``['key']`` or ``[3]``, sequence positions as ``[2]``). Values that differ at the
    top give ``"."``. Types must match (a list is not a tuple); numbers compare with ``==``,
    except that NaN equals NaN (a cached NaN is not stale). A set that differs is reported
    at the set's own path. Cyclic structures are safe: a pair already being compared counts
    as equal where it recurs.
    """
    path = _difference(a, b, "", set())
    if path is None:
        return None
    return path or "."


def _difference(a: Any, b: Any, path: str, active: set[tuple[int, int]]) -> str | None:
    if a is b:
        return None
    if type(a) is not type(b):
        return path
    if isinstance(a, float):
        return None if a == b or (math.isnan(a) and math.isnan(b)) else path
    pair = (id(a), id(b))
    if pair in active:
        return None  # a cycle back to a pair still being compared
    active.add(pair)
    try:
        return _compare_children(a, b, path, active)
    finally:
        active.discard(pair)


def _compare_children(a: Any, b: Any, path: str, active: set[tuple[int, int]]) -> str | None:
    if dataclasses.is_dataclass(a):
        names = [f.name for f in dataclasses.fields(a)]
        return _first_of(((f".{n}", getattr(a, n), getattr(b, n)) for n in names), path, active)
    if isinstance(a, Mapping):
        for key in a:
            if key not in b:
                return path + _key_path(key)
        for key in b:
            if key not in a:
                return path + _key_path(key)
        return _first_of(((_key_path(k), a[k], b[k]) for k in a), path, active)
    if isinstance(a, (list, tuple)):
        labels = getattr(a, "_fields", None)  # a namedtuple's fields read better by name
        steps = (
            (f".{labels[i]}" if labels else f"[{i}]", x, y)
            for i, (x, y) in enumerate(zip(a, b, strict=False))
        )
        found = _first_of(steps, path, active)
        if found is not None or len(a) == len(b):
            return found
        return path + f"[{min(len(a), len(b))}]"
    if isinstance(a, Set):
        return None if _equal(a, b) else path
    if _compares_by_identity(a):
        return _difference(vars(a), vars(b), path, active) if hasattr(a, "__dict__") else path
    return None if _equal(a, b) else path


def _first_of(steps: Any, path: str, active: set[tuple[int, int]]) -> str | None:
    for label, x, y in steps:
        found = _difference(x, y, path + label, active)
        if found is not None:
            return found
    return None


def _key_path(key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


_OBJECT_EQ: Any = object.__eq__


def _compares_by_identity(value: Any) -> bool:
    """A plain object without ``__eq__``: two copies (the cached one came back through pickle)
    are never ``==``, so their attributes are compared instead."""
    return getattr(type(value), "__eq__", None) is _OBJECT_EQ


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # an __eq__ that raises or returns something without a truth value
        return False


@dataclasses.dataclass(slots=True)
class _Check:
    cache: str
    id: Any
    cached: Any
    age: float | None


class ShadowChecker:
    """Runs sampled shadow checks off the request path and keeps their counts.

    `on_mismatch(cache, id, cached, fresh)` is called after each mismatch (on the worker
    thread or the loop the check ran on); what it raises is logged, never propagated.
    """

    def __init__(
        self,
        *,
        max_pending: int = 64,
        workers: int = 1,
        on_mismatch: OnMismatch | None = None,
    ) -> None:
        if max_pending < 1 or workers < 1:
            raise ValueError("max_pending and workers must be at least 1")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_mismatch = on_mismatch
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("checks", "matches", "mismatches", "errors", "dropped"), 0)
        self._ages: collections.deque[float] = collections.deque(maxlen=STALENESS_SAMPLES)
        self._max_age: float | None = None
        self._closed = False
        self._random = random.random

    def maybe_check(
        self,
        cache_name: str,
        id: Any,
        cached_value: Any,
        cached_age_s: float | None,
        fallback: Callable[[], Any],
        percent: float,
    ) -> bool:
        """Sample `percent`% of calls; for those, compare ``fallback()`` with `cached_value`
        in the background. Whether a check was scheduled. Never raises, never waits.
        `cached_age_s`: how old the cached entry is (``None``: unknown), for staleness."""
        if percent <= 0 or self._random() * 100.0 >= percent:
            return False
        if self._closed or not self._slots.acquire(blocking=False):
            self._count("dropped")
            return False
        check = _Check(cache_name, id, cached_value, cached_age_s)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        try:
            if loop is not None and inspect.iscoroutinefunction(fallback):
                task = loop.create_task(self._run_async(check, fallback))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._executor().submit(self._run_in_thread, check, fallback, loop)
        except RuntimeError:  # the pool was shut down meanwhile, or the loop is closing
            self._slots.release()
            self._count("dropped")
            return False
        return True

    def stats(self) -> dict[str, Any]:
        """``checks`` (completed: ``matches + mismatches + errors``), ``dropped`` (sampled but
        over ``max_pending``), and the age of the cached entries checked: the median of the
        last 1024 and the maximum (seconds; ``None`` before any)."""
        with self._lock:
            result: dict[str, Any] = dict(self._counts)
            ages = sorted(self._ages)
            result["staleness_p50_s"] = ages[len(ages) // 2] if ages else None
            result["staleness_max_s"] = self._max_age
        return result

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting checks; cancel queued ones and running async ones; with `wait`,
        wait for the running thread checks."""
        self._closed = True
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        for task in list(self._tasks):
            task.get_loop().call_soon_threadsafe(task.cancel)

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("closed")
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self._workers, thread_name_prefix="memlease-shadow"
                )
            return self._pool

    def _run_in_thread(
        self, check: _Check, fallback: Callable[[], Any], loop: asyncio.AbstractEventLoop | None
    ) -> None:
        try:
            fresh = fallback()
            if inspect.isawaitable(fresh):
                fresh = _await_elsewhere(fresh, loop)
        except BaseException as error:  # CancelledError too: the loop it waited on closed
            self._conclude(check, None, error)
        else:
            self._conclude(check, fresh, None)

    async def _run_async(self, check: _Check, fallback: Callable[[], Awaitable[Any]]) -> None:
        try:
            fresh = await fallback()
        except Exception as error:
            self._conclude(check, None, error)
        else:
            self._conclude(check, fresh, None)
        # (Cancelled by close(): the slot goes with the checker.)

    def _conclude(self, check: _Check, fresh: Any, error: BaseException | None) -> None:
        """Count and report a check's outcome, and give its slot back."""
        try:
            if error is not None:
                self._failed(check, error)
            else:
                self._compare(check, fresh)
        finally:
            self._slots.release()

    def _compare(self, check: _Check, fresh: Any) -> None:
        try:
            path = first_difference(check.cached, fresh)
        except Exception as error:  # RecursionError on a very deep value, a hostile __eq__
            self._failed(check, error)
            return
        with self._lock:
            self._counts["checks"] += 1
            self._counts["matches" if path is None else "mismatches"] += 1
            if check.age is not None:
                self._ages.append(check.age)
                self._max_age = max(check.age, self._max_age or 0.0)
        if path is None:
            return
        age = "unknown" if check.age is None else f"{check.age:.1f} s"
        log.warning(
            "shadow check mismatch: cache %r id %r differs from the fallback at %s"
            " (cached entry age %s)",
            check.cache,
            check.id,
            path,
            age,
        )
        if self._on_mismatch is not None:
            try:
                self._on_mismatch(check.cache, check.id, check.cached, fresh)
            except Exception:
                log.exception("shadow check on_mismatch hook %r failed", self._on_mismatch)

    def _failed(self, check: _Check, error: BaseException) -> None:
        with self._lock:
            self._counts["checks"] += 1
            self._counts["errors"] += 1
        log.info("shadow check of cache %r id %r failed: %r", check.cache, check.id, error)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1


def _await_elsewhere(awaitable: Awaitable[Any], loop: asyncio.AbstractEventLoop | None) -> Any:
    """Await `awaitable` from a worker thread: on the loop the check came from (its resources
    live there), or on a private loop if the check came from synchronous code."""

    async def wait() -> Any:
        return await awaitable

    if loop is None or loop.is_closed():
        return asyncio.run(wait())
    return asyncio.run_coroutine_threadsafe(wait(), loop).result()
