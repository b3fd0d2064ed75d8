"""Named-cache keys: the URN schema, escaping, versions, and typed errors for bad names."""

from __future__ import annotations

from typing import Any

import pytest

import memlease
from memlease import CacheManager, InvalidArgument


@pytest.fixture
def manager(server: Any) -> Any:
    with memlease.Client([server.address]) as client:
        yield CacheManager(client, "shop")


def test_key_is_a_urn_naming_app_cache_and_id(manager: CacheManager) -> None:
    users = manager.cache("users", ttl=60)
    assert users.key("alice") == "urn:shop:users:alice"
    assert users.key(42) == "urn:shop:users:42"
    assert users.key(("eu", 7)) == "urn:shop:users:eu:7"


def test_version_marker_only_past_version_one(manager: CacheManager) -> None:
    assert manager.cache("v1", ttl=60).key(1) == "urn:shop:v1:1"
    assert manager.cache("v3", ttl=60, version=3).key(1) == "urn:shop:v3@v3:1"


def test_separators_inside_ids_are_escaped_so_distinct_ids_never_collide(
    manager: CacheManager,
) -> None:
    cache = manager.cache("c", ttl=60)
    ids: list[Any] = [
        "a:b",
        ("a", "b"),
        "a%3Ab",
        "a b",
        "a@v2",
        ("a:b",),
        ("a", "b:c"),
        ("a:b", "c"),
    ]
    keys = [cache.key(i) for i in ids]
    # ("a:b",) is its element; every other id has a key of its own.
    assert keys[5] == keys[0]
    distinct = keys[:5] + keys[6:]
    assert len(set(distinct)) == len(distinct)
    assert all(" " not in key for key in keys)


@pytest.mark.parametrize("bad_id", [None, 1.5, True, b"raw", (), "", ("a", None), ["a"]])
def test_bad_ids_raise_invalid_argument(manager: CacheManager, bad_id: Any) -> None:
    with pytest.raises(InvalidArgument):
        manager.cache("c", ttl=60).key(bad_id)


@pytest.mark.parametrize("bad_name", ["", "a:b", "a b", "x#y", "-lead", "a@b", 7, "é"])
def test_bad_app_and_cache_names_raise_invalid_argument(server: Any, bad_name: Any) -> None:
    with memlease.Client([server.address]) as client:
        with pytest.raises(InvalidArgument):
            CacheManager(client, bad_name)
        with pytest.raises(InvalidArgument):
            CacheManager(client, "shop").cache(bad_name, ttl=60)


def test_long_ids_still_work_through_the_clients_digest_keys(manager: CacheManager) -> None:
    cache = manager.cache("long", ttl=60)
    long_id = "x" * 400
    assert len(cache.key(long_id)) > 250
    assert cache.get(long_id, lambda: "v") == "v"
    assert cache.get(long_id, lambda: "other") == "v"
