"""MkDocs hook: pages kept outside docs/ are published from where they live, so the site never
holds a stale copy: the benchmark results (`make bench` writes benches/results/<date>.md and its
.svg chart) under bench-results/, and ARCHITECTURE.md as architecture.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benches" / "results"


def on_files(files: Files, config: Any) -> Files:
    for result in sorted(RESULTS.glob("*.svg")) + sorted(RESULTS.glob("*.md")):
        files.append(
            File.generated(config, f"bench-results/{result.name}", abs_src_path=str(result))
        )
    files.append(
        File.generated(config, "architecture.md", abs_src_path=str(ROOT / "ARCHITECTURE.md"))
    )
    return files
