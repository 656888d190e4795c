"""Timing for the benchmarks: whole processes (one command under ``/usr/bin/time -v``) and functions in process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def time_v(cmd: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """``(wall s, user+sys CPU s, peak RSS MiB)`` of ``cmd`` run to completion (it must succeed).

    The CPU figure is the command's plus that of the children it waited for; the peak RSS (GNU time's maximum
    resident set size) is the largest of any one of those processes, the command or a child it waited for.
    """
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})})
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-500:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+(?:\.\d+)?)", p.stderr)
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", p.stderr).group(1)) for k in ("User", "System"))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return 60 * int(wall.group(1) or 0) + float(wall.group(2)), cpu, rss


def python(code: str) -> list[str]:
    """A command running ``code`` in this interpreter."""
    return [sys.executable, "-c", code]


def best_of(runs: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float, float]]:
    """name -> the element-wise min of ``repeat`` :func:`time_v` runs, the commands alternating."""
    best = {k: (float("inf"),) * 3 for k in runs}
    for _ in range(repeat):
        for k, cmd in runs.items():
            best[k] = tuple(min(a, b) for a, b in zip(best[k], time_v(cmd)))
    return best


def line(name: str, fig: tuple[float, float, float], ref: tuple[float, float, float] | None = None) -> str:
    """One printed row: wall, CPU, peak RSS, and the wall ratio ``ref / fig`` when given."""
    text = f"{name:34s} wall {fig[0]:6.2f} s  CPU {fig[1]:6.2f} s  peak RSS {fig[2]:6.0f} MiB"
    return text + (f"  ratio {ref[0] / fig[0]:.2f}x (CPU {ref[1] / fig[1]:.2f}x)" if ref else "")


def best_in_process(fns: dict, repeat: int, catch: tuple = ()) -> dict[str, tuple]:
    """name -> ``(min wall s, min CPU s, last output)`` of ``repeat`` calls, the functions alternating.

    A function raising one of ``catch`` is ``(None, None, "Type: message")`` and is not called again.
    """
    best = {k: (float("inf"), float("inf"), None) for k in fns}
    failed = set()
    for _ in range(repeat):
        for k, fn in fns.items():
            if k in failed:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                y = fn()
            except catch as exc:
                best[k] = (None, None, f"{type(exc).__name__}: {str(exc)[:80]}")
                failed.add(k)
                continue
            w, c = time.perf_counter() - t0, time.process_time() - c0
            best[k] = (min(best[k][0], w), min(best[k][1], c), y)
    return best
