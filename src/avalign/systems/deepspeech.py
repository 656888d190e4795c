"""Presets on DeepSpeech v0.1.0 logits: VOCA, AD-NeRF, RAD-NeRF / ER-NeRF (DeepSpeech path), DINet.

All four read 16 kHz int16 audio, compute the 50 Hz logits (``N50`` rows,
:mod:`avalign.features.deepspeech`) and then:

- ``voca``: ``np.interp`` on times ``j/50 -> k/60`` to ``N = round(n/16000*60)``
  rows (edges held); 8 zero rows each side; frame ``k`` gets rows
  ``[k-8, k+8)``: ``[N, 16, 29]`` float64.
- ``ad-nerf``: the same at 50 -> 50 to ``R = round(n/16000*50)`` rows; a first
  window pass of size 1 (``range(0, R-1)``) drops the last row; 8 zero rows
  each side; frame ``k`` gets rows ``[2k-8, 2k+8)`` stride 2:
  ``[ceil((R-1)/2), 16, 29] = [R // 2, 16, 29]`` float64 (``aud.npy``).
- ``nerf-deepspeech``: the identical array under RAD-NeRF's / ER-NeRF's file
  name ``aud_ds.npy``.
- ``dinet``: logits ``[::2]`` (25 per second, ``N25 = ceil(N50/2)`` rows);
  ``layout="features"`` (default) returns them ``[N25, 29]`` float32 (what
  DINet's data processing stores as ``<clip>_deepspeech.txt``);
  ``layout="windows"`` returns what its inference loop feeds the network:
  edge-replicated by 2, frame ``k`` gets rows ``[k-2, k+3)`` transposed to
  ``[29, 5]``, and the loop ``range(5, N25 + 4)`` yields ``N25 - 1`` frames
  (the last frame is never synthesised): ``[N25 - 1, 29, 5]``.

Counts use the duration of the 16 kHz audio the preset receives. The
published scripts take the duration of the file before resampling
(``len(audio) / sr``); for a 16 kHz file the two agree, for other rates they
can differ by one row when ``d * fps`` lies within ``fps / 16000`` of a
rounding boundary. Likewise the decoder resamples non-16 kHz files in float
and rounds, where the scripts truncate (``astype(np.int16)``); use
:func:`lineage_audio` on the WAV for bit-identical input.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..align import interpolate_linear, windows
from ..errors import InputError
from ..media import Audio
from .base import Preset

RATE = 50  # DeepSpeech steps per second
SR = 16000


def _rows(n_samples: int, fps: int) -> int:
    """``int(round(len / sr * fps))`` in the scripts' float arithmetic (Python rounds halves to even)."""
    return int(round(float(n_samples) / SR * fps))


def _step_span(j_lo: np.ndarray, j_hi: np.ndarray) -> np.ndarray:
    """Samples seen by the context windows of steps ``j_lo..j_hi``: ``[320 (j_lo - 9), 320 (j_hi + 9) + 400)``."""
    return np.stack([320 * (np.asarray(j_lo) - 9), 320 * (np.asarray(j_hi) + 9) + 400], axis=1).astype(np.int64)


def lineage_audio(path) -> Audio:
    """A WAV read exactly as the DeepSpeech scripts read it (first channel, resampy, int16 cast), at 16 kHz.

    Pass the result to :func:`avalign.extract` for bit-identical inputs on
    non-16 kHz files; ``meta`` records the source rate and length.
    """
    from ..features.deepspeech import read_wav

    x, sr, n = read_wav(path)
    audio = Audio.from_array(x.astype(np.float32), SR, scale="int16")
    return Audio(audio.samples, SR, audio.start, "int16",
                 {"source": str(path), "source_sample_rate": sr, "source_num_samples": n,
                  "reader": "scipy.io.wavfile + resampy + astype(int16)"})


class _DeepSpeechPreset(Preset):
    sample_rate = 16000
    resampler = "kaiser_best"
    scale = "int16"
    channel = 0  # the scripts keep the first channel of a stereo WAV
    feature = "deepspeech"
    needs_model = True
    default_model = None

    def read_audio(self, path, *, info=None, channel=None, resampler=None) -> Audio:
        """16-bit PCM WAVs exactly as the scripts read them (:func:`lineage_audio`), other files decoded."""
        if (channel is None and resampler is None and info is not None and info.video is None
                and info.audio is not None and info.audio.codec == "pcm_s16le" and info.format == "wav"):
            return lineage_audio(path)
        return super().read_audio(path, info=info, channel=channel, resampler=resampler)

    def _logits(self, audio: Audio, model, device) -> np.ndarray:
        from ..features.deepspeech import logits

        if audio.scale != "int16":
            x = np.clip(np.round(audio.samples.astype(np.float64) * 32768.0), -32768, 32767)
        else:
            x = audio.samples
        return logits([np.asarray(x, np.float64).astype(np.int16)], model=model, device=device)[0]


