"""Presets of the systems that feed Whisper encoder states to their networks (conventions.md, B4).

- ``musetalk-v15``: MuseTalk v1.5 (``musetalk/utils/audio_processor.py``):
  transformers' feature extractor and encoder on 30 s segments, each
  normalised alone; all hidden states (the last after the final layer norm);
  concatenated and trimmed to ``floor(d*50)``; ``2p`` zero frames in front
  and ``6p`` behind (``p = ceil(50/F)``, 2 at 25 fps); frame ``i`` takes the
  10 frames from ``floor(i*50/F) - 2p`` (``[2i-4, 2i+6)`` at 25 fps);
  ``floor(d*F)`` frames. ``F`` is ``int(fps)`` as in the source.
- ``musetalk-v1``, ``latentsync``, ``echomimic``: the openai-whisper fork
  shared by the three (``whisper/audio2feature.py``): the whole file's
  log-mel normalised once, cut into 3000-frame segments (the last
  zero-filled in the normalised log-mel), all hidden states before the final
  layer norm, ``n // 320`` frames; frame ``i`` takes ``[c-4, c+6)`` with
  ``c = int(i*50/F)``, indices clamped to the ends; the loop appends a chunk
  before testing ``int(i*50/F) > T``, so it yields about two chunks more
  than the video has frames (252 for 10 s at 25 fps).

Float arithmetic is reproduced where the systems use it (``floor((n/16000)*F)``
is 1 less than the exact value for some lengths). Every array is float32
(the systems run float16 on GPU; pass ``dtype="float16"`` with a CUDA device).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..align import index_map
from ..errors import InputError
from ..timing import FrameGrid
from .base import Option, Preset
from .layouts import Truncate, Windows
from .steps import WhisperStates

#: Model ids of the checkpoints the systems use, by size.
SIZES = {"tiny": "openai/whisper-tiny", "small": "openai/whisper-small"}
#: Encoder frames per video frame window (``audio_feat_length = [2, 2]``: 2 * (2 + 2 + 1)).
WINDOW = 10
SAMPLE_RATE = 16000

OPTIONS = {
    "size": Option("tiny", choices=tuple(SIZES), help="the Whisper checkpoint's size"),
    "dtype": Option("float32", choices=("float32", "float16"), help="encoder precision (float16 needs CUDA)"),
    "batch_size": Option(1, help="30 s segments per forward pass"),
}
_COMMON = dict(options_spec=OPTIONS, models=("size", SIZES), needs_model=True, default_model=SIZES["tiny"])


# ---------------------------------------------------------------------------
# MuseTalk v1.5
# ---------------------------------------------------------------------------


def musetalk_plan(n_samples: int, fps) -> tuple[int, int, np.ndarray, int]:
    """``(frames, kept encoder frames, window starts (unpadded), front padding)`` as MuseTalk v1.5 computes them.

    Raises InputError where the system itself fails (``int(fps) < 1``, or a
    last window that overruns its padding, from 50 fps up).
    """
    f = int(Fraction(fps))
    if f < 1:
        raise InputError(f"MuseTalk v1.5 needs an fps of at least 1 (it uses int(fps)), got {fps}")
    d = n_samples / SAMPLE_RATE
    frames = math.floor(d * f)
    kept = math.floor(d * 50)
    mult = 50 / f
    pad = math.ceil(mult)
    starts = np.floor(np.arange(frames, dtype=np.float64) * mult).astype(np.int64)
    if frames and starts[-1] + WINDOW > pad * 2 + kept + pad * 6:
        raise InputError(f"MuseTalk v1.5 fails at {f} fps (its last window overruns the padding); use an fps below 50")
    return frames, kept, starts - 2 * pad, 2 * pad


MUSETALK_V15 = Preset(
    name="musetalk-v15", system="MuseTalk v1.5 (TMElyralab/MuseTalk, musetalk/utils/audio_processor.py)",
    rule=("transformers whisper, all hidden states, 30 s segments each normalised alone, trimmed to "
          "floor(d*50); F = int(fps), p = ceil(50/F); frame i takes frames [a-2p, a-2p+10), "
          "a = floor(i*50/F) ([2i-4, 2i+6) at 25 fps), zeros outside"),
    shape="[floor(d*int(F)), 50, 384] (small: 130 x 768); 10 s @25 -> 250",
    feature=WhisperStates({"convention": "transformers", "long": "segments", "norm": "segment", "pad": "audio"}),
    count=lambda req: musetalk_plan(req.n_samples, req.fps)[0],
    layout=Windows(start=lambda req: musetalk_plan(req.n_samples, req.fps)[2], size=WINDOW, edge="zeros",
                   view="flat", before=Truncate(lambda req: musetalk_plan(req.n_samples, req.fps)[1])),
    file_name="audio_prompts.npy", too_short="MuseTalk v1.5 makes no frame from less than one video frame of audio",
    **_COMMON)


# ---------------------------------------------------------------------------
# The openai-whisper fork: MuseTalk v1, LatentSync, EchoMimic
# ---------------------------------------------------------------------------


def chunk_count(num_features: int, fps) -> int:
    """Chunks of ``feature2chunks``: it appends chunk ``i`` and stops after the first with ``int(i*(50/F)) > T``.

    Starts near the answer and corrects by the system's float products (a bounded number of steps).
    """
    mult = 50.0 / float(fps)
    i = max(0, int((num_features + 1) / mult) - 2)
    for _ in range(8):
        if i > 0 and int(i * mult) > num_features:
            i -= 1
        else:
            break
    for _ in range(8):
        if int(i * mult) <= num_features:
            i += 1
        else:
            break
    return i + 1


def chunk_centres(req) -> np.ndarray:
    """``int(i*50/F)`` of every chunk (exact), shape ``(N,)``."""
    return index_map(FrameGrid(Fraction(50), req.frames), FrameGrid.from_video(req.fps, req.rows), method="index")


_OPENAI = dict(feature=WhisperStates({"convention": "openai", "long": "segments", "norm": "file", "pad": "mel"}),
               count=lambda req: chunk_count(req.frames, req.fps),
               layout=Windows(start=chunk_centres, size=WINDOW, anchor=-4, edge="clamp", view="flat", width=384),
               file_name="whisper_chunks.npy", too_short="Whisper needs 320 samples (one encoder frame)", **_COMMON)
_RULE = ("openai whisper{model}, all hidden states before the final layer norm, whole-file log-mel norm, 3000-frame "
         "segments zero-filled; {fps}frame i takes [c-4, c+6), c = int(i*50/{F}), clamped; chunks until "
         "int(i*50/{F}) > T, the last included")

MUSETALK_V1 = Preset(
    name="musetalk-v1", system="MuseTalk v1.0 (TMElyralab/MuseTalk, musetalk/whisper/audio2feature.py)",
    rule=_RULE.format(model="", fps="", F="F"), shape="[N, 50, 384], N = chunks (10 s @25 -> 252)", **_OPENAI)

LATENTSYNC = Preset(
    name="latentsync", system="LatentSync (bytedance/LatentSync, latentsync/whisper/audio2feature.py)",
    rule=_RULE.format(model=" (tiny for cross_attention_dim 384, small for 768)", fps="25 fps; ", F="25"),
    shape="[N, 50, 384] (small: 130 x 768), N = chunks (10 s -> 252)", fixed_fps=Fraction(25),
    **{**_OPENAI, "layout": Windows(start=chunk_centres, size=WINDOW, anchor=-4, edge="clamp", view="flat")})

ECHOMIMIC = Preset(
    name="echomimic", system="EchoMimic (BadToBest/EchoMimic, src/models/whisper/audio2feature.py)",
    rule=_RULE.format(model=" tiny", fps="", F="F"), shape="[N, 50, 384], N = chunks (10 s @24 -> 242)", **_OPENAI)


__all__ = ["ECHOMIMIC", "LATENTSYNC", "MUSETALK_V1", "MUSETALK_V15", "SIZES", "chunk_centres", "chunk_count",
           "musetalk_plan"]
