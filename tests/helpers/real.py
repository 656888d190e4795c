"""Where the real media live, and what happens when they are missing.

``AVALIGN_REAL_DATA`` names the folder (default ``../shared/data/real`` beside
the repository). A test that needs it skips with one line naming the variable;
under CI (``CI`` set to anything but ``false``/``0``) a missing folder fails
the test instead, so that CI can never pass by skipping the real-media tests.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL = Path(os.environ.get("AVALIGN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (GitHub Actions, GitLab, ... set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: Path):
    """Skip (or, under CI, fail) the current test because the real media ``what`` is missing."""
    import pytest

    msg = (f"real media {what} is missing: set AVALIGN_REAL_DATA to the folder of real clips "
           f"(default {ROOT.parent / 'shared' / 'data' / 'real'})")
    if in_ci():
        pytest.fail(msg + " -- CI must run the real-media tests", pytrace=False)
    pytest.skip(msg)


def real_folder() -> Path:
    """The real media folder, or skip/fail via :func:`missing`."""
    if not REAL.is_dir():
        missing(REAL)
    return REAL


def real_file(name: str) -> Path:
    """One file of the real media folder, or skip/fail via :func:`missing`."""
    path = real_folder() / name
    if not path.is_file():
        missing(path)
    return path
