"""How many threads this process may use for one long job (spectrogram blocks, FLAC decoding)."""

from __future__ import annotations

import os


def compute_threads() -> int:
    """``OMP_NUM_THREADS`` when set (batch workers set it to their share), else the usable cores."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
