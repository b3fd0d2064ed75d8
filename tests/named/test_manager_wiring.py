"""The manager's runtime pieces wired into the caches: config changes applied without a
restart (enabled, ttl, shadow_percent from a file changed mid-test), shadow checks of real
hits, datasets, and what stats() reports of them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import memlease
from memlease import CacheManager
from tests.named.conftest import Calls, Named


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_config_file_changed_mid_test_applies_without_restart(named: Named, tmp_path: Path) -> None:
    path = tmp_path / "caches.json"
    path.write_text(json.dumps({"caches": {"users": {"ttl": 100}}}))
    manager = named.manager(config=str(path), reload_interval=0.05)
    users = manager.cache("users", ttl=60)
    named.get(users, 1, Calls("a"))

    def ttl_of(id: int) -> int:
        return int(named.client._lease_get_with_counters(users.key(id), [])[0].ttl)

    assert 90 < ttl_of(1) <= 100
    path.write_text(json.dumps({"caches": {"users": {"ttl": 500, "enabled": False}}}))
    load = Calls("direct")

    def disabled() -> bool:
        return named.get(users, 2, load) == "direct" and not users.settings.enabled

    wait_until(disabled)
    path.write_text(json.dumps({"caches": {"users": {"ttl": 500}}}))
    wait_until(lambda: users.settings.enabled)
    named.get(users, 3, Calls("c"))
    assert 490 < ttl_of(3) <= 500


def test_a_bad_config_keeps_the_last_good_one(named: Named) -> None:
    source: dict[str, Any] = {"caches": {"users": {"enabled": False}}}
    manager = named.manager(config=lambda: source, reload_interval=0.05)
    users = manager.cache("users", ttl=60)
    assert users.settings.enabled is False
    source = {"caches": {"users": {"enabled": "nope"}}}
    time.sleep(0.2)
    assert named.get(users, 1, Calls("direct")) == "direct"
    assert users.settings.enabled is False


def test_shadow_checks_compare_real_hits_with_the_fallback(named: Named) -> None:
    mismatches: list[tuple[Any, ...]] = []
    seen = threading.Event()

    def on_mismatch(*args: Any) -> None:
        mismatches.append(args)
        seen.set()

    manager = named.manager(
        config={"caches": {"prices": {"shadow_percent": 100}}}, on_mismatch=on_mismatch
    )
    prices = manager.cache("prices", ttl=60)
    named.get(prices, 1, Calls({"items": [1, 2, {"price": 3}]}))  # a miss: no check
    assert manager.stats()["caches"]["prices"]["shadow"]["checks"] == 0
    # The hit is checked against a source of truth that moved on.
    named.get(prices, 1, Calls({"items": [1, 2, {"price": 4}]}))
    assert seen.wait(5)
    assert mismatches[0][:2] == ("prices", 1)
    shadow = manager.stats()["caches"]["prices"]["shadow"]
    assert shadow["checks"] == 1 and shadow["mismatches"] == 1
    assert shadow["staleness_max_s"] is not None and shadow["staleness_max_s"] >= 0


def test_dataset_through_the_manager_sync(server: Any) -> None:
    loads = Calls({"EUR": 1.0, "USD": 1.1})
    with memlease.Client([server.address]) as client:
        client.flush_all()
        manager = CacheManager(client, "shop")
        currencies = manager.dataset("currencies", loads, refresh_every=60)
        assert currencies["USD"] == 1.1
        assert manager.dataset("currencies", loads, refresh_every=60) is currencies
        stats = manager.stats()["datasets"]["currencies"]
        assert stats["entries"] == 2 and stats["loads"] == 1
        manager.close()


def test_dataset_through_the_manager_async(server: Any) -> None:
    async def load() -> dict[str, float]:
        return {"EUR": 1.0}

    async def main() -> None:
        async with memlease.AsyncClient([server.address]) as client:
            await client.flush_all()
            manager = CacheManager(client, "shop")
            currencies = await manager.adataset("currencies", load, refresh_every=60)
            assert currencies.get("EUR") == 1.0
            assert manager.stats()["datasets"]["currencies"]["entries"] == 1
            await manager.aclose()

    asyncio.run(main())
