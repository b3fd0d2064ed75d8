"""The fault matrix, CI-sized: every fault x client x operation family for a couple of steps,
asserting the invariants tests/faults.py checks (no wrong value, bounded typed errors,
recovery, failed invalidations tracked and replayed). ``make faults`` runs it longer and prints
the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import (
    FAMILIES,
    FAULTS,
    FLAVORS,
    Environment,
    Family,
    Fault,
    LoopThread,
    run_cell,
)

CALLS = 1  # steps during the fault; recovery adds more (keeps the module near 45 s)


@pytest.fixture(scope="module")
def fault_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def environments() -> Iterator[dict[str, Environment]]:
    """One memcached (and proxy) per fault, shared by its cells, made on first use."""
    made: dict[str, Environment] = {}
    yield made
    for env in made.values():
        env.close()


def _environment(fault: Fault, environments: dict[str, Environment]) -> Environment:
    if fault.name not in environments:
        environments[fault.name] = fault.open_environment()
    return environments[fault.name]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name.replace(" ", "-"))
def test_fault_cell(
    fault: Fault,
    flavor: str,
    family: str,
    environments: dict[str, Environment],
    fault_loop: LoopThread,
) -> None:
    env = _environment(fault, environments)
    result = run_cell(fault, env, flavor, family, CALLS, fault_loop)
    assert result.wrong == []
    assert result.untyped == []
    assert result.slow == []
    assert result.recovered, f"no recovery; errors {dict(result.errors)}"
    assert result.untracked == []
    assert result.unreplayed == 0
    # The cell exercised the client: something was called while the fault lasted.
    assert result.calls > 2


def test_the_read_check_catches_another_keys_value_and_an_outdated_one() -> None:
    """The matrix's own check, so a cell cannot pass for want of it."""
    ops = Family("plain", driver=None, env=None, prefix="t")  # type: ignore[arg-type]
    ops.wrote("t:a", "t:a|1|", acknowledged=True)
    ops.wrote("t:a", "t:a|2|", acknowledged=False)
    for right in (None, "t:a|1|", "t:a|2|"):
        ops.check_read("t:a", right)
    assert ops.result.wrong == []
    ops.wrote("t:a", "t:a|3|", acknowledged=True)
    ops.check_read("t:a", "t:a|1|")
    ops.check_read("t:a", "t:b|3|")
    assert ops.result.wrong == [
        "t:a: an outdated value 't:a|1|'",
        "t:a: another key's value 't:b|3|'",
    ]
    assert not ops.result.clean
