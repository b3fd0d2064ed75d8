"""Metrics for Prometheus and OpenTelemetry: per named cache and layer, per dataset, and the
client's per-server health and operation counters.

Both exporters read the same numbers, taken from a *source*: a ``CacheManager`` (its
``stats()``) or a bare ``Client`` / ``AsyncClient`` (:func:`client_stats`). Nothing is counted
twice: the exporters read the counters the library already keeps, when scraped.

- :class:`PrometheusCollector`: a ``prometheus_client`` custom collector, registered by the
  application (``REGISTRY.register(PrometheusCollector(manager))``). Needs the ``prometheus``
  extra (``pip install 'memlease[prometheus]'``).
- :func:`register_otel`: observable instruments on an OpenTelemetry meter. Needs the ``otel``
  extra (``opentelemetry-api``).

``import memlease.metrics`` works without either package; using an exporter without its
package raises ``ImportError`` naming the extra.

Series (Prometheus adds ``_total`` to counters)::

    memlease_cache_requests / _hits / _misses / _fills / _errors   {cache, layer}   counters
    memlease_cache_latency_seconds                 {cache, layer, quantile=0.5|0.99} gauge
    memlease_cache_fallback_calls / _fallback_errors              {cache}           counters
    memlease_shadow_checks / _matches / _mismatches / _errors / _dropped {cache}    counters
    memlease_shadow_staleness_seconds              {cache, quantile=0.5|1}          gauge
    memlease_dataset_refreshes / _failures / _snapshot_reads      {dataset}         counters
    memlease_dataset_entries, memlease_dataset_last_refresh_timestamp_seconds,
    memlease_dataset_failing (1 while the last refresh failed)    {dataset}         gauges
    memlease_server_up                                            {server}          gauge
    memlease_server_failures / _mark_downs / _rejoins / _refused  {server}          counters
    memlease_server_connections                    {server, state=open|idle|...}    gauge
    memlease_read_through                          {outcome=hits|misses|...}        counter
    memlease_local_cache                           {outcome=hits|misses|...}        counter
    memlease_local_cache_entries                                                    gauge
    memlease_write_failures_pending                                                 gauge
    memlease_write_failures                        {outcome=recorded|replayed|...}  counter
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FAMILIES", "Family", "PrometheusCollector", "client_stats", "observe", "register_otel"]

Labels = dict[str, str]
Samples = dict[str, list[tuple[Labels, float]]]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its name (counters without ``_total``), kind, label names, unit, help."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    unit: str
    doc: str


Kind = Literal["counter", "gauge"]


def _family(name: str, kind: Kind, labels: str, unit: str, doc: str) -> Family:
    return Family(name, kind, tuple(labels.split()), unit, doc)


_LAYER_COUNTS = ("requests", "hits", "misses", "fills", "errors")
_SHADOW_COUNTS = ("checks", "matches", "mismatches", "errors", "dropped")
_DATASET_COUNTS = ("refreshes", "failures", "snapshot_reads")
_SERVER_COUNTS = ("failures", "mark_downs", "rejoins", "refused")

# name, kind, labels, unit, help: the families besides the per-count ones generated below.
_TABLE: tuple[tuple[str, Kind, str, str, str], ...] = (
    ("memlease_cache_latency_seconds", "gauge", "cache layer quantile", "s", "Read latency"),
    ("memlease_cache_fallback_calls", "counter", "cache", "1", "Fallback calls"),
    ("memlease_cache_fallback_errors", "counter", "cache", "1", "Fallbacks that raised"),
    ("memlease_shadow_staleness_seconds", "gauge", "cache quantile", "s", "Age checked (1: max)"),
    ("memlease_dataset_entries", "gauge", "dataset", "1", "Entries in a dataset"),
    ("memlease_dataset_last_refresh_timestamp_seconds", "gauge", "dataset", "s", "Copy loaded at"),
    ("memlease_dataset_failing", "gauge", "dataset", "1", "1 while the last refresh failed"),
    ("memlease_server_up", "gauge", "server", "1", "1 unless the server is marked down"),
    ("memlease_server_connections", "gauge", "server state", "1", "Connections, by state"),
    ("memlease_read_through", "counter", "outcome", "1", "Read-through outcomes"),
    ("memlease_local_cache", "counter", "outcome", "1", "Client-side hot-key cache"),
    ("memlease_local_cache_entries", "gauge", "", "1", "Entries in the hot-key cache"),
    ("memlease_write_failures_pending", "gauge", "", "1", "Invalidations awaiting replay"),
    ("memlease_write_failures", "counter", "outcome", "1", "Failed invalidations"),
)
# prefix, labels, counts: one counter family per count.
_COUNTED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("memlease_cache", "cache layer", _LAYER_COUNTS),
    ("memlease_shadow", "cache", _SHADOW_COUNTS),
    ("memlease_dataset", "dataset", _DATASET_COUNTS),
    ("memlease_server", "server", _SERVER_COUNTS),
)

FAMILIES: tuple[Family, ...] = (
    *(
        _family(f"{prefix}_{n}", "counter", labels, "1", f"{prefix.split('_')[1]} {n}")
        for prefix, labels, counts in _COUNTED
        for n in counts
    ),
    *(_family(*row) for row in _TABLE),
)


def client_stats(client: Any) -> dict[str, Any]:
    """A client's own numbers, no network I/O: what a ``CacheManager`` puts under
    ``stats()["client"]``::

        {"servers": {address: {**client.health(), **client.pool_stats()[address]}},
         "read_through": client.read_through_stats(),
         "local_cache": client.local_cache_stats(),   # None when the hot-key cache is off
         "ledger": client.ledger_stats(),
         "write_failures": client.write_failures.stats()}
    """
    pools = client.pool_stats()
    return {
        "servers": {
            server: {**health, **pools.get(server, {})}
            for server, health in client.health().items()
        },
        "read_through": client.read_through_stats(),
        "local_cache": client.local_cache_stats(),
        "ledger": client.ledger_stats(),
        "write_failures": client.write_failures.stats(),
    }


def source_stats(source: Any) -> dict[str, Any]:
    """The stats dict of a manager (``source.stats()``) or a client (wrapped as a manager's
    ``"client"`` part). Clients are told apart by type: their ``stats()`` asks the servers."""
    from memlease._client import AsyncClient, Client

    if isinstance(source, (Client, AsyncClient)):
        return {"client": client_stats(source)}
    stats: dict[str, Any] = source.stats()
    return stats


def _seconds(ms: Any) -> float | None:
    return None if ms is None else float(ms) / 1000.0


def observe(stats: Mapping[str, Any]) -> Samples:
    """Every family's samples from a manager-shaped stats dict (absent parts are skipped)."""
    out: Samples = {f.name: [] for f in FAMILIES}

    def put(name: str, labels: Labels, value: Any) -> None:
        if value is not None:
            out[name].append((labels, float(value)))

    for cache, c in stats.get("caches", {}).items():
        for layer, counts in c.get("layers", {}).items():
            labels = {"cache": cache, "layer": layer}
            for n in _LAYER_COUNTS:
                put(f"memlease_cache_{n}", labels, counts.get(n))
            for quantile, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
                put(
                    "memlease_cache_latency_seconds",
                    {**labels, "quantile": quantile},
                    _seconds(counts.get(key)),
                )
        put("memlease_cache_fallback_calls", {"cache": cache}, c.get("fallback_calls"))
        put("memlease_cache_fallback_errors", {"cache": cache}, c.get("fallback_errors"))
        shadow = c.get("shadow") or {}
        for n in _SHADOW_COUNTS:
            put(f"memlease_shadow_{n}", {"cache": cache}, shadow.get(n))
        for quantile, key in (("0.5", "staleness_p50_s"), ("1", "staleness_max_s")):
            staleness = {"cache": cache, "quantile": quantile}
            put("memlease_shadow_staleness_seconds", staleness, shadow.get(key))
    for name, d in stats.get("datasets", {}).items():
        labels = {"dataset": name}
        for n in _DATASET_COUNTS:
            put(f"memlease_dataset_{n}", labels, d.get(n))
        put("memlease_dataset_entries", labels, d.get("entries"))
        put("memlease_dataset_last_refresh_timestamp_seconds", labels, d.get("last_refresh"))
        put("memlease_dataset_failing", labels, d.get("last_error") is not None)
    _observe_client(stats.get("client") or {}, put)
    return out


