"""The in-process layer of named caches (``memlease._core.LocalLayer``): bounds, expiry, tag
and key invalidation, the stale-put token, runtime changes, counters, threads, bad input."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import memlease
from memlease._core import LocalLayer

MISSING = object()


def test_values_of_any_type_are_served_as_stored() -> None:
    layer = LocalLayer(100, 60)
    values: dict[str, Any] = {"none": None, "int": 3, "list": [1], "obj": object(), "b": b"x"}
    for key, value in values.items():
        layer.put(key, value)
    for key, value in values.items():
        assert layer.get(key, MISSING) is value
    assert layer.get("absent") is None
    assert layer.get("absent", MISSING) is MISSING
    assert layer.get("none", MISSING) is None


def test_entries_never_exceed_max_entries() -> None:
    layer = LocalLayer(50, 60)
    for i in range(500):
        layer.put(f"k{i}", i)
        assert len(layer) <= 50
    stats = layer.stats()
    assert stats["inserts"] == 500
    assert stats["evictions"] == 500 - stats["entries"]
    assert stats["entries"] == len(layer) >= 45


def test_an_expired_entry_is_never_returned() -> None:
    layer = LocalLayer(100, 60)
    layer.put("short", "s", ttl=0.02)
    layer.put("long", "l")
    time.sleep(0.05)
    assert layer.get("short", MISSING) is MISSING
    assert layer.get("long") == "l"
    assert layer.stats()["expirations"] == 1


def test_removing_a_tag_stops_its_entries_at_once() -> None:
    layer = LocalLayer(100, 60)
    layer.put("a", 1, tags=["user:1", "list"])
    layer.put("b", 2, tags=("user:2", "list"))
    layer.put("c", 3, tags=["user:1"])
    layer.put("d", 4)
    assert layer.remove_tags(["user:1"]) == 1
    assert [layer.get(k) for k in "abcd"] == [None, 2, None, 4]
    assert layer.remove_tags(iter(["list", "nobody"])) == 2
    assert [layer.get(k) for k in "abcd"] == [None, None, None, 4]
    assert layer.stats()["invalidations"] == 3
    layer.put("a", 10, tags=["user:1"])
    assert layer.get("a") == 10


def test_remove_and_clear() -> None:
    layer = LocalLayer(100, 60)
    layer.put("a", 1)
    layer.put("b", 2)
    assert layer.remove("a") is True
    assert layer.remove("a") is False
    assert layer.get("a") is None
    layer.clear()
    assert len(layer) == 0
    assert layer.get("b") is None


def test_a_put_of_a_value_read_before_an_invalidation_is_refused() -> None:
    layer = LocalLayer(100, 60)
    token = layer.generation()
    # ...the caller reads memcached here, meanwhile the tag is invalidated...
    layer.remove_tags(["t"])
    layer.put("a", "stale", tags=["t"], since=token)
    assert layer.get("a", MISSING) is MISSING

    token = layer.generation()
    layer.remove("b")
    layer.put("b", "stale", since=token)
    assert layer.get("b", MISSING) is MISSING

    token = layer.generation()
    layer.clear()
    layer.put("c", "stale", since=token)
    assert layer.get("c", MISSING) is MISSING
    assert layer.stats()["refused"] == 3

    # A token taken after the invalidation is accepted, and so is a put without one.
    layer.put("a", "fresh", tags=["t"], since=layer.generation())
    layer.put("b", "fresh")
    assert (layer.get("a"), layer.get("b")) == ("fresh", "fresh")


def test_configure_at_runtime() -> None:
    layer = LocalLayer(1000, 0.03)
    layer.put("early", 1)
    layer.configure(ttl=60)
    layer.put("late", 2)
    time.sleep(0.05)
    assert layer.get("early", MISSING) is MISSING  # kept its own expiry
    assert layer.get("late") == 2
    for i in range(300):
        layer.put(f"k{i}", i, tags=["t"])
    layer.configure(max_entries=20)
    assert 15 <= len(layer) <= 20
    layer.configure(max_entries=5000)
    for i in range(300):
        layer.put(f"n{i}", i)
    assert len(layer) > 300
    layer.remove_tags(["t"])
    assert all(layer.get(f"k{i}", MISSING) is MISSING for i in range(300))
    layer.configure()  # nothing to change


def test_stats_count_what_happened() -> None:
    layer = LocalLayer(10, 60)
    layer.put("a", 1, tags=["t"])
    layer.get("a")
    layer.get("b")
    layer.remove("a")
    assert layer.stats() == {
        "hits": 1,
        "misses": 1,
        "inserts": 1,
        "evictions": 0,
        "expirations": 0,
        "invalidations": 1,
        "refused": 0,
        "entries": 0,
        "tags": 1,
    }


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0, 60), {}),
        ((-5, 60), {}),
        ((True, 60), {}),
        (("10", 60), {}),
        ((10, 0), {}),
        ((10, -1), {}),
        ((10, float("nan")), {}),
        ((10, float("inf")), {}),
        ((10, "60"), {}),
    ],
)
def test_bad_constructor_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(memlease.InvalidArgument):
        LocalLayer(*args, **kwargs)


def test_bad_method_arguments() -> None:
    layer: Any = LocalLayer(10, 60)  # Any: the calls below break the stubs on purpose
    bad_calls: list[Callable[[], object]] = [
        lambda: layer.get(b"bytes-key"),
        lambda: layer.get(1),
        lambda: layer.get("\ud800"),
        lambda: layer.put(1, "v"),
        lambda: layer.put("k", "v", tags="one-str"),
        lambda: layer.put("k", "v", tags=[1]),
        lambda: layer.put("k", "v", tags=5),
        lambda: layer.put("k", "v", ttl=0),
        lambda: layer.put("k", "v", ttl=-1.5),
        lambda: layer.put("k", "v", since=-1),
        lambda: layer.put("k", "v", since=layer.generation() + 1),
        lambda: layer.remove(None),
        lambda: layer.remove_tags("one-str"),
        lambda: layer.remove_tags([b"x"]),
        lambda: layer.configure(max_entries=0),
        lambda: layer.configure(ttl=float("nan")),
    ]
    for call in bad_calls:
        with pytest.raises(memlease.InvalidArgument):
            call()
    assert len(layer) == 0


def test_configure_checks_both_values_before_changing_either() -> None:
    layer = LocalLayer(10, 60)
    with pytest.raises(memlease.InvalidArgument):
        layer.configure(ttl=0.01, max_entries=0)
    layer.put("a", 1)
    time.sleep(0.03)
    assert layer.get("a") == 1


def test_threads_hammering_never_see_a_wrong_value() -> None:
    layer = LocalLayer(100, 60)
    errors: list[str] = []

    def work(worker: int) -> None:
        for i in range(5000):
            key = f"k{(i * 7 + worker) % 150}"
            op = i % 5
            if op == 0:
                layer.remove_tags([f"t{i % 3}"])
            elif op == 1:
                layer.remove(key)
            elif op in (2, 3):
                token = layer.generation()
                layer.put(key, ("v", key), tags=[f"t{i % 3}"], since=token)
            else:
                found = layer.get(key)
                if found is not None and found != ("v", key):
                    errors.append(f"{key} -> {found!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(layer) <= 100


# Run in a child process: a destructor run under one of the layer's locks would deadlock with
# the GIL held, hanging every thread of the process, the test runner's included.
_REENTRANT_CHURN = """
from memlease._core import LocalLayer

layer = LocalLayer(1, 60)
calls = []

class Reentrant:
    def __del__(self):
        layer.get("other")
        layer.put("from-del", 1)
        layer.remove_tags(["t"])
        calls.append(1)

for i in range(50):
    layer.put(f"k{i}", Reentrant(), tags=["t"])
    layer.put(f"k{i}", Reentrant())
    layer.get(f"k{i}")
layer.put("last", Reentrant())
layer.configure(max_entries=1000)
layer.put("last", Reentrant())
layer.clear()
print(len(calls))
"""


def test_a_value_whose_destructor_uses_the_layer_does_not_deadlock() -> None:
    """Evicted, replaced and cleared values are released with no lock held: their
    ``__del__`` may call the layer again."""
    try:
        child = subprocess.run(
            [sys.executable, "-c", _REENTRANT_CHURN],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a destructor re-entering the layer deadlocked")
    assert int(child.stdout) >= 100
