"""Multi-key operations over several servers."""

from __future__ import annotations

from collections.abc import Iterator

import memlease
from memlease.testing import MemcachedServer


def test_get_many_spans_servers(
    cluster_client: memlease.Client, cluster: list[MemcachedServer]
) -> None:
    data = {f"key:{i}": i for i in range(300)}
    assert cluster_client.set_many(data) == []
    # Keys really are spread: every server holds some.
    owners = {cluster_client.server_for(k) for k in data}
    assert owners == {s.address for s in cluster}
    wanted = [*data, "missing:1", "missing:2"]
    assert cluster_client.get_many(wanted) == data


def test_each_value_comes_back_under_its_own_key(cluster_client: memlease.Client) -> None:
    data = {f"k{i}": f"value-of-k{i}" * (i % 7 + 1) for i in range(500)}
    cluster_client.set_many(data)
    # Only every third key exists: hits and quiet misses interleave in every batch.
    present = {k: v for i, (k, v) in enumerate(data.items()) if i % 3 == 0}
    cluster_client.delete_many([k for k in data if k not in present])
    assert cluster_client.get_many(list(data)) == present


def test_get_many_edge_cases(cluster_client: memlease.Client) -> None:
    assert cluster_client.get_many([]) == {}
    cluster_client.set("dup", 1)
    mixed: list[str | bytes] = ["dup", "dup", b"dup"]
    assert cluster_client.get_many(mixed) == {"dup": 1, b"dup": 1}
    assert cluster_client.get_many(iter(["dup"])) == {"dup": 1}


def test_get_many_takes_any_iterable_whatever_its_len_says(
    cluster_client: memlease.Client,
) -> None:
    # The key list is sized from len() when there is one: a __len__ that lies must not make
    # the client reserve memory it cannot have, nor lose keys.
    cluster_client.set_many({"len:a": b"1", "len:b": b"2"})

    class Boastful:
        def __len__(self) -> int:
            return 10**15

        def __iter__(self) -> Iterator[str]:
            return iter(["len:a", "len:b"])

    expected = {"len:a": b"1", "len:b": b"2"}
    assert cluster_client.get_many(Boastful()) == expected
    assert cluster_client.get_many(k for k in ["len:a", "len:b"]) == expected


def test_set_many_reports_failures_and_ttl(cluster_client: memlease.Client) -> None:
    assert cluster_client.set_many({"a": 1, "b": [2]}, ttl=100) == []
    ttl = cluster_client.meta_get("b", "t").ttl
    assert ttl is not None and 98 <= ttl <= 100
    assert cluster_client.set_many({}) == []


def test_delete_many_counts_existing(cluster_client: memlease.Client) -> None:
    cluster_client.set_many({f"d{i}": i for i in range(50)})
    assert cluster_client.delete_many([f"d{i}" for i in range(60)]) == 50
    assert cluster_client.get_many([f"d{i}" for i in range(50)]) == {}


def test_large_batches_do_not_deadlock(cluster_client: memlease.Client) -> None:
    # Several MB each way in one pipelined batch per server: writing and reading must
    # interleave or both sides block on full socket buffers.
    value = b"v" * 20_000
    data = {f"big{i}": value for i in range(400)}
    assert cluster_client.set_many(data) == []
    got = cluster_client.get_many(list(data))
    assert len(got) == 400 and all(v == value for v in got.values())


def test_multi_server_stats_and_flush(cluster_client: memlease.Client, cluster) -> None:
    assert set(cluster_client.stats()) == {s.address for s in cluster}
    assert set(cluster_client.version()) == {s.address for s in cluster}
    cluster_client.set_many({f"f{i}": i for i in range(30)})
    cluster_client.flush_all()
    assert cluster_client.get_many([f"f{i}" for i in range(30)]) == {}
