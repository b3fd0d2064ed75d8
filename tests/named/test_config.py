"""Runtime control: sources, validation, keeping the last good config, reloads off the
request path, listeners."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memlease.named._config import CacheOverrides, CacheSettings, RuntimeConfig

DECLARED = CacheSettings(enabled=True, ttl=60, local_ttl=2.0, shadow_percent=0.0)


def test_no_source_gives_the_declared_settings() -> None:
    config = RuntimeConfig(None)
    assert config.settings("users", DECLARED) is DECLARED


def test_a_dict_overrides_only_the_fields_it_names() -> None:
    config = RuntimeConfig({"caches": {"users": {"ttl": 5, "shadow_percent": 12.5}}})
    assert config.settings("users", DECLARED) == CacheSettings(True, 5, 2.0, 12.5)
    assert config.settings("orders", DECLARED) is DECLARED


def test_a_callable_source_is_called_on_reload() -> None:
    calls: list[int] = []

    def source() -> dict[str, Any]:
        calls.append(1)
        return {"caches": {"users": {"enabled": len(calls) == 1}}}

    config = RuntimeConfig(source)
    assert config.settings("users", DECLARED).enabled is True
    assert config.reload_now()
    assert config.settings("users", DECLARED).enabled is False


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "caches.toml"
    path.write_text("[caches.users]\nenabled = false\nlocal_ttl = 0\n")
    config = RuntimeConfig(path)
    assert config.settings("users", DECLARED) == CacheSettings(False, 60, 0.0, 0.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"caches": {"users": {"ttl": "5"}}},
        {"caches": {"users": {"ttl": -1}}},
        {"caches": {"users": {"ttl": True}}},
        {"caches": {"users": {"enabled": 1}}},
        {"caches": {"users": {"local_ttl": float("nan")}}},
        {"caches": {"users": {"shadow_percent": 101}}},
        {"caches": {"users": {"tll": 5}}},
        {"caches": {"nobody": {"ttl": 5}}},
        {"caches": ["users"]},
        {"users": {"ttl": 5}},
        ["caches"],
    ],
)
def test_a_bad_config_is_logged_and_the_last_good_one_kept(
    bad: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"caches": {"users": {"ttl": 7}}}
    current: list[Any] = [good]
    config = RuntimeConfig(lambda: current[0], known=lambda: {"users", "orders"})
    assert config.settings("users", DECLARED).ttl == 7
    current[0] = bad
    with caplog.at_level(logging.WARNING, logger="memlease.named"):
        assert not config.reload_now()
    assert config.settings("users", DECLARED).ttl == 7
    assert config.failures == 1 and config.last_error
    [record] = [r for r in caplog.records if r.name == "memlease.named"]
    assert record.levelno == logging.WARNING and "rejected" in record.getMessage()


def test_a_raising_source_never_reaches_settings(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise OSError("config service down")

    config = RuntimeConfig(broken)
    with caplog.at_level(logging.WARNING, logger="memlease.named"):
        assert config.settings("users", DECLARED) is DECLARED
    assert "config service down" in caplog.text


def test_file_changed_mid_test_is_picked_up_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "caches.json"
    path.write_text(json.dumps({"caches": {"users": {"enabled": True}}}))
    changes: list[Any] = []
    config = RuntimeConfig(str(path), reload_interval=0.2)
    config.on_change(changes.append)
    assert config.settings("users", DECLARED).enabled is True
    path.write_text(json.dumps({"caches": {"users": {"enabled": False, "ttl": 3}}}))
    deadline = time.monotonic() + 5
    while config.settings("users", DECLARED).enabled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert config.settings("users", DECLARED) == CacheSettings(False, 3, 2.0, 0.0)
    assert changes[-1]["users"] == CacheOverrides(enabled=False, ttl=3)
    # A half-written (unparseable) file keeps the last good config.
    path.write_text("{not json")
    time.sleep(0.25)
    config.settings("users", DECLARED)
    config.close()
    assert config.settings("users", DECLARED).ttl == 3
    assert config.failures >= 1


def test_reload_runs_off_the_calling_thread() -> None:
    """A slow source does not hold up settings(): the due call starts a reload thread."""
    release = threading.Event()
    readers: list[str] = []

    def slow() -> dict[str, Any]:
        readers.append(threading.current_thread().name)
        if len(readers) > 1:
            release.wait(5)
        return {"caches": {"users": {"ttl": len(readers)}}}

    config = RuntimeConfig(slow, reload_interval=0.05)
    assert config.settings("users", DECLARED).ttl == 1  # the first load: synchronous
    time.sleep(0.06)
    started = time.monotonic()
    for _ in range(100):
        assert config.settings("users", DECLARED).ttl == 1
    assert time.monotonic() - started < 4  # not blocked on the 5 s source
    release.set()
    config.close()
    assert readers[1] == "memlease-config"
    assert config.settings("users", DECLARED).ttl == 2


def test_a_failing_listener_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    current: list[dict[str, Any]] = [{"caches": {}}]
    config = RuntimeConfig(lambda: current[0])
    config.settings("users", DECLARED)

    def listener(_: Any) -> None:
        raise RuntimeError("boom")

    config.on_change(listener)
    current[0] = {"caches": {"users": {"ttl": 1}}}
    with caplog.at_level(logging.ERROR, logger="memlease.named"):
        assert config.reload_now()
    assert "listener" in caplog.text
    assert config.settings("users", DECLARED).ttl == 1
