"""Batch throughput: clips per minute with ``avalign batch`` at 1 and 2 workers, and its overhead
against a plain loop over the Python API (``avalign.extract`` + ``avalign.store.save`` per clip).

Default: 200 clips of 10 s (16 kHz WAV, speech-like) with the wav2lip preset, or
``--feature mel`` with Wav2Lip's mel options when the preset is not available
in this version (printed). Small dev run::

    python3 bench/bench_batch.py --clips 20 --seconds 2
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import avalign  # noqa: E402
from avalign import synth  # noqa: E402
from avalign.batch import RecipeSpec, run_batch  # noqa: E402
from avalign.store import save  # noqa: E402


def recipe() -> tuple[RecipeSpec, dict, str]:
    """(batch spec, extract keywords, description): wav2lip, or mel with Wav2Lip's options as a fallback."""
    if "wav2lip" in avalign.presets():
        return RecipeSpec(preset="wav2lip", fps="25"), {"preset": "wav2lip", "fps": 25}, "preset wav2lip"
    from avalign.features.spectral import WAV2LIP_MEL

    return (RecipeSpec(feature="mel", fps="25", options=dict(WAV2LIP_MEL)),
            {"feature": "mel", "fps": 25, **WAV2LIP_MEL},
            "feature mel with WAV2LIP_MEL options (the wav2lip preset is not available in this version)")


def plain_loop(src: Path, out: Path, kw: dict) -> float:
    """Seconds for ``extract`` + ``save`` over every WAV of ``src`` in one process."""
    out.mkdir()
    t0 = time.perf_counter()
    for p in sorted(src.glob("*.wav")):
        a = avalign.extract(p, **kw)
        save(out / (p.stem + ".npy"), a.values, a.meta)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    spec, kw, what = recipe()
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        src = tmp / "src"
        src.mkdir()
        for i in range(args.clips):
            synth.write_wav(src / f"c{i:04d}.wav", synth.speech_like(args.seconds, seed=i))
        print(f"{args.clips} clips of {args.seconds:g} s, {what}")
        plain_loop(src, tmp / "warmup", kw)  # file cache and imports warm for every contender
        plain = plain_loop(src, tmp / "plain", kw)
        per_min = args.clips / plain * 60
        print(f"plain loop over avalign.extract + save: {plain:7.2f} s  {per_min:8.1f} clips/min")
        for w in args.workers:
            out = tmp / f"batch{w}"
            t0 = time.perf_counter()
            summary = run_batch(src, out, spec=spec, workers=w, quiet=True)
            dt = time.perf_counter() - t0
            assert summary.exit_code == 0 and summary.computed == args.clips, summary.line()
            hours = args.clips * args.seconds / 3600 / dt
            print(f"avalign batch --workers {w}:              {dt:7.2f} s  {args.clips / dt * 60:8.1f} clips/min"
                  f"  {hours:.3g} h audio/s  time vs plain loop x{dt / plain:.2f}")
            t0 = time.perf_counter()
            again = run_batch(src, out, spec=spec, workers=w, quiet=True)
            print(f"  rerun (all done, {again.skipped} skipped): {time.perf_counter() - t0:.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
