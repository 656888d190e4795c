"""Run `avalign` command lines in one child process under an address-space limit, and measure its peak memory.

Each command runs through :func:`avalign.cli.main` in turn (one interpreter start for many cases), with its
own environment additions, its stdout and stderr captured. The child's ``RLIMIT_AS`` makes an allocation of
gigabytes fail (a MemoryError is an internal error, exit 1), and its peak resident memory comes back, so a
test sees exit code, message and memory of every case; the whole run has a timeout (no hang).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: The child's address-space limit: numpy, PyAV and torch load within it; gigabytes of arrays do not.
ADDRESS_SPACE = 4_000_000_000

_DRIVER = r"""
import contextlib, io, json, os, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from avalign.cli import main
results = []
for case in json.loads(sys.argv[2]):
    saved = dict(os.environ)
    os.environ.update(case["env"])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(case["argv"])
        except SystemExit as exc:
            rc = exc.code
    os.environ.clear()
    os.environ.update(saved)
    results.append({"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps({"results": results, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_cases(cases, *, cwd=None, timeout: float = 60, limit: int = ADDRESS_SPACE) -> tuple[list[dict], int]:
    """``cases``: list of argv lists or ``(argv, env)`` pairs. Returns ``(results, peak RSS in bytes)``;
    each result has ``rc``, ``stdout``, ``stderr``."""
    norm = []
    for case in cases:
        argv, env = (case, {}) if isinstance(case, list) else case
        norm.append({"argv": [str(a) for a in argv], "env": {k: str(v) for k, v in env.items()}})
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("AVALIGN_DEBUG", None)
    env.pop("AVALIGN_MEMORY_BUDGET", None)
    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(limit), json.dumps(norm)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"driver failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report["results"], int(report["maxrss_kb"]) * 1024