def _observe_client(client: Mapping[str, Any], put: Callable[[str, Labels, Any], None]) -> None:
    for server, s in client.get("servers", {}).items():
        labels = {"server": server}
        put("memlease_server_up", labels, not s.get("down", False))
        for n in _SERVER_COUNTS:
            put(f"memlease_server_{n}", labels, s.get(n))
        for state in ("open", "idle", "multiplexed", "queued"):
            put("memlease_server_connections", {**labels, "state": state}, s.get(state))
    for outcome, value in (client.get("read_through") or {}).items():
        put("memlease_read_through", {"outcome": outcome}, value)
    local = client.get("local_cache") or {}
    for outcome, value in local.items():
        if outcome != "size":
            put("memlease_local_cache", {"outcome": outcome}, value)
    put("memlease_local_cache_entries", {}, local.get("size"))
    failures = client.get("write_failures") or {}
    put("memlease_write_failures_pending", {}, failures.get("pending"))
    for outcome, value in failures.items():
        if outcome != "pending":
            put("memlease_write_failures", {"outcome": outcome}, value)


def _missing(extra: str, package: str) -> ImportError:
    return ImportError(f"this needs the {package!r} package: pip install 'memlease[{extra}]'")


class PrometheusCollector:
    """A ``prometheus_client`` collector of a manager's or a client's metrics; register it
    with ``prometheus_client.REGISTRY.register(PrometheusCollector(manager))``."""

    def __init__(self, source: Any) -> None:
        try:
            from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        except ImportError as error:
            raise _missing("prometheus", "prometheus_client") from error
        self._source = source
        self._kinds = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}

    def describe(self) -> Iterator[Any]:
        """The families, without samples: registering reads no stats."""
        for family in FAMILIES:
            yield self._kinds[family.kind](family.name, family.doc, labels=family.labels)

    def collect(self) -> Iterator[Any]:
        samples = observe(source_stats(self._source))
        for family in FAMILIES:
            metric = self._kinds[family.kind](family.name, family.doc, labels=family.labels)
            for labels, value in samples[family.name]:
                metric.add_metric([labels[name] for name in family.labels], value)
            yield metric


