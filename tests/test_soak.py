"""The CI-sized soak run (issue 15): benches/soak.py for 60 s of faults. Throughput is
reported, not enforced (a shared CI machine is noisy); `make soak` enforces it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benches" / "soak.py"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_soak_under_kills_and_freezes(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak  # dataclasses look their module up while the file executes
    spec.loader.exec_module(soak)
    report, failures = soak.soak(soak.Options(seconds=60.0, baseline=10.0))
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert failures == []
