"""Batch throughput: clips per minute with ``avalign batch`` at 1, 2 and all cores, against one worker
and against a plain loop over the Python API (``avalign.extract`` + ``avalign.store.save`` per clip).

Default: 200 clips of 10 s (16 kHz WAV, speech-like) with the wav2lip preset; the contenders alternate
and each figure is the minimum of ``--repeat`` runs. ``--cli`` also times the whole command
(``/usr/bin/time -v avalign batch ...``: wall, CPU, peak RSS of the largest process: the driver or
a worker). Small dev run::

    python3 bench/bench_batch.py --clips 20 --seconds 2 --repeat 1
    python3 bench/bench_batch.py --clips 200 --seconds 10 --repeat 5 --cli
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

import avalign  # noqa: E402
from avalign import synth  # noqa: E402
from avalign.batch import RecipeSpec, run_batch  # noqa: E402
from avalign.store import save  # noqa: E402
from timev import python, time_v  # noqa: E402


def plain_loop(src: Path, out: Path, preset: str) -> float:
    """Seconds for ``extract`` + ``save`` over every WAV of ``src`` in one process."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t0 = time.perf_counter()
    for p in sorted(src.glob("*.wav")):
        a = avalign.extract(p, preset=preset, fps=25)
        save(out / (p.stem + ".npy"), a.values, a.meta)
    return time.perf_counter() - t0


def batch(src: Path, out: Path, preset: str, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_batch(src, out, spec=RecipeSpec(preset=preset, fps="25"), workers=workers, quiet=True)
    dt = time.perf_counter() - t0
    assert summary.exit_code == 0 and summary.computed == summary.total, summary.line()
    return dt


def whole_command(src: Path, out: Path, preset: str, workers: int) -> tuple[float, float, float]:
    """(wall s, user+sys CPU s of the driver and its workers, peak RSS MiB of the largest of those processes)
    of ``avalign batch``."""
    shutil.rmtree(out, ignore_errors=True)
    return time_v(python("from avalign.cli import run; run()") + [
        "batch", str(src), "-o", str(out), "--preset", preset, "--fps", "25", "--workers", str(workers), "-q"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default="wav2lip")
    ap.add_argument("--workers", nargs="+", default=["1", "2", "all"], help="worker counts; 'all' = usable cores")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cli", action="store_true", help="also time the whole command with /usr/bin/time -v")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    counts = sorted({cores if w == "all" else int(w) for w in args.workers})
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        src = tmp / "src"
        src.mkdir()
        for i in range(args.clips):
            synth.write_wav(src / f"c{i:04d}.wav", synth.speech_like(args.seconds, seed=i))
        audio_h = args.clips * args.seconds / 3600
        print(f"{args.clips} clips of {args.seconds:g} s, preset {args.preset}, {cores} cores, min of {args.repeat} "
              f"(alternating); load {os.getloadavg()[0]:.1f}")
        plain_loop(src, tmp / "plain", args.preset)  # warm: file cache, imports
        best = {"plain": float("inf"), **{w: float("inf") for w in counts}}
        for _ in range(args.repeat):
            best["plain"] = min(best["plain"], plain_loop(src, tmp / "plain", args.preset))
            for w in counts:
                best[w] = min(best[w], batch(src, tmp / f"batch{w}", args.preset, w))
        print(f"plain loop over avalign.extract + save: {best['plain']:6.2f} s  {args.clips / best['plain'] * 60:7.0f} "
              "clips/min")
        for w in counts:
            dt = best[w]
            print(f"avalign batch --workers {w:<2d} (in process): {dt:6.2f} s  {args.clips / dt * 60:7.0f} clips/min  "
                  f"{audio_h / dt * 3600:6.0f}x real time  speed-up vs 1 worker x{best[counts[0]] / dt:.2f}  "
                  f"vs plain loop x{best['plain'] / dt:.2f}")
        if args.cli:
            runs = {w: [] for w in counts}
            for _ in range(args.repeat):
                for w in counts:
                    runs[w].append(whole_command(src, tmp / f"cli{w}", args.preset, w))
            for w in counts:
                wall, cpu, rss = min(runs[w])
                print(f"/usr/bin/time -v avalign batch --workers {w:<2d}: wall {wall:5.2f} s  CPU {cpu:5.2f} s  "
                      f"largest process peak RSS {rss:.0f} MiB  {args.clips / wall * 60:7.0f} clips/min  speed-up vs 1 worker "
                      f"x{min(runs[counts[0]])[0] / wall:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