class Voca(_DeepSpeechPreset):
    """VOCA (TimoBolkart/voca, utils/audio_handler.py): 60 fps windows of 16 logit rows."""

    name = "voca"
    system = "VOCA (TimoBolkart/voca)"
    rule = "np.interp 50 -> 60 fps to round(d*60) rows; zero-pad 8; frame k gets rows [k-8, k+8)"
    shape = "[round(d*60), 16, 29]"
    fixed_fps = Fraction(60)
    file_name = None  # VOCA keeps the windows in memory (processed_audio), it saves no array file

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return _rows(n_samples, 60)

    def compute(self, audio, *, fps, video_frames, model=None, device=None) -> np.ndarray:
        z = self._logits(audio, model, device).astype(np.float64)
        n = self.num_frames(audio.num_samples, fps)
        rows = interpolate_linear(z, np.arange(z.shape[0]) / float(RATE), np.arange(n) / 60.0, edge="clamp")
        return windows(rows, np.arange(n), size=16, anchor=-8, edge="zeros")

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        k = np.arange(self.num_frames(n_samples, fps))
        return _step_span(np.floor((k - 8) * 5 / 6).astype(np.int64), np.ceil((k + 7) * 5 / 6).astype(np.int64))


class ADNeRF(_DeepSpeechPreset):
    """AD-NeRF (YudongGuo/AD-NeRF, data_util/deepspeech_features): 16 logit rows at stride 2, last row dropped."""

    name = "ad-nerf"
    system = "AD-NeRF (YudongGuo/AD-NeRF)"
    rule = ("np.interp 50 -> 50 to R = round(d*50) rows; a size-1 window pass drops the last row; "
            "zero-pad 8; frame k gets rows [2k-8, 2k+8)")
    shape = "[ceil((R-1)/2), 16, 29]"
    fixed_fps = Fraction(25)
    file_name = "aud.npy"

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return _rows(n_samples, 50) // 2  # == ceil((R - 1) / 2) for R >= 0

    def compute(self, audio, *, fps, video_frames, model=None, device=None) -> np.ndarray:
        z = self._logits(audio, model, device).astype(np.float64)
        r = _rows(audio.num_samples, 50)
        rows = interpolate_linear(z, np.arange(z.shape[0]) / float(RATE), np.arange(r) / 50.0, edge="clamp")
        rows = rows[: max(r - 1, 0)]  # the size-1 window pass: range(0, R - 1)
        out = windows(rows, 2 * np.arange(self.num_frames(audio.num_samples, fps)), size=16, anchor=-8,
                      edge="zeros")
        return out.reshape(-1, 16, 29)

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        k = np.arange(self.num_frames(n_samples, fps))
        return _step_span(2 * k - 8, 2 * k + 7)


class NeRFDeepSpeech(ADNeRF):
    """RAD-NeRF (ashawkey/RAD-NeRF) and ER-NeRF (Fictionarry/ER-NeRF) DeepSpeech path: AD-NeRF's array as ``aud_ds.npy``."""

    name = "nerf-deepspeech"
    system = "RAD-NeRF (ashawkey/RAD-NeRF), ER-NeRF (Fictionarry/ER-NeRF): DeepSpeech features"
    file_name = "aud_ds.npy"


class DINet(_DeepSpeechPreset):
    """DINet (MRzzm/DINet, utils/deep_speech.py + inference.py): logits at 25 fps, 5-frame windows."""

    name = "dinet"
    system = "DINet (MRzzm/DINet)"
    rule = ("logits [::2] (25 fps); layout=windows: edge-pad 2, frame k gets rows [k-2, k+3) as [29, 5], "
            "the loop yields N25-1 frames")
    shape = "[N25, 29] (layout=features) or [N25-1, 29, 5] (layout=windows)"
    fixed_fps = Fraction(25)
    file_name = None  # DINet writes <clip>_deepspeech.txt with np.savetxt, not an .npy

    def __init__(self, **options):
        layout = options.get("layout", "features")
        if layout not in ("features", "windows"):
            raise InputError(f"bad layout {layout!r} for preset dinet: expected 'features' or 'windows'")
        super().__init__(**options)
        self.layout = layout

    @staticmethod
    def _n25(n_samples: int) -> int:
        from ..features.deepspeech import num_steps

        return (num_steps(n_samples) + 1) // 2

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        n25 = self._n25(n_samples)
        return n25 if self.layout == "features" else max(n25 - 1, 0)

    def compute(self, audio, *, fps, video_frames, model=None, device=None) -> np.ndarray:
        z = self._logits(audio, model, device)[::2]
        if self.layout == "features":
            return z
        k = np.arange(max(z.shape[0] - 1, 0))
        return windows(z, k, size=5, anchor=-2, edge="clamp").transpose(0, 2, 1)

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        n25 = self._n25(n_samples)
        k = np.arange(self.num_frames(n_samples, fps))
        if self.layout == "features":
            return _step_span(2 * k, 2 * k)
        return _step_span(2 * np.clip(k - 2, 0, n25 - 1), 2 * np.clip(k + 2, 0, n25 - 1))