class _SharedSnapshot:
    """One stats read per collection: OpenTelemetry calls each instrument's callback in turn,
    and each would otherwise ask the manager again."""

    def __init__(self, source: Any, max_age: float = 1.0) -> None:
        self._source = source
        self._max_age = max_age
        self._lock = threading.Lock()
        self._taken = -float("inf")
        self._samples: Samples = {}

    def samples(self, name: str) -> list[tuple[Labels, float]]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > self._max_age:
                self._samples = observe(source_stats(self._source))
                self._taken = now
            return self._samples.get(name, [])


def register_otel(source: Any, meter: Any = None) -> list[Any]:
    """Create observable instruments for every family on `meter` (default: the global meter
    provider's ``"memlease"`` meter); their callbacks read `source` when the SDK collects.
    Returns the instruments."""
    try:
        from opentelemetry import metrics
    except ImportError as error:
        raise _missing("otel", "opentelemetry-api") from error
    if meter is None:
        meter = metrics.get_meter("memlease")
    snapshot = _SharedSnapshot(source)
    instruments = []
    for family in FAMILIES:
        create = (
            meter.create_observable_counter
            if family.kind == "counter"
            else meter.create_observable_gauge
        )
        instruments.append(
            create(
                family.name,
                callbacks=[_callback(snapshot, family.name, metrics.Observation)],
                unit=family.unit,
                description=family.doc,
            )
        )
    return instruments


def _callback(
    snapshot: _SharedSnapshot, name: str, observation: Callable[..., Any]
) -> Callable[[Any], Iterable[Any]]:
    def observe_family(_options: Any) -> Iterable[Any]:
        return [observation(value, labels) for labels, value in snapshot.samples(name)]

    return observe_family
