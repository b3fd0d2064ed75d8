"""The results file: the run's report under benches/results/, named by date, and its chart."""

from __future__ import annotations

import datetime
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def default_results_path(today: datetime.date | None = None) -> Path:
    """benches/results/<date>.md, or <date>-2.md, -3, ... when that one exists already: a file
    there may hold notes written by hand, which a run must not overwrite."""
    stem = (today or datetime.date.today()).isoformat()
    path = RESULTS_DIR / f"{stem}.md"
    number = 2
    while path.exists():
        path = RESULTS_DIR / f"{stem}-{number}.md"
        number += 1
    return path


def write_results(path: Path, report: str, env: dict[str, Any], chart: Path | None) -> None:
    """The report as a markdown document: what ran, on which machine, then the tables."""
    command = shlex.join(["python", "benches/bench.py", *sys.argv[1:]])
    machine = [
        f"- Machine: {env['cpus']} CPUs, {env['cpu_model']}; {env['platform']}",
        f"- Python: {env['python']}; memcached {env['memcached']}",
        f"- Commit: {env['commit']}",
        f"- Command: `{command}`",
    ]
    parts = [f"# make bench, {datetime.date.today().isoformat()}", "\n".join(machine)]
    if chart is not None:
        relative = chart.name if chart.parent == path.parent else str(chart)
        parts.append(f"![memlease ÷ best peer per scenario]({relative})")
    parts.append(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
