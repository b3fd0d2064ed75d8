"""The invalidate_tags check (named_invalidate_tags): the time of ``invalidate_tags`` with 10
and with 100,000 entries carrying the tag. It deletes the tag's version counter, so it
should not grow with the entries (issue 13: O(tags), not O(entries)). memlease only; one
memcached of its own."""

from __future__ import annotations

import statistics
import time

import memlease
from memlease.testing import MemcachedServer

from .progress import log

ENTRY_COUNTS = (10, 100_000)
REPEATS = 50  # invalidations timed per count, each of a counter that exists


def invalidate_tags_check() -> list[str]:
    """Report lines: median and max time of one invalidate_tags per entry count."""
    lines = []
    with MemcachedServer(memory_mb=256) as server, memlease.Client([server.address]) as client:
        manager = memlease.CacheManager(client, "bench")
        for count in ENTRY_COUNTS:
            tag = f"tagged-{count}"
            cache = manager.cache(f"entries{count}", ttl=0, request_layer=False)
            log(f"named_invalidate_tags: filling {count:,} entries tagged {tag!r}")
            for id in range(count):
                cache.get(id, lambda: b"x" * 100, tags=(tag,))
            times = []
            for _ in range(REPEATS):
                cache.get(0, lambda: b"x" * 100, tags=(tag,))  # re-creates the counter
                started = time.perf_counter()
                manager.invalidate_tags([tag])
                times.append(time.perf_counter() - started)
            lines.append(
                f"named_invalidate_tags, {count:,} tagged entries: median"
                f" {statistics.median(times) * 1e6:.0f} µs, max {max(times) * 1e6:.0f} µs"
                f" over {REPEATS} calls"
            )
    return lines
