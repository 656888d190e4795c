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
from typing import Any, ClassVar

import numpy as np

from ..align import index_map, windows
from ..errors import AudioTooShortError, InputError
from ..features.whisper import ENCODER_HOP, ENCODER_SUPPORT, SAMPLE_RATE, WhisperEncoder
from ..timing import FrameGrid
from .base import Preset

#: Model ids of the checkpoints the systems use, by size.
SIZES = {"tiny": "openai/whisper-tiny", "small": "openai/whisper-small"}
#: Encoder frames per video frame window (``audio_feat_length = [2, 2]``: 2 * (2 + 2 + 1)).
WINDOW = 10


def frame_spans(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Samples ``[start, end)`` seen by encoder frames ``first .. last`` (inclusive), shape ``(N, 2)``, int64.

    Encoder frame ``j`` is centred at sample ``320 j``; its conv front end reads
    ``[320 j - 520, 320 j + 520)`` (attention then sees the whole 30 s input).
    """
    half = ENCODER_SUPPORT // 2
    return np.stack([np.asarray(first, np.int64) * ENCODER_HOP - half,
                     np.asarray(last, np.int64) * ENCODER_HOP + half], axis=1)


class _WhisperPreset(Preset):
    """Shared plumbing: options, model resolution, one encoder per (model, device)."""

    sample_rate = SAMPLE_RATE
    feature = "whisper"
    needs_model = True
    default_model = SIZES["tiny"]
    #: WhisperEncoder options that reproduce the system's hidden states.
    encoder_options: ClassVar[dict] = {}
    OPTIONS: ClassVar[dict] = {"size": "tiny", "dtype": "float32", "batch_size": 1}

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise InputError(f"unknown option(s) for preset {self.name!r}: {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.OPTIONS))}")
        super().__init__(**options)
        size = options.get("size", "tiny")
        if size not in SIZES:
            raise InputError(f"preset {self.name!r}: size must be one of {', '.join(SIZES)}, not {size!r}")
        self.default_model = SIZES[size]
        self._encoders: dict = {}

    def encoder(self, model=None, device=None) -> WhisperEncoder:
        """The encoder extractor for ``model`` (default: :attr:`default_model`) on ``device``, built once."""
        key = (str(model if model is not None else self.default_model), device)
        if key not in self._encoders:
            self._encoders[key] = WhisperEncoder(
                model=key[0], device=device, dtype=self.options.get("dtype", "float32"),
                batch_size=int(self.options.get("batch_size", 1)), layers="all", **self.encoder_options)
        return self._encoders[key]

    def hidden_states(self, samples: np.ndarray, *, model=None, device=None) -> np.ndarray:
        """All hidden states of the system's encoder, shape ``(n // 320, L + 1, d)``."""
        return self.encoder(model, device).compute(samples)


# ---------------------------------------------------------------------------
# MuseTalk v1.5
# ---------------------------------------------------------------------------


class MuseTalkV15(_WhisperPreset):
    """MuseTalk v1.5: ``[floor(d*F), 10*(L+1), d]`` (tiny: ``[N, 50, 384]``); 10.0 s at 25 fps -> 250."""

    name = "musetalk-v15"
    system = "MuseTalk v1.5 (TMElyralab/MuseTalk, musetalk/utils/audio_processor.py)"
    rule = ("transformers whisper, all hidden states, 30 s segments each normalised alone, trimmed to "
            "floor(d*50); F = int(fps), p = ceil(50/F); frame i takes frames [a-2p, a-2p+10), "
            "a = floor(i*50/F) ([2i-4, 2i+6) at 25 fps), zeros outside")
    shape = "[floor(d*int(F)), 50, 384] (small: 130 x 768); 10 s @25 -> 250"
    file_name = "audio_prompts.npy"
    encoder_options = {"convention": "transformers", "long": "segments", "norm": "segment", "pad": "audio"}

    @staticmethod
    def plan(n_samples: int, fps) -> tuple[int, int, np.ndarray, int]:
        """``(frames, kept encoder frames, window starts (unpadded), front padding)`` as the system computes them.

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
            raise InputError(f"MuseTalk v1.5 fails at {f} fps (its last window overruns the padding); "
                             f"use an fps below 50")
        return frames, kept, starts - 2 * pad, 2 * pad

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return self.plan(n_samples, fps)[0]

    def assemble(self, states: np.ndarray, n_samples: int, fps) -> np.ndarray:
        """The system's ``audio_prompts`` from hidden states ``(n // 320, L+1, d)``: ``(N, 10*(L+1), d)``."""
        frames, kept, starts, _ = self.plan(n_samples, fps)
        feats = states[:kept]
        out = windows(feats, starts, size=WINDOW, anchor="start", edge="zeros")
        return out.reshape(frames, WINDOW * states.shape[1], states.shape[2])

    def compute(self, audio, *, fps: Fraction, video_frames: int | None, model=None, device=None) -> np.ndarray:
        n = audio.num_samples
        if self.plan(n, fps)[0] < 1:
            raise AudioTooShortError(f"MuseTalk v1.5 makes no frame from {n / SAMPLE_RATE:.3f} s at {int(fps)} fps")
        return self.assemble(self.hidden_states(audio.samples, model=model, device=device), n, fps)

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        _, _, starts, _ = self.plan(n_samples, fps)
        return frame_spans(starts, starts + WINDOW - 1)


# ---------------------------------------------------------------------------
# The openai-whisper fork: MuseTalk v1, LatentSync, EchoMimic
# ---------------------------------------------------------------------------


def chunk_count(num_features: int, fps) -> int:
    """Chunks of ``feature2chunks``: it appends chunk ``i`` and stops after the first with ``int(i*(50/F)) > T``."""
    mult = 50.0 / float(fps)
    i = max(0, int((num_features + 1) / mult) - 2)
    while i > 0 and int(i * mult) > num_features:
        i -= 1
    while int(i * mult) <= num_features:
        i += 1
    return i + 1


class _OpenAIWhisperPreset(_WhisperPreset):
    """``audio2feat`` + ``feature2chunks`` of the openai-whisper fork (MuseTalk v1, LatentSync, EchoMimic)."""

    encoder_options = {"convention": "openai", "long": "segments", "norm": "file", "pad": "mel"}
    #: Width of the rows of each chunk (``reshape(-1, 384)`` in MuseTalk v1 / EchoMimic; the model width in LatentSync).
    row_width: ClassVar[int | None] = 384

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return chunk_count(int(n_samples) // ENCODER_HOP, self.fixed_fps or fps)

    def centres(self, n_samples: int, fps) -> np.ndarray:
        """``int(i*50/F)`` of every chunk (exact), shape ``(N,)``."""
        fps = self.fixed_fps or fps
        t = int(n_samples) // ENCODER_HOP
        n = chunk_count(t, fps)
        return index_map(FrameGrid(Fraction(50), t), FrameGrid.from_video(fps, n), method="index")

    def assemble(self, states: np.ndarray, n_samples: int, fps) -> np.ndarray:
        """The system's chunks from hidden states ``(n // 320, L+1, d)``: ``(N, 10*(L+1)*d / width, width)``."""
        c = self.centres(n_samples, fps)
        out = windows(states, c, size=WINDOW, anchor=-4, edge="clamp")
        width = self.row_width or states.shape[2]
        return out.reshape(len(c), -1, width)

    def compute(self, audio, *, fps: Fraction, video_frames: int | None, model=None, device=None) -> np.ndarray:
        n = audio.num_samples
        if n < ENCODER_HOP:
            raise AudioTooShortError(f"{self.name} needs at least {ENCODER_HOP} samples (one encoder frame), got {n}")
        return self.assemble(self.hidden_states(audio.samples, model=model, device=device), n, fps)

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        c = self.centres(n_samples, fps)
        return frame_spans(c - 4, c + WINDOW - 5)


class MuseTalkV1(_OpenAIWhisperPreset):
    """MuseTalk v1.0: ``[N, 50, 384]``, N = chunk count (10.0 s at 25 fps -> 252)."""

    name = "musetalk-v1"
    system = "MuseTalk v1.0 (TMElyralab/MuseTalk, musetalk/whisper/audio2feature.py)"
    rule = ("openai whisper, all hidden states before the final layer norm, whole-file log-mel norm, 3000-frame "
            "segments zero-filled; frame i takes [c-4, c+6), c = int(i*50/F), clamped; chunks until "
            "int(i*50/F) > T, the last included")
    shape = "[N, 50, 384], N = chunks (10 s @25 -> 252)"
    file_name = "whisper_chunks.npy"


class LatentSync(_OpenAIWhisperPreset):
    """LatentSync: ``[N, 10*(L+1), d]`` at 25 fps (tiny ``[N, 50, 384]``, small ``[N, 130, 768]``)."""

    name = "latentsync"
    system = "LatentSync (bytedance/LatentSync, latentsync/whisper/audio2feature.py)"
    rule = ("openai whisper (tiny for cross_attention_dim 384, small for 768), all hidden states before the "
            "final layer norm, whole-file log-mel norm, 3000-frame segments zero-filled; 25 fps; frame i takes "
            "[c-4, c+6), c = int(i*50/25), clamped; chunks until int(i*2) > T, the last included")
    shape = "[N, 50, 384] (small: 130 x 768), N = chunks (10 s -> 252)"
    fixed_fps = Fraction(25)
    file_name = "whisper_chunks.npy"
    row_width = None


class EchoMimic(_OpenAIWhisperPreset):
    """EchoMimic: ``[N, 50, 384]`` at any fps (its CLI default is 24)."""

    name = "echomimic"
    system = "EchoMimic (BadToBest/EchoMimic, src/models/whisper/audio2feature.py)"
    rule = ("openai whisper tiny, all hidden states before the final layer norm, whole-file log-mel norm, "
            "3000-frame segments zero-filled; frame i takes [c-4, c+6), c = int(i*50/F), clamped; chunks "
            "until int(i*50/F) > T, the last included")
    shape = "[N, 50, 384], N = chunks (10 s @24 -> 242)"
    file_name = "whisper_chunks.npy"


__all__ = ["EchoMimic", "LatentSync", "MuseTalkV1", "MuseTalkV15", "SIZES", "chunk_count", "frame_spans"]
