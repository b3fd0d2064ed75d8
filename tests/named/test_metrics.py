"""Metrics: the Prometheus collector's scraped text for a manager and a real client, and the
OpenTelemetry instruments read through the SDK's in-memory reader."""

from __future__ import annotations

import builtins
import importlib
import sys
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import memlease
from memlease import metrics
from memlease.testing import MemcachedServer


def layer(requests: int, hits: int, p50: float | None = 0.25) -> dict[str, Any]:
    return {
        "requests": requests,
        "hits": hits,
        "misses": requests - hits,
        "fills": 1,
        "errors": 0,
        "p50_ms": p50,
        "p99_ms": None if p50 is None else 4.0,
    }


class FakeManager:
    """Returns a stats dict shaped exactly like ``CacheManager.stats()``."""

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.requests = 10

    def stats(self) -> dict[str, Any]:
        return {
            "caches": {
                "users": {
                    "layers": {
                        "request": layer(self.requests, 4, None),
                        "local": layer(6, 3),
                        "memcached": layer(3, 2),
                    },
                    "fallback_calls": 1,
                    "fallback_errors": 0,
                    "shadow": {
                        "checks": 5,
                        "matches": 4,
                        "mismatches": 1,
                        "errors": 0,
                        "dropped": 2,
                        "staleness_p50_s": 1.5,
                        "staleness_max_s": 9.0,
                    },
                }
            },
            "datasets": {
                "currencies": {
                    "refreshes": 3,
                    "failures": 1,
                    "snapshot_reads": 2,
                    "entries": 40,
                    "last_refresh": 1700000000.0,
                    "last_error": "ConnectionError: down",
                }
            },
            "client": metrics.client_stats(self.client) if self.client else {},
        }


def scrape(source: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(metrics.PrometheusCollector(source))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_manager_series(server: MemcachedServer) -> None:
    with memlease.Client(server.address) as client:
        client.get_or_compute("metrics:k", lambda: 1, 10)
        series = scrape(FakeManager(client))
    cache = (("cache", "users"),)
    assert series[("memlease_cache_requests_total", (*cache, ("layer", "request")))] == 10
    assert series[("memlease_cache_hits_total", (*cache, ("layer", "memcached")))] == 2
    assert series[("memlease_cache_misses_total", (*cache, ("layer", "local")))] == 3
    latency = (*cache, ("layer", "local"), ("quantile", "0.99"))
    assert series[("memlease_cache_latency_seconds", latency)] == 0.004
    # An unknown percentile is no sample, not a zero.
    no_p50 = (*cache, ("layer", "request"), ("quantile", "0.5"))
    assert ("memlease_cache_latency_seconds", no_p50) not in series
    assert series[("memlease_cache_fallback_calls_total", cache)] == 1
    assert series[("memlease_shadow_mismatches_total", cache)] == 1
    assert series[("memlease_shadow_dropped_total", cache)] == 2
    assert series[("memlease_shadow_staleness_seconds", (*cache, ("quantile", "1")))] == 9.0
    ds = (("dataset", "currencies"),)
    assert series[("memlease_dataset_refreshes_total", ds)] == 3
    assert series[("memlease_dataset_entries", ds)] == 40
    assert series[("memlease_dataset_failing", ds)] == 1
    assert series[("memlease_dataset_last_refresh_timestamp_seconds", ds)] == 1.7e9
    address = (("server", server.address),)
    assert series[("memlease_server_up", address)] == 1
    assert series[("memlease_server_failures_total", address)] == 0
    assert series[("memlease_server_connections", (*address, ("state", "open")))] >= 1
    assert series[("memlease_read_through_total", (("outcome", "loader_calls"),))] == 1
    assert series[("memlease_write_failures_pending", ())] == 0


def test_scrapes_read_the_current_numbers() -> None:
    manager = FakeManager()
    registry = CollectorRegistry()
    registry.register(metrics.PrometheusCollector(manager))
    manager.requests = 99
    text = generate_latest(registry).decode()
    assert 'memlease_cache_requests_total{cache="users",layer="request"} 99.0' in text


def test_a_client_alone_and_a_server_marked_down() -> None:
    srv = MemcachedServer().start()
    with memlease.Client(srv.address, local_cache_size=10) as client:
        client.set("k", 1)
        srv.stop()
        with pytest.raises(memlease.MemcacheConnectionError):
            client.get("k")
        series = scrape(client)
    address = (("server", srv.address),)
    assert series[("memlease_server_up", address)] == 0
    assert series[("memlease_server_failures_total", address)] >= 1
    assert series[("memlease_server_mark_downs_total", address)] == 1
    assert ("memlease_local_cache_entries", ()) in series
    assert not any(name.startswith("memlease_cache_") for name, _ in series)


def test_otel_instruments_through_the_sdk() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    manager = FakeManager()
    metrics.register_otel(manager, provider.get_meter("test"))
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (metric.name, tuple(sorted((point.attributes or {}).items()))): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    }
    provider.shutdown()
    request = (("cache", "users"), ("layer", "request"))
    assert points[("memlease_cache_requests", request)] == 10
    assert points[("memlease_shadow_staleness_seconds", (("cache", "users"), ("quantile", "0.5")))]
    assert points[("memlease_dataset_failing", (("dataset", "currencies"),))] == 1


def test_import_works_without_the_optional_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("prometheus_client", "opentelemetry")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.delitem(sys.modules, "memlease.metrics")
    monkeypatch.setattr(memlease, "metrics", metrics)  # import_module rebinds it: undone after
    fresh = importlib.import_module("memlease.metrics")
    with pytest.raises(ImportError, match=r"memlease\[prometheus\]"):
        fresh.PrometheusCollector(FakeManager())
    with pytest.raises(ImportError, match=r"memlease\[otel\]"):
        fresh.register_otel(FakeManager())
