"""Whisper encoder throughput on CPU: frames per second and peak memory for 10 minutes of audio.

Model: a random-initialised whisper-tiny (the real architecture: 384 wide,
4 layers, 6 heads), so no download is needed; speed does not depend on weights.

Each method runs in its own process (peak RSS is per process):

- ``reference``: transformers as MuseTalk v1.5 drives it: ``WhisperFeatureExtractor``
  then ``model.encoder(..., output_hidden_states=True)`` per 30 s segment.
- ``avalign segments``: ``whisper`` with ``long="segments"``, all hidden states.
- ``avalign overlap``: ``whisper`` with ``long="overlap"`` (5 s context), all hidden states.

Also times the log-mel of the whole audio against openai-whisper's ``log_mel_spectrogram``.

Run: ``python3 bench/bench_whisper.py`` (``--seconds 60`` for a quick run).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

REAL = ROOT.parent / "shared" / "data" / "real" / "musetalk_eng.wav"


def make_audio(seconds: float) -> np.ndarray:
    """``seconds`` of speech: the 60 s MuseTalk demo repeated (synthetic speech when it is missing)."""
    n = int(seconds * 16000)
    if REAL.exists():
        from avalign.media import load_audio

        x = load_audio(REAL, 16000).samples
        return np.resize(x, n).astype(np.float32)
    from avalign.synth import speech_like

    return speech_like(seconds)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_reference(model_dir: str, x: np.ndarray) -> dict:
    import torch
    import transformers

    fe = transformers.WhisperFeatureExtractor()
    enc = transformers.WhisperModel.from_pretrained(model_dir).encoder.eval()
    t0 = time.perf_counter()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), 480000):
            feats = fe(x[s:s + 480000], sampling_rate=16000, return_tensors="pt").input_features
            hs = enc(feats, output_hidden_states=True).hidden_states
            outs.append(torch.stack(hs, dim=2)[0].numpy())
    out = np.concatenate(outs)[:len(x) // 320]
    return {"seconds": time.perf_counter() - t0, "frames": out.shape[0], "shape": out.shape}


def run_avalign(model_dir: str, x: np.ndarray, long: str, batch_size: int) -> dict:
    from avalign.features import create

    ex = create("whisper", model=model_dir, layers="all", long=long, batch_size=batch_size)
    ex.model  # load outside the timing, as the reference does
    t0 = time.perf_counter()
    out = ex.compute(x)
    return {"seconds": time.perf_counter() - t0, "frames": out.shape[0], "shape": out.shape}


def run_log_mel(x: np.ndarray) -> dict:
    import torch
    import whisper

    from avalign.features.whisper import log_mel

    t0 = time.perf_counter()
    log_mel(x)
    mine = time.perf_counter() - t0
    t0 = time.perf_counter()
    whisper.log_mel_spectrogram(torch.from_numpy(x))
    ref = time.perf_counter() - t0
    return {"avalign": mine, "openai": ref}


def _child(queue, fn, args):
    result = fn(*args)
    result["peak_rss_mb"] = peak_rss_mb()
    queue.put(result)


def in_process(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, fn, args))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="audio length (default 600 = 10 minutes)")
    ap.add_argument("--batch-size", type=int, default=1, help="30 s inputs per encoder call (avalign)")
    args = ap.parse_args()

    import torch

    from avalign.features.whisper import save_random_model

    x = make_audio(args.seconds)
    print(f"audio: {args.seconds:.0f} s ({len(x)} samples); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; random whisper-tiny (384 wide, 4 layers)")
    lm = in_process(run_log_mel, x)
    print(f"log-mel of the whole audio: avalign {lm['avalign']:.2f} s, openai-whisper {lm['openai']:.2f} s "
          f"(ratio {lm['openai'] / lm['avalign']:.2f}x)")
    with tempfile.TemporaryDirectory() as tmp:
        save_random_model(tmp, size="tiny", seed=0)
        rows = [("reference (transformers, per segment)", in_process(run_reference, tmp, x))]
        for long in ("segments", "overlap"):
            rows.append((f"avalign {long}", in_process(run_avalign, tmp, x, long, args.batch_size)))
    ref_fps = rows[0][1]["frames"] / rows[0][1]["seconds"]
    print(f"{'method':40s} {'seconds':>8s} {'frames/s':>10s} {'x realtime':>10s} {'vs ref':>7s} {'peak RSS':>10s}")
    for name, r in rows:
        fps = r["frames"] / r["seconds"]
        print(f"{name:40s} {r['seconds']:8.1f} {fps:10.0f} {args.seconds / r['seconds']:10.1f} "
              f"{fps / ref_fps:7.2f} {r['peak_rss_mb']:8.0f} MB")
    print(f"output: {rows[1][1]['shape']} float32 = {np.prod(rows[1][1]['shape']) * 4 / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
