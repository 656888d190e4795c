"""Streamed vs full-context SSL features, per layer: what a stream's declared context costs.

For random-initialised models of the real architectures (HuBERT-large: layer-norm
conv front end, 1024 wide; wav2vec2-base: group-norm front end, 768 wide; real
conv stacks, ``--layers`` transformer layers), on ``--seconds`` of real speech
(``musetalk_eng.wav``; speech-like noise when the real media are missing):

* ``streamed``: the frames an ``avalign.stream(feature="hubert", chunk=, left=, right=)``
  returns, computed by :func:`avalign.streaming.offline_chunked` (bit-identical to
  the stream, tests/test_streaming.py);
* ``full``: one model call on the whole clip (normalised as a whole).

Prints, per context setting and per hidden state (0 = transformer input, i.e. the
projected conv features), the max and mean absolute difference and the mean
difference relative to the mean magnitude of the full-context state. Also checks
that ``offline_chunked`` with a context covering the clip equals the full call.

    python3 bench/bench_stream_context.py                 # 4 layers, 8 s
    python3 bench/bench_stream_context.py --layers 24 12  # the checkpoints' depths
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.real import REAL  # noqa: E402

ENG = REAL / "musetalk_eng.wav"  # the real 60 s English clip

#: (chunk, left, right) in 20 ms encoder frames; the first is avalign.stream's default
SETTINGS = [(10, 50, 10), (10, 25, 5), (10, 10, 2), (10, 0, 0), (25, 100, 25)]
ARCHS = [("hubert-large-ls960-ft", "hubert"), ("wav2vec2-base-960h", "wav2vec2")]


def speech(seconds: float) -> np.ndarray:
    n = int(seconds * 16000)
    if ENG.exists():
        from avalign.media import load_audio

        x = load_audio(ENG).samples[16000 * 2:16000 * 2 + n]
        if len(x) == n:
            return np.asarray(x, np.float32)
    from avalign.synth import speech_like

    return np.asarray(speech_like(seconds, seed=0), np.float32)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--layers", type=int, nargs=2, default=[4, 4], metavar=("HUBERT", "WAV2VEC2"),
                    help="transformer layers of the HuBERT-large and wav2vec2-base models (24 and 12 in the checkpoints)")
    args = ap.parse_args()

    import ssl_models
    import transformers

    from avalign import features
    from avalign.streaming import offline_chunked

    transformers.logging.set_verbosity_error()
    x = speech(args.seconds)
    print(f"audio: {len(x) / 16000:.2f} s of {'real speech (musetalk_eng.wav)' if ENG.exists() else 'speech-like noise'}")
    with tempfile.TemporaryDirectory() as tmp:
        for (arch, kind), layers in zip(ARCHS, args.layers):
            path = ssl_models.build(arch, Path(tmp) / arch, layers=layers, seed=0)
            ex = features.create(kind, model=str(path), output="layers")
            t = time.perf_counter()
            full = ex.infer([ex.normalise(x)])[0]  # (T, L+1, D)
            print(f"\n## {arch} architecture, {layers} transformer layers, random init "
                  f"({full.shape[0]} frames, {full.shape[2]} wide; full call {time.perf_counter() - t:.1f} s)")
            mag = np.abs(full).mean(axis=(0, 2))
            whole = offline_chunked(ex, x, chunk=full.shape[0], left=0, right=0)
            print(f"offline_chunked with one chunk covering the clip == full call: "
                  f"max |diff| {np.abs(whole - full).max():.2e}")
            for chunk, left, right in SETTINGS:
                t = time.perf_counter()
                got = offline_chunked(ex, x, chunk=chunk, left=left, right=right)
                d = np.abs(got - full)
                print(f"\nchunk {chunk}, left {left}, right {right} frames "
                      f"({chunk * 20} ms per call, {left * 20} ms before, {right * 20} ms after; "
                      f"{time.perf_counter() - t:.1f} s)")
                print("| state | max abs diff | mean abs diff | mean diff / mean magnitude |")
                print("|---|---|---|---|")
                for k in range(full.shape[1]):
                    print(f"| {k} | {d[:, k].max():.4f} | {d[:, k].mean():.5f} | {d[:, k].mean() / mag[k]:.4f} |")


if __name__ == "__main__":
    main()
