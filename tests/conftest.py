"""Shared setup of the test suite.

Makes the repository root and tests/ importable however pytest is started (the
packages are also installed in editable mode by scripts/setup.sh), and offers
the checked-in golden blob as fixtures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"

for path in (str(ROOT), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def golden_path() -> Path:
    """tests/data/golden.mbnn: int8 input 20-37-33-5, layers 0 and 2 learn."""
    return DATA / "golden.mbnn"


@pytest.fixture(scope="session")
def golden_blob(golden_path: Path) -> bytes:
    """The bytes of tests/data/golden.mbnn."""
    return golden_path.read_bytes()
