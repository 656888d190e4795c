"""Whole-process start-up of ``avalign extract WAV --preset wav2lip --fps 25``.

Runs the command as a subprocess (``/usr/bin/time -v`` for wall, user+sys CPU and peak RSS) and
with ``python -X importtime`` (sum of top-level imports, without ``site``, whose ``.pth`` hooks
belong to the machine), alternating this tree's ``src`` with ``--against`` (another checkout's
``src``, e.g. main's) and with the floor ``python -c "import numpy"``, in one run; prints min over
``--repeat``. Both trees are byte-compiled first (``compileall``), as an installed package is:
with ``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``, every start compiles every module.

    python bench/bench_startup.py --wav /work/shared/data/real/latentsync_demo1.wav --against /work/main/src
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from timev import time_v

SRC = Path(__file__).resolve().parents[1] / "src"


def _cmd(wav: str, out: str) -> list[str]:
    return [sys.executable, "-c", "from avalign.cli import run; run()", "extract", wav, "--preset", "wav2lip",
            "--fps", "25", "-o", out, "-q"]


def run_once(src: str, cmd: list[str]) -> tuple[float, float, float, float]:
    """(wall s, user+sys CPU s, peak RSS MiB, importtime s) of one whole process."""
    env = dict(os.environ, PYTHONPATH=src)
    seconds, cpu, rss = time_v(cmd, env={"PYTHONPATH": src})
    q = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True,
                       env=env, check=True)
    top = sum(int(m.group(1)) for m in re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \| (\S+)", q.stderr, re.M)
              if m.group(2) != "site")
    return seconds, cpu, rss, top / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wav", required=True)
    ap.add_argument("--against", help="another src folder to compare with (same run, alternating)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    trees = {"this": str(SRC)}
    if args.against:
        trees["against"] = args.against
    for src in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", src], check=True, stdout=subprocess.DEVNULL)
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.npy")
        runs = {**{k: (v, _cmd(args.wav, out)) for k, v in trees.items()},
                "numpy": (str(SRC), [sys.executable, "-c", "import numpy"])}
        best = {k: [float("inf")] * 4 for k in runs}
        for _ in range(args.repeat):
            for name, (src, cmd) in runs.items():
                best[name] = [min(a, b) for a, b in zip(best[name], run_once(src, cmd))]
            loads.append(os.getloadavg()[0])
    print(f"load: {min(loads):.2f}-{max(loads):.2f} (1-min), min of {args.repeat} interleaved runs")
    for name, (wall, cpu, rss, imp) in best.items():
        label = "floor: python -c 'import numpy'" if name == "numpy" else name
        print(f"{label:8s} wall {wall:.2f} s  cpu {cpu:.2f} s  peak RSS {rss:.0f} MiB  importtime {imp:.3f} s")
    if args.against:
        print(f"wall ratio against/this: {best['against'][0] / best['this'][0]:.2f}x  "
              f"cpu ratio: {best['against'][1] / best['this'][1]:.2f}x")


if __name__ == "__main__":
    main()
