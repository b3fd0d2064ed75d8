"""pymemcache 4.0.0's own integration suite, run unmodified against memlease.compat.pymemcache.

The suite is not part of this repository: each session downloads pymemcache's sdist from PyPI,
extracts ``pymemcache/test/test_integration.py`` into a temporary directory beside
``pymemcache_suite_conftest.py`` (as its conftest) and runs it with pytest in a subprocess. A
failed download fails the test: CI always has PyPI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

PYMEMCACHE_VERSION = "4.0.0"
SUITE_MEMBER = f"pymemcache-{PYMEMCACHE_VERSION}/pymemcache/test/test_integration.py"
# test name -> runs expected to fail, each a deliberate difference documented in
# memlease.compat.pymemcache: memlease encodes the keys test_errors expects refused (its first
# check, b"key with spaces"). One run per client class.
EXPECTED_FAILURES = {"test_errors": 3}
# test_tls is marked `@pytest.mark.skip` unconditionally in pymemcache's own file (its issue
# 39): it never runs, not even against pymemcache. The suite runs unmodified, so it stays
# skipped here; memlease has no TLS before issue 15, which adds its own TLS tests.
EXPECTED_SKIPS = {"test_tls": 3}
# What the suite runs against pymemcache itself (measured: 100 passed, 3 skipped).
EXPECTED_TOTAL = 103


@pytest.fixture(scope="session")
def pymemcache_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding pymemcache's test_integration.py and our conftest."""
    download = tmp_path_factory.mktemp("pymemcache-sdist")
    fetched = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
            *("--disable-pip-version-check", "-q", "-d", str(download)),
            f"pymemcache=={PYMEMCACHE_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if fetched.returncode != 0:
        pytest.fail(f"could not download the pymemcache sdist: {fetched.stderr[-2000:]}")
    (sdist,) = download.glob("pymemcache-*.tar.gz")
    suite = tmp_path_factory.mktemp("pymemcache-suite")
    with tarfile.open(sdist) as archive:
        source = archive.extractfile(SUITE_MEMBER)
        assert source is not None, f"{SUITE_MEMBER} missing from {sdist.name}"
        (suite / "test_integration.py").write_bytes(source.read())
    shutil.copy(Path(__file__).with_name("pymemcache_suite_conftest.py"), suite / "conftest.py")
    return suite


@pytest.mark.slow
def test_pymemcache_integration_suite_passes_on_compat_clients(pymemcache_suite: Path) -> None:
    report = pymemcache_suite / "report.xml"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs"),
            *(f"--junitxml={report}", "test_integration.py"),
        ],
        cwd=pymemcache_suite,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), f"the suite did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    outcomes: dict[str, Counter[str]] = {"passed": Counter(), "failed": Counter()}
    outcomes["skipped"] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.attrib["name"].split("[")[0]
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            outcomes["failed"][name] += 1
            # The one documented difference, and not another check of the same test.
            assert 'client.set(b"key with spaces"' in (failure.text or ""), failure.text
        elif case.find("skipped") is not None:
            outcomes["skipped"][name] += 1
        else:
            outcomes["passed"][name] += 1
    total = sum(sum(counter.values()) for counter in outcomes.values())
    summary = run.stdout[-4000:]
    assert dict(outcomes["failed"]) == EXPECTED_FAILURES, summary
    assert dict(outcomes["skipped"]) == EXPECTED_SKIPS, summary
    assert total == EXPECTED_TOTAL, summary
