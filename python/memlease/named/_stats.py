"""Per-cache, per-layer counters and latency percentiles for ``CacheManager.stats()``.

A layer's counters and its latency samples sit behind one lock held for a few additions (no
I/O, no Python callbacks): the hit path pays one uncontended acquire. Latencies go to a
fixed ring of the last ``SAMPLES`` observations; percentiles are computed from it when
``stats()`` is called, so they describe recent traffic and cost nothing per call.
"""

from __future__ import annotations

import threading
from typing import Any

LAYERS = ("request", "local", "memcached")
SAMPLES = 1024


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class LayerStats:
    __slots__ = ("_lock", "_next", "_samples", "errors", "fills", "hits", "misses")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = self.misses = self.fills = self.errors = 0
        self._samples: list[float] = []
        self._next = 0

    def _sample(self, seconds: float) -> None:
        # The ring, filled first; then each sample replaces the oldest (the lock is held).
        samples = self._samples
        if len(samples) < SAMPLES:
            samples.append(seconds)
        else:
            samples[self._next] = seconds
            self._next = (self._next + 1) % SAMPLES

    def hit(self, seconds: float) -> None:
        with self._lock:
            self.hits += 1
            self._sample(seconds)

    def miss(self, seconds: float) -> None:
        with self._lock:
            self.misses += 1
            self._sample(seconds)

    def fill(self) -> None:
        with self._lock:
            self.fills += 1

    def error(self) -> None:
        with self._lock:
            self.errors += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            ordered = sorted(self._samples)
            hits, misses = self.hits, self.misses
            fills, errors = self.fills, self.errors
        return {
            "requests": hits + misses,
            "hits": hits,
            "misses": misses,
            "fills": fills,
            "errors": errors,
            "p50_ms": _ms(_percentile(ordered, 0.50)),
            "p99_ms": _ms(_percentile(ordered, 0.99)),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


class CacheStats:
    """One named cache's counters: a ``LayerStats`` per layer, and its fallback calls."""

    def __init__(self) -> None:
        self.request = LayerStats()
        self.local = LayerStats()
        self.memcached = LayerStats()
        self._lock = threading.Lock()
        self.fallback_calls = self.fallback_errors = 0

    def fallback(self, failed: bool) -> None:
        with self._lock:
            self.fallback_calls += 1
            self.fallback_errors += failed

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls, errors = self.fallback_calls, self.fallback_errors
        return {
            "layers": {
                "request": self.request.snapshot(),
                "local": self.local.snapshot(),
                "memcached": self.memcached.snapshot(),
            },
            "fallback_calls": calls,
            "fallback_errors": errors,
        }
