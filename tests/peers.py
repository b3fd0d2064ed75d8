"""Peer libraries that are optional in a dev environment: pylibmc has no wheel beyond CPython
3.11 (building it needs libmemcached), so requirements-dev.txt installs it only below 3.12 and
the tests comparing with it are skipped, with this reason, where it is missing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

PYLIBMC_MISSING = "pylibmc is not installed (no wheel for this Python; see requirements-dev.txt)"


def _optional(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


pylibmc: Any = _optional("pylibmc")
needs_pylibmc = pytest.mark.skipif(pylibmc is None, reason=PYLIBMC_MISSING)
