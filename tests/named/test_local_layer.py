"""The in-process layer inside NamedCache.get: write-back from memcached, hits without
network I/O, tags and invalidate() dropping local entries at once, a value read before an
invalidation never stored after it, and local_ttl changed at runtime."""

from __future__ import annotations

from typing import Any

from tests.named.conftest import Calls, Named


def gets(named: Named) -> int:
    return int(named.server_stats()["cmd_get"])


def test_memcached_hit_is_written_back_and_then_served_without_io(named: Named) -> None:
    writer = named.manager().cache("users", ttl=60)
    named.get(writer, 1, Calls("v"))
    manager = named.manager(client=named.make_client())
    users = manager.cache("users", ttl=60, local_ttl=30)
    assert named.get(users, 1, Calls("no")) == "v"  # memcached hit, written back locally
    before = gets(named)
    assert named.get(users, 1, Calls("no")) == "v"
    assert gets(named) == before  # no memcached read at all
    layers = manager.stats()["caches"]["users"]["layers"]
    assert layers["local"]["hits"] == 1 and layers["local"]["fills"] == 1
    assert layers["memcached"]["hits"] == 1


def test_invalidate_tags_drops_local_entries_at_once(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60, local_ttl=30)
    named.get(users, 1, Calls("old"), tags=["org-7"])
    named.get(users, 2, Calls("keep"), tags=["org-8"])
    named.invalidate_tags(manager, ["org-7"])
    assert named.get(users, 1, Calls("new"), tags=["org-7"]) == "new"
    before = gets(named)
    assert named.get(users, 2, Calls("no"), tags=["org-8"]) == "keep"
    assert gets(named) == before


def test_invalidate_drops_the_local_entry(named: Named) -> None:
    users = named.manager().cache("users", ttl=60, local_ttl=30)
    named.get(users, 1, Calls("old"))
    named.invalidate(users, 1)
    assert named.get(users, 1, Calls("new")) == "new"


def test_a_value_read_before_an_invalidation_is_not_kept_locally(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60, local_ttl=30)
    invalidated: list[bool] = []

    def fallback_racing_an_invalidation() -> Any:
        # Another request invalidates the tag while this value is computed.
        manager.invalidate_tags(["org-7"])
        invalidated.append(True)
        return "computed before the invalidation"

    async def async_fallback_racing_an_invalidation() -> Any:
        await manager.ainvalidate_tags(["org-7"])
        invalidated.append(True)
        return "computed before the invalidation"

    racing = async_fallback_racing_an_invalidation if named.is_async else None
    assert named.get(users, 1, racing or fallback_racing_an_invalidation, tags=["org-7"])
    assert invalidated
    assert named.get(users, 1, Calls("fresh"), tags=["org-7"]) == "fresh"


def test_local_ttl_zero_in_config_skips_the_layer(named: Named) -> None:
    source: dict[str, Any] = {"caches": {}}
    manager = named.manager(config=lambda: source, reload_interval=0.05)
    users = manager.cache("users", ttl=60, local_ttl=30)
    named.get(users, 1, Calls("v"))
    named.get(users, 1, Calls("v"))
    assert manager.stats()["caches"]["users"]["layers"]["local"]["hits"] == 1
    source = {"caches": {"users": {"local_ttl": 0}}}
    assert manager._config is not None and manager._config.reload_now()
    before = gets(named)
    named.get(users, 1, Calls("v"))
    assert gets(named) == before + 1  # read from memcached: the local layer is skipped
    assert manager.stats()["caches"]["users"]["layers"]["local"]["hits"] == 1
