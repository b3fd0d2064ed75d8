"""Django's own cache tests (``tests/cache/`` of its source distribution), fetched once.

They are not vendored: the pinned release's sdist is downloaded from PyPI with pip, checked
against its SHA-256, and its ``tests/cache`` package is unpacked under ``.cache/`` (gitignored),
where later runs find it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import django

# The release requirements-dev.txt pins, and its sdist's checksum (PyPI's sha256 digest).
DJANGO_VERSION = "5.2.19"
SDIST_SHA256 = "ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1"

PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / f"django-{DJANGO_VERSION}-tests"


def django_tests_dir() -> Path:
    """The directory holding Django's ``cache`` test package, downloaded if not there yet."""
    if django.__version__ != DJANGO_VERSION:
        raise RuntimeError(
            f"Django {django.__version__} is installed; the cache suite is pinned to"
            f" {DJANGO_VERSION} (pip install -r requirements-dev.txt)"
        )
    if not (CACHE_DIR / "cache" / "tests.py").exists():
        _unpack(_download())
    return CACHE_DIR


def _download() -> Path:
    into = Path(tempfile.mkdtemp(prefix="memlease-django-sdist-"))
    subprocess.run(
        [*PIP_DOWNLOAD, "-d", str(into), f"Django=={DJANGO_VERSION}"],
        check=True,
    )
    (sdist,) = into.glob("*.tar.gz")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{sdist.name}: sha256 {digest}, expected {SDIST_SHA256}")
    return sdist


def _unpack(sdist: Path) -> None:
    """Extract ``tests/cache/`` only, into a temporary directory renamed into place (a run
    interrupted midway leaves nothing half-written behind)."""
    prefix = f"{sdist.name.removesuffix('.tar.gz')}/tests/"
    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="memlease-django-tests-", dir=CACHE_DIR.parent))
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix + "cache/")]
        for member in members:
            member.name = member.name.removeprefix(prefix)
        archive.extractall(staging, members=members, filter="data")
    staging.rename(CACHE_DIR)
