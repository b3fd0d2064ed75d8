"""get / set / delete / touch: round trips, binary values, --raw, serdes, JSON, exit codes."""

from __future__ import annotations

import json

import memlease
from memlease.testing import MemcachedServer
from tests.cli.conftest import RunCli

BINARY = bytes(range(256)) + b"\x1b[2J\x00tail"  # includes a terminal escape sequence


def test_set_get_delete_round_trip(run_cli: RunCli) -> None:
    assert run_cli("set", "greeting", "hello world").stdout == "stored\n"
    got = run_cli("get", "greeting")
    assert got.exit_code == 0
    assert got.stdout == "hello world\n"
    assert "flags 0 (bytes)" in got.stderr
    assert run_cli("delete", "greeting").stdout == "deleted\n"
    missing = run_cli("get", "greeting")
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert "not found" in missing.stderr
    assert run_cli("delete", "greeting").exit_code == 1


def test_binary_value_from_stdin_comes_back_exactly_with_raw(run_cli: RunCli) -> None:
    assert run_cli("set", "blob", "-", stdin=BINARY).exit_code == 0
    raw = run_cli("get", "blob", "--raw")
    assert raw.exit_code == 0
    assert raw.stdout_bytes == BINARY


def test_binary_value_is_shown_as_a_preview_not_written_to_the_terminal(run_cli: RunCli) -> None:
    run_cli("set", "blob", "-", stdin=BINARY)
    shown = run_cli("get", "blob")
    assert shown.exit_code == 0
    assert "\x1b" not in shown.stdout  # the escape sequence is not emitted
    assert f"({len(BINARY)} bytes)" in shown.stdout
    as_json = json.loads(run_cli("get", "blob", "--json").stdout)
    assert bytes.fromhex(as_json["hex"]) == BINARY
    assert as_json["length"] == len(BINARY)


def test_get_json_reports_flags_size_ttl_and_server(
    run_cli: RunCli, server: MemcachedServer
) -> None:
    run_cli("set", "k", "v", "--ttl", "100")
    data = json.loads(run_cli("get", "k", "--json").stdout)
    assert data["found"] is True
    assert data["text"] == "v"
    assert data["flags"] == 0
    assert data["size"] == 1
    assert 0 < data["ttl"] <= 100
    assert data["server"] == server.address
    missing = run_cli("--json", "get", "nope")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["found"] is False


def test_touch_sets_a_new_ttl(run_cli: RunCli) -> None:
    run_cli("set", "k", "v")
    assert json.loads(run_cli("get", "k", "--json").stdout)["ttl"] == -1  # never expires
    touched = run_cli("touch", "k", "500")
    assert (touched.exit_code, touched.stdout) == (0, "touched\n")
    assert 0 < json.loads(run_cli("get", "k", "--json").stdout)["ttl"] <= 500
    assert run_cli("touch", "absent", "5").exit_code == 1


def test_values_written_by_a_python_app_are_read_raw_or_decoded(
    run_cli: RunCli, server: MemcachedServer
) -> None:
    with memlease.Client(server.address) as app:
        app.set("obj", {"a": 1})
        app.set("text", "héllo")
    raw = run_cli("get", "obj")
    assert raw.exit_code == 0
    assert "pickled" in raw.stderr
    assert "--serde pickle" in raw.stderr  # says how to decode it
    decoded = run_cli("get", "obj", "--serde", "pickle")
    assert decoded.stdout == "{'a': 1}\n"
    assert json.loads(run_cli("get", "obj", "--serde", "pickle", "--json").stdout)["repr"] == (
        "{'a': 1}"
    )
    text = json.loads(run_cli("get", "text", "--json").stdout)
    assert (text["text"], text["flags_meaning"]) == ("héllo", "text")


def test_set_with_pickle_serde_stores_text_as_a_python_app_does(
    run_cli: RunCli, server: MemcachedServer
) -> None:
    run_cli("set", "t", "héllo", "--serde", "pickle")
    with memlease.Client(server.address) as app:
        assert app.get("t") == "héllo"
    run_cli("set", "b", "bytes")  # raw: the app reads bytes
    with memlease.Client(server.address) as app:
        assert app.get("b") == b"bytes"


def test_json_of_set_delete_touch(run_cli: RunCli, server: MemcachedServer) -> None:
    stored = json.loads(run_cli("set", "k", "v", "--json", "--ttl", "9").stdout)
    assert stored == {"key": "k", "stored": True, "server": server.address, "ttl": 9}
    assert json.loads(run_cli("touch", "k", "5", "--json").stdout)["touched"] is True
    assert json.loads(run_cli("delete", "k", "--json").stdout)["deleted"] is True
    gone = run_cli("delete", "k", "--json")
    assert (gone.exit_code, json.loads(gone.stdout)["found"]) == (1, False)


def test_long_text_is_cut_on_the_terminal_but_whole_with_raw(run_cli: RunCli) -> None:
    run_cli("set", "long", "-", stdin=b"y" * 50_000)
    shown = run_cli("get", "long")
    assert len(shown.stdout) < 3000
    assert "50000 bytes; --raw writes it all" in shown.stdout
    assert run_cli("get", "long", "--raw").stdout_bytes == b"y" * 50_000


def test_values_are_printed_verbatim_and_a_stored_none_is_found(
    run_cli: RunCli, server: MemcachedServer
) -> None:
    text = "[bold]x[/bold] :smile: 1 'q'"  # rich markup, an emoji code, highlightable bits
    run_cli("set", "markup", text)
    assert run_cli("get", "markup").stdout == text + "\n"
    with memlease.Client(server.address) as app:
        app.set("none", None)
    found = run_cli("get", "none", "--serde", "pickle")
    assert (found.exit_code, found.stdout) == (0, "None\n")
