"""Cache tags: invalidate_tags makes every entry with the tag a miss, in any process, and
costs O(tags); tag versions are read in the same round trip as the entry."""

from __future__ import annotations

from typing import Any

from memlease.named import _keys
from tests.named.conftest import Calls, Named


def test_invalidating_a_tag_misses_every_entry_with_it_and_no_other(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    named.get(users, 1, Calls("u1"), tags=["user-1", "loc-7"])
    named.get(users, 2, Calls("u2"), tags=["user-2", "loc-7"])
    named.get(users, 3, Calls("u3"), tags=["user-3"])
    named.invalidate_tags(manager, ["loc-7"])
    assert named.get(users, 1, Calls("u1'"), tags=["user-1", "loc-7"]) == "u1'"
    assert named.get(users, 2, Calls("u2'"), tags=["user-2", "loc-7"]) == "u2'"
    assert named.get(users, 3, Calls("u3'"), tags=["user-3"]) == "u3"
    # The refilled entries are current again.
    assert named.get(users, 1, Calls("no"), tags=["user-1", "loc-7"]) == "u1'"


def test_another_client_sees_a_tag_invalidation_on_its_next_read(named: Named) -> None:
    reader = named.manager()
    users = reader.cache("users", ttl=60)
    named.get(users, 1, Calls("old"), tags=["user-1"])
    writer = named.manager(client=named.make_client())
    named.invalidate_tags(writer, ["user-1"])
    assert named.get(users, 1, Calls("new"), tags=["user-1"]) == "new"


def test_a_tagged_hit_is_one_round_trip(named: Named) -> None:
    """Entry and two tag counters: three keys, one batch (memcached counts the gets; the
    client sends them in one dispatch, so a hit costs a single get's latency)."""
    users = named.manager().cache("users", ttl=60)
    named.get(users, 1, Calls("v"), tags=["a", "b"])
    before = int(named.server_stats()["cmd_get"])
    assert named.get(users, 1, Calls("x"), tags=["a", "b"]) == "v"
    assert int(named.server_stats()["cmd_get"]) - before == 3
    assert named.managers[0].stats()["caches"]["users"]["layers"]["memcached"]["hits"] == 1


def test_entry_checks_the_tags_it_names_even_when_the_call_names_none(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    named.get(users, 1, Calls("old"), tags=["user-1"])
    named.invalidate_tags(manager, ["user-1"])
    assert named.get(users, 1, Calls("new")) == "new"


def test_a_counter_recreated_after_eviction_never_matches_an_old_version(named: Named) -> None:
    """ABA: deleting a tag counter (as eviction would) and letting it be created again must
    not revive entries stored under its earlier version."""
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    named.get(users, 1, Calls("old"), tags=["t"])
    counter = _keys.tag_key("shop", "t")
    first = int(named.client.get(counter))
    named.client.delete(counter)
    named.get(users, 2, Calls("other"), tags=["t"])  # recreates the counter
    assert int(named.client.get(counter)) != first
    assert named.get(users, 1, Calls("new"), tags=["t"]) == "new"


def test_invalidate_tags_touches_only_the_tags_counters(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    for i in range(50):
        named.get(users, i, Calls(i), tags=["bulk"])
    before = named.server_stats()
    named.invalidate_tags(manager, ["bulk", "never-used"])
    after = named.server_stats()
    deletes = int(after["delete_hits"]) + int(after["delete_misses"])
    deletes -= int(before["delete_hits"]) + int(before["delete_misses"])
    assert deletes == 2
    assert named.get(users, 7, Calls("new"), tags=["bulk"]) == "new"


def test_result_tags_from_a_callable_are_stored_and_checked(named: Named) -> None:
    manager = named.manager()
    users = manager.cache("users", ttl=60)
    tags_of: Any = lambda value: [f"loc-{value['loc']}"]  # noqa: E731
    named.get(users, 1, Calls({"loc": 7}), _result_tags=tags_of)
    assert named.get(users, 1, Calls("x"), _result_tags=tags_of) == {"loc": 7}
    named.invalidate_tags(manager, ["loc-7"])
    assert named.get(users, 1, Calls({"loc": 8}), _result_tags=tags_of) == {"loc": 8}
