"""Shadow checks: the first differing path, sampling, bounded background work, counts,
staleness, the mismatch hook and log line, sync and async fallbacks."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

import pytest

from memlease.named._shadow import ShadowChecker, first_difference


@dataclass
class Item:
    name: str
    price: float


@dataclass
class Order:
    id: int
    items: list[Item] = field(default_factory=list)
    meta: dict[Any, Any] = field(default_factory=dict)


class Plain:
    def __init__(self, x: Any) -> None:
        self.x = x


Point = namedtuple("Point", "x y")


def order(price: float = 3.0) -> Order:
    items = [Item("a", 1.0), Item("b", 2.0), Item("c", price)]
    return Order(7, items, {"tags": {"x", "y"}, 3: (1, 2)})


def test_equal_values_have_no_difference() -> None:
    assert first_difference(order(), order()) is None
    assert first_difference(float("nan"), float("nan")) is None
    assert first_difference(Plain([1]), Plain([1])) is None


@pytest.mark.parametrize(
    ("a", "b", "path"),
    [
        (order(3.0), order(4.0), ".items[2].price"),
        (1, 2, "."),
        (1, 1.0, "."),
        ([1, 2], (1, 2), "."),
        ([1, 2], [1, 2, 3], "[2]"),
        ({"a": 1}, {"a": 1, "b": 2}, ".b"),
        ({"a": {"b c": 1}}, {"a": {"b c": 2}}, ".a['b c']"),
        ({3: "x"}, {3: "y"}, "[3]"),
        ({"s": {1, 2}}, {"s": {1, 3}}, ".s"),
        (Plain({"k": 1}), Plain({"k": 2}), ".x.k"),
        (Point(1, 2), Point(1, 3), ".y"),
    ],
)
def test_first_difference_names_the_path(a: Any, b: Any, path: str) -> None:
    assert first_difference(a, b) == path


def test_cycles_are_safe() -> None:
    a: list[Any] = [1]
    a.append(a)
    b: list[Any] = [1]
    b.append(b)
    assert first_difference(a, b) is None
    c: list[Any] = [2]
    c.append(c)
    assert first_difference(a, c) == "[0]"


def wait_for_checks(checker: ShadowChecker, n: int) -> dict[str, Any]:
    for _ in range(500):
        stats = checker.stats()
        if stats["checks"] >= n:
            return stats
        threading.Event().wait(0.01)
    raise AssertionError(f"only {checker.stats()} after 5 s")


def test_mismatch_is_counted_logged_and_hooked(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[Any, ...]] = []
    checker = ShadowChecker(on_mismatch=lambda *args: seen.append(args))
    with caplog.at_level(logging.WARNING, logger="memlease.named"):
        assert checker.maybe_check("orders", 7, order(3.0), 12.0, lambda: order(4.0), 100)
        assert checker.maybe_check("orders", 8, order(), 2.0, order, 100)
        stats = wait_for_checks(checker, 2)
        checker.close()
    assert stats["matches"] == 1 and stats["mismatches"] == 1 and stats["errors"] == 0
    assert stats["staleness_max_s"] == 12.0 and stats["staleness_p50_s"] in (2.0, 12.0)
    assert seen == [("orders", 7, order(3.0), order(4.0))]
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "'orders'" in line and "7" in line and ".items[2].price" in line


def test_hook_and_fallback_errors_do_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def hook(*_: Any) -> None:
        raise RuntimeError("hook broke")

    def fallback() -> int:
        raise LookupError("source down")

    checker = ShadowChecker(on_mismatch=hook)
    checker.maybe_check("c", 1, 1, None, lambda: 2, 100)
    checker.maybe_check("c", 2, 1, None, fallback, 100)
    stats = wait_for_checks(checker, 2)
    checker.close()
    assert stats["mismatches"] == 1 and stats["errors"] == 1
    assert stats["staleness_p50_s"] is None
    assert "hook broke" in caplog.text


def test_sampling_percent() -> None:
    checker = ShadowChecker(max_pending=10_000)
    assert not checker.maybe_check("c", 1, 1, 0.0, lambda: 1, 0)
    scheduled = sum(checker.maybe_check("c", i, 1, 0.0, lambda: 1, 10) for i in range(2000))
    checker.close()
    assert 100 < scheduled < 300  # 10% of 2000, well inside binomial noise


def test_full_queue_drops_checks_without_blocking() -> None:
    release = threading.Event()
    checker = ShadowChecker(max_pending=2, workers=1)

    def slow() -> int:
        release.wait(5)
        return 1

    results = [checker.maybe_check("c", i, 1, 0.0, slow, 100) for i in range(5)]
    assert results == [True, True, False, False, False]
    assert checker.stats()["dropped"] == 3
    release.set()
    assert wait_for_checks(checker, 2)["matches"] == 2
    assert checker.maybe_check("c", 9, 1, 0.0, slow, 100)  # slots came back
    checker.close()


def test_async_fallback_runs_on_the_calling_loop() -> None:
    checker = ShadowChecker()

    async def main() -> dict[str, Any]:
        loops: list[Any] = []

        async def fresh() -> dict[str, int]:
            loops.append(asyncio.get_running_loop())
            return {"v": 2}

        async def coro(x: int) -> int:
            loops.append(asyncio.get_running_loop())
            return x

        assert checker.maybe_check("c", 1, {"v": 1}, 1.0, fresh, 100)
        # A plain function returning a coroutine: awaited on this loop too.
        assert checker.maybe_check("c", 2, 5, 1.0, lambda: coro(5), 100)
        for _ in range(500):
            if checker.stats()["checks"] == 2:
                break
            await asyncio.sleep(0.01)
        assert loops == [asyncio.get_running_loop()] * 2
        return checker.stats()

    stats = asyncio.run(main())
    checker.close()
    assert stats["mismatches"] == 1 and stats["matches"] == 1


def test_closed_checker_drops() -> None:
    checker = ShadowChecker()
    checker.close()
    assert not checker.maybe_check("c", 1, 1, 0.0, lambda: 1, 100)
    assert checker.stats()["dropped"] == 1
