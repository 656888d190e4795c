"""How many threads this process may use for one long job (spectrogram blocks, FLAC decoding, window gathers)."""

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


def run_parts(fn, total: int, *, min_part: int = 1, threads: int | None = None) -> None:
    """Call ``fn(start, stop)`` on contiguous parts of ``range(total)``, one thread per part.

    At most ``threads`` parts (default :func:`compute_threads`), each at least
    ``min_part`` long; a single part runs in this thread (a pool costs ~0.1 ms).
    ``fn`` must release the GIL for the parts to overlap (numpy copies, FFTs do).
    """
    n = max(1, min(threads or compute_threads(), total // max(int(min_part), 1)))
    if n == 1:
        fn(0, total)
        return
    from concurrent.futures import ThreadPoolExecutor

    edges = [total * k // n for k in range(n + 1)]
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(fn, edges[:-1], edges[1:]))
