"""Runtime control of named caches (DoorDash's idea): turn a cache off, change its TTLs or its
shadow sampling without a deploy, from a dict, a JSON or TOML file, or a callable.

The schema, and nothing else (a typo is an error, not a silently ignored key)::

    {"caches": {"<cache name>": {"enabled": true, "ttl": 300, "local_ttl": 5,
                                 "shadow_percent": 1.5}}}

Every field of a cache is optional (an absent one keeps the value the code declared). Names must
sit under ``"caches"``: a top-level ``{"users": {...}}`` is rejected, so that the file can grow
other sections later and a cache called like such a section stays unambiguous.

How reloading stays off the request path: :meth:`RuntimeConfig.settings` is a dict lookup plus
a clock read. When ``reload_interval`` has passed, the call that notices it starts a short-lived
thread that reads and validates the source; the request goes on with the settings it had. A
daemon thread started once would be simpler, but a pre-forking server (gunicorn, uWSGI) creates
the manager in the parent and forks workers, and threads do not survive ``fork``: the lazily
started reload works in every child without fork hooks, and costs nothing while nobody reads.

A bad config (unparseable, wrong types, a cache no code declared, a callable that raises) is
logged at WARNING on the ``memlease.named`` logger and the last good one is kept. Nothing in
``settings()`` raises.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, TypeAlias

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

__all__ = ["CacheOverrides", "CacheSettings", "ConfigError", "RuntimeConfig"]

log = logging.getLogger("memlease.named")

# What the config can come from: nothing, a dict, a file path, or a callable returning a dict.
ConfigSource: TypeAlias = (
    "Mapping[str, Any] | str | os.PathLike[str] | Callable[[], Mapping[str, Any]] | None"
)
# A whole validated config: cache name -> what it overrides.
Overrides: TypeAlias = "Mapping[str, CacheOverrides]"

NO_OVERRIDES: Overrides = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """A named cache's runtime settings: the code's declaration, with the config applied.

    ``enabled=False``: the fallback is called directly, memcached is neither read nor written.
    ``ttl``: seconds in memcached (0: no expiry). ``local_ttl``: seconds in the in-process layer
    (0 skips the layer). ``shadow_percent``: the share of hits (0 to 100) checked against the
    fallback off the request path.
    """

    enabled: bool = True
    ttl: int = 0
    local_ttl: float = 0.0
    shadow_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class CacheOverrides:
    """What the config says about one cache; ``None``: keep the declared value."""

    enabled: bool | None = None
    ttl: int | None = None
    local_ttl: float | None = None
    shadow_percent: float | None = None

    def apply(self, defaults: CacheSettings) -> CacheSettings:
        """`defaults` with every field this config sets replaced."""
        changes = {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        return replace(defaults, **changes) if changes else defaults


class ConfigError(ValueError):
    """The config is malformed; raised inside the loader only, logged, never to a request."""


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `ttl = true` is a mistake, not a TTL of 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_enabled(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    return value


def _check_ttl(path: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}: expected a whole number of seconds >= 0, got {value!r}")
    return value


def _check_local_ttl(path: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{path}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _check_percent(path: str, value: Any) -> float:
    if not _is_number(value) or not 0 <= value <= 100:
        raise ConfigError(f"{path}: expected a percentage from 0 to 100, got {value!r}")
    return float(value)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "enabled": _check_enabled,
    "ttl": _check_ttl,
    "local_ttl": _check_local_ttl,
    "shadow_percent": _check_percent,
}


def validate(raw: Any, known: frozenset[str] | None) -> Overrides:
    """The overrides `raw` describes, or :class:`ConfigError` naming the first problem.
    `known`: the declared cache names (``None``: any name is accepted)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the config must be a mapping, got {type(raw).__name__}")
    extra = set(raw) - {"caches"}
    if extra:
        raise ConfigError(f"unknown top-level keys {sorted(map(str, extra))}: expected 'caches'")
    caches = raw.get("caches", {})
    if not isinstance(caches, Mapping):
        raise ConfigError(f"caches: expected a mapping, got {type(caches).__name__}")
    result: dict[str, CacheOverrides] = {}
    for name, entry in caches.items():
        path = f"caches.{name}"
        if not isinstance(name, str):
            raise ConfigError(f"{path}: a cache name must be a string")
        if known is not None and name not in known:
            raise ConfigError(f"{path}: no cache of that name is declared")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(entry).__name__}")
        unknown = set(entry) - set(_CHECKS)
        if unknown:
            raise ConfigError(f"{path}: unknown settings {sorted(map(str, unknown))}")
        values = {field: _CHECKS[field](f"{path}.{field}", v) for field, v in entry.items()}
        result[name] = CacheOverrides(**values)
    return MappingProxyType(result)


def read_file(path: str | os.PathLike[str]) -> Any:
    """A file's parsed content: TOML for ``*.toml``, JSON otherwise."""
    if os.fspath(path).endswith(".toml"):
        if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
            raise ConfigError("reading TOML on Python 3.10 needs the 'tomli' package")
        with open(path, "rb") as file:
            return tomllib.load(file)
    with open(path, encoding="utf-8") as file:
        return json.load(file)


