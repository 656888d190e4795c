"""Shared fixtures: the real media folder and small generated clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.real import REAL, ROOT, real_folder  # noqa: F401 - REAL and ROOT are used by tests


@pytest.fixture(scope="session")
def real() -> Path:
    """Folder of real media from public talking-head repositories (read-only)."""
    return real_folder()


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")
