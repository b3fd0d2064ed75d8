"""The low-level meta_* methods: any flags in, every return flag out (memcached 1.6.18)."""

from __future__ import annotations

import pytest

import memlease


def test_meta_get_returns_all_flags(client: memlease.Client) -> None:
    assert client.meta_get("absent", "v").status == "EN"
    client.set("k", "value", ttl=100)
    r = client.meta_get("k", "v c t s k h l O42")
    assert r.status == "VA"
    assert r.value == "value"
    assert r.client_flags == 16  # added automatically with v, to deserialize
    assert isinstance(r.cas, int) and r.cas > 0
    assert r.ttl is not None and 98 <= r.ttl <= 100
    assert r.size == len("value")
    assert r.key == b"k"
    assert r.opaque == b"42"
    assert r.hit_before is False
    assert r.last_access is not None
    assert client.meta_get("k", "h").hit_before is True
    head = client.meta_get("k")
    assert head.status == "HD" and head.value is None


def test_binary_key_comes_back_decoded(client: memlease.Client) -> None:
    client.set(b"\x00bin", 1)
    assert client.meta_get(b"\x00bin", "k v").key == b"\x00bin"


def test_vivify_on_miss_hands_out_one_win(client: memlease.Client) -> None:
    first = client.meta_get("lease", "v c N30")
    assert first.status == "VA" and first.win and not first.already_won
    assert first.value == b""  # the 0-byte placeholder
    second = client.meta_get("lease", "v c N30")
    assert second.already_won and not second.win
    # The winner fills with its CAS; later readers see data.
    filled = client.meta_set("lease", "computed", f"C{first.cas} T60")
    assert filled.status == "HD"
    assert client.get("lease") == "computed"


def test_stale_marking_and_single_refresher(client: memlease.Client) -> None:
    client.set("s", "old")
    assert client.meta_delete("s", "I T30").status == "HD"
    winner = client.meta_get("s", "v c")
    assert winner.value == "old" and winner.stale and winner.win
    loser = client.meta_get("s", "v c")
    assert loser.stale and loser.already_won and not loser.win
    # The winner's CAS-guarded set clears the stale state.
    assert client.meta_set("s", "new", f"C{winner.cas}").status == "HD"
    fresh = client.meta_get("s", "v")
    assert fresh.value == "new" and not fresh.stale


def test_recache_wins_early_refresh(client: memlease.Client) -> None:
    client.set("r", "v", ttl=10)
    first = client.meta_get("r", "v t R30")
    assert first.win and first.value == "v"
    assert client.meta_get("r", "v t R30").already_won


def test_cas_conflicts(client: memlease.Client) -> None:
    stored = client.meta_set("c", "v1", "c")
    assert stored.status == "HD" and stored.cas
    assert client.meta_set("c", "v2", "C1").status == "EX"
    assert client.meta_set("missing", "v", "C1").status == "NF"
    assert client.meta_set("c", "x", "ME").status == "NS"
    assert client.meta_delete("c", "C1").status == "EX"
    assert client.meta_delete("c", f"C{stored.cas}").status == "HD"
    assert client.meta_delete("c").status == "NF"


def test_meta_arithmetic(client: memlease.Client) -> None:
    assert client.meta_arithmetic("n", "v").status == "NF"
    created = client.meta_arithmetic("n", "N0 J10 v t")
    assert created.value == 10 and created.ttl == -1
    assert client.meta_arithmetic("n", "MD D3 v").value == 7
    assert client.meta_arithmetic("n", "D5").status == "HD"
    assert client.get("n") == b"12"  # stored without type flags: raw digits


@pytest.mark.parametrize(
    ("method", "flags"),
    [
        ("meta_get", "q"),  # would wait for a reply that never comes
        ("meta_get", "b"),  # binary keys are handled by the client
        ("meta_get", "v v"),
        ("meta_get", "Z"),
        ("meta_get", "F5"),
        ("meta_delete", "v"),
        ("meta_arithmetic", "MZ"),
        ("meta_get", "O" + "x" * 40),
        ("meta_get", "T1.5"),
    ],
)
def test_bad_flags_are_refused_before_sending(
    client: memlease.Client, method: str, flags: str
) -> None:
    with pytest.raises(memlease.InvalidArgument):
        getattr(client, method)("k", flags)
    client.set("k", 1)  # the connection is fine
    assert client.get("k") == 1


def test_meta_set_bad_flags(client: memlease.Client) -> None:
    with pytest.raises(memlease.InvalidArgument):
        client.meta_set("k", "v", "MQ")
    with pytest.raises(memlease.InvalidArgument):
        client.meta_set("k", "v", "q")
