"""Shared fixtures: the real media folder and small generated clips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("AVALIGN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real() -> Path:
    """Folder of real media from public talking-head repositories (read-only)."""
    if not REAL.is_dir():
        pytest.skip(f"real media folder {REAL} is missing (set AVALIGN_REAL_DATA)")
    return REAL


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")