Listener = Callable[[Overrides], object]


class RuntimeConfig:
    """Per-cache settings from `source`, re-read at most every `reload_interval` seconds.

    `source`: ``None`` (no overrides), a mapping (re-validated on each reload, so a dict the
    application mutates is followed), a path to a ``.json`` or ``.toml`` file, or a callable
    returning a mapping. `known`: returns the declared cache names; a config naming another
    cache is rejected. Caches declared after a config was rejected for naming them are accepted
    from the next reload on.

    The source is first read on the first :meth:`settings` call (or :meth:`reload_now`), not
    here, so the caches a config names can be declared after the manager is created.
    """

    def __init__(
        self,
        source: ConfigSource,
        *,
        reload_interval: float = 10.0,
        known: Callable[[], set[str] | frozenset[str]] | None = None,
    ) -> None:
        if not _is_number(reload_interval) or not reload_interval > 0:
            raise ValueError(f"reload_interval must be a number > 0, got {reload_interval!r}")
        self._source = source
        self._interval = float(reload_interval)
        self._known = known
        # The config in force and its memo of merged settings ((name, defaults) -> settings),
        # swapped as one tuple on every change: lookups never mix two configs and need no lock.
        self._state: tuple[Overrides, dict[tuple[str, CacheSettings], CacheSettings]] = (
            NO_OVERRIDES,
            {},
        )
        self._listeners: list[Listener] = []
        self._reloading = threading.Lock()  # held by whoever reads the source right now
        self._reloader: threading.Thread | None = None
        self._loaded = False
        self._closed = False
        # 0.0: the first settings() call loads (synchronously: there is nothing to serve yet).
        self._due = 0.0 if source is not None else math.inf
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None

    @property
    def overrides(self) -> Overrides:
        """The config in force: cache name -> its overrides."""
        return self._state[0]

    def settings(self, name: str, defaults: CacheSettings) -> CacheSettings:
        """`name`'s settings: `defaults` (the declaration) with the config in force applied.
        Cheap: a dict lookup and a clock read; never raises, never reads the source itself
        except once, on the very first call."""
        if time.monotonic() >= self._due:
            self._reload_soon()
        overrides, memo = self._state
        merged = memo.get((name, defaults))
        if merged is None:
            override = overrides.get(name)
            merged = override.apply(defaults) if override is not None else defaults
            memo[(name, defaults)] = merged
        return merged

    def on_change(self, callback: Listener) -> None:
        """Call ``callback(overrides)`` after each reload that changed the config (on the
        reloading thread). Exceptions from it are logged and ignored."""
        self._listeners.append(callback)

    def reload_now(self) -> bool:
        """Read the source now, on this thread; whether the new config was accepted."""
        with self._reloading:
            return self._reload()

    def close(self) -> None:
        """Stop reloading; wait for a reload in progress."""
        self._closed = True
        self._due = math.inf
        reloader = self._reloader
        if reloader is not None and reloader is not threading.current_thread():
            reloader.join()

    def _reload_soon(self) -> None:
        if not self._reloading.acquire(blocking=False):
            return  # someone is reading it already
        if self._closed or time.monotonic() < self._due:
            self._reloading.release()
            return
        self._due = time.monotonic() + self._interval
        if not self._loaded:
            try:
                self._reload()
            finally:
                self._reloading.release()
            return
        thread = threading.Thread(target=self._reload_and_release, name="memlease-config")
        thread.daemon = True
        self._reloader = thread
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: keep what we have
            self._reloading.release()

    def _reload_and_release(self) -> None:
        try:
            self._reload()
        finally:
            self._reloading.release()

    def _reload(self) -> bool:
        """Read, validate and install the source's config (the caller holds `_reloading`)."""
        self._loaded = True
        self._due = time.monotonic() + self._interval if self._source is not None else math.inf
        try:
            new = validate(self._read(), self._known_names())
        except Exception as error:
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning(
                "memlease config %s rejected, keeping the last good one: %s",
                self._describe(),
                self.last_error,
            )
            return False
        self.reloads += 1
        self.last_error = None
        if new == self._state[0]:
            return True
        self._state = (new, {})
        for listener in list(self._listeners):
            try:
                listener(new)
            except Exception:
                log.exception("memlease config listener %r failed", listener)
        return True

    def _read(self) -> Any:
        source = self._source
        if source is None:
            return {}
        if isinstance(source, Mapping):
            return source
        if isinstance(source, (str, os.PathLike)):
            return read_file(source)
        return source()

    def _known_names(self) -> frozenset[str] | None:
        return frozenset(self._known()) if self._known is not None else None

    def _describe(self) -> str:
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            return repr(os.fspath(source))
        return "from a dict" if isinstance(source, Mapping) else f"from {source!r}"
