"""bench: small runs in both modes; the summary adds up."""

from __future__ import annotations

import json

import pytest

from memlease.cli.bench import percentile
from tests.cli.conftest import RunCli


@pytest.mark.parametrize("mode", ["threads", "asyncio"])
def test_bench_small_run_json(run_cli: RunCli, mode: str) -> None:
    args = ["bench", "--ops", "300", "--value-size", "32", "--get-ratio", "0.5", "--keys", "20"]
    result = run_cli(*args, "-c", "3", "--mode", mode, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ops"] == 300
    assert summary["errors"] == 0
    assert summary["workers"] == 3
    assert summary["get_hits"] + summary["get_misses"] > 0
    assert summary["get_misses"] == 0  # the keys are written before the run
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["ops_per_second"] > 0


def test_bench_table_and_progress(run_cli: RunCli) -> None:
    result = run_cli("bench", "--ops", "50", "--get-ratio", "1")
    assert result.exit_code == 0, result.output
    for label in ("ops/s", "p50", "p99", "errors"):
        assert label in result.stdout
    assert "50/50" in result.stderr  # the progress bar's final state


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.99) == 3.0
