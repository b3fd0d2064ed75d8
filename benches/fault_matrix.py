#!/usr/bin/env python3
"""The fault matrix as a table (``make faults``): rows are faults, columns client x operation
family; each cell gives calls, errors by type, worst latency and wrong values, then any broken
invariant. The faults, the checks and the proxy live in tests/faults.py and
tests/fault_proxy.py, shared with the CI-sized tests/test_fault_matrix.py.

    .venv/bin/python benches/fault_matrix.py [--calls 12] [--faults delay,killed]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults import (  # after the path set-up above
    FAMILIES,
    FAULTS,
    FLAVORS,
    LEGEND,
    CellResult,
    LoopThread,
    run_cell,
    table,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=12, help="steps per cell during the fault")
    parser.add_argument("--faults", default="", help="comma-separated fault names (default all)")
    options = parser.parse_args()
    chosen = {name.strip() for name in options.faults.split(",") if name.strip()}
    faults = [fault for fault in FAULTS if not chosen or fault.name in chosen]

    loop = LoopThread()
    rows: dict[str, dict[tuple[str, str], CellResult]] = {}
    broken = 0
    started = time.monotonic()
    try:
        for fault in faults:
            rows[fault.name] = {}
            env = fault.open_environment()
            try:
                for flavor in FLAVORS:
                    for family in FAMILIES:
                        result = run_cell(fault, env, flavor, family, options.calls, loop)
                        rows[fault.name][flavor, family] = result
                        if not result.clean:
                            broken += 1
                            details = result.wrong + result.slow + result.untyped
                            details += result.untracked
                            print(f"# {fault.name} / {flavor} {family}: {details[:3]}")
            finally:
                env.close()
            print(f"# {fault.name}: done", file=sys.stderr, flush=True)
    finally:
        loop.stop()
    print(table(rows))
    print()
    print(LEGEND)
    print(f"{broken} cell(s) broke an invariant; {time.monotonic() - started:.0f} s")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
