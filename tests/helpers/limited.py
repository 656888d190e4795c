"""Run `avalign` command lines in one child process, optionally under an address-space limit, and measure its
peak memory.

Each command runs through :func:`avalign.cli.main` in turn (one interpreter start for many cases), with its
own environment additions, its stdout and stderr captured. The child's ``RLIMIT_AS`` makes an allocation of
gigabytes fail (a MemoryError is an internal error, exit 1), and its peak resident memory comes back, so a
test sees exit code, message and memory of every case. An optional per-case alarm turns a hang in Python
into ``rc == "hang"``; an exception escaping ``main`` is ``rc == "crash"`` with its traceback on stderr; the
whole run has a timeout (a hang in C code that no alarm interrupts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: The child's address-space limit: numpy, PyAV and torch load within it; gigabytes of arrays do not.
ADDRESS_SPACE = 4_000_000_000

_DRIVER = r"""
import contextlib, io, json, os, resource, signal, sys, traceback
cases_file, results_file, limit, alarm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from avalign.cli import main

class Hang(BaseException):
    pass

def on_alarm(*_):
    raise Hang()

signal.signal(signal.SIGALRM, on_alarm)
with open(cases_file) as fh, open(results_file, "w") as res:
    for case in json.load(fh):
        saved = dict(os.environ)
        os.environ.update(case["env"])
        out, err = io.StringIO(), io.StringIO()
        signal.alarm(alarm)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = main(case["argv"])
                except SystemExit as exc:  # argparse; the exit status a process would have
                    rc = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        except Hang:
            rc = "hang"
        except BaseException:
            rc = "crash"
            err.write(traceback.format_exc())
        finally:
            signal.alarm(0)
            os.environ.clear()
            os.environ.update(saved)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:  # this process's own high-water mark: ru_maxrss also counts the parent's image it was forked from
            with open("/proc/self/status") as fh:
                peak = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM:"))
        except (OSError, StopIteration):
            pass
        res.write(json.dumps({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "peak": peak}) + "\n")
        res.flush()
"""


def run_cases(cases, *, cwd=None, timeout: float = 60, limit: int | None = ADDRESS_SPACE,
              alarm: int | None = None) -> tuple[list[dict], int]:
    """``cases``: list of argv lists or ``(argv, env)`` pairs; ``limit``: the child's address space in bytes
    (``None``: unlimited); ``alarm``: seconds a case may take before it is ``rc == "hang"`` (``None``: no alarm).
    Returns ``(results, peak RSS in bytes)``; each result has ``rc``, ``stdout``, ``stderr`` and ``peak``
    (the child's peak so far)."""
    norm = []
    for case in cases:
        argv, env = (case, {}) if isinstance(case, list) else case
        norm.append({"argv": [str(a) for a in argv], "env": {k: str(v) for k, v in env.items()}})
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("AVALIGN_DEBUG", None)
    env.pop("AVALIGN_MEMORY_BUDGET", None)
    with tempfile.TemporaryDirectory() as tmp:
        cases_file, results_file = Path(tmp) / "cases.json", Path(tmp) / "results.jsonl"
        cases_file.write_text(json.dumps(norm))
        try:
            proc = subprocess.run([sys.executable, "-c", _DRIVER, str(cases_file), str(results_file),
                                   str(limit or 0), str(alarm or 0)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                                  timeout=timeout)
            rc, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, stderr = f"timeout after {timeout} s", exc.stderr or ""
            stderr = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        done = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
    if rc != 0 or len(done) != len(norm):
        nxt = norm[len(done)]["argv"] if len(done) < len(norm) else None
        raise AssertionError(f"driver failed ({rc}) after {len(done)} of {len(norm)} cases; next: {nxt}; "
                             f"stderr: {stderr[-2000:]}")
    return done, max((r["peak"] for r in done), default=0)
