"""Presets of the systems that feed wav2vec2 / HuBERT / CTC features to their networks.

Every preset reproduces its system's array, quirks included (see
``conventions.md`` rows rad-nerf, er-nerf-hubert, geneface-hubert,
genefacepp-hubert, faceformer, hallo, aniportrait, emotalk). The model runs
through :mod:`avalign.features.ssl`; the steps after the model use the
building blocks of :mod:`avalign.align` (``windows``, ``stretch``).
The CNN-level stretch of FaceFormer, Hallo, AniPortrait and EmoTalk runs
inside the model (``F.interpolate(..., align_corners=True)`` on the conv
features, as those systems do) through
:meth:`~avalign.features.ssl.SSLExtractor.encode_stretched`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..align import windows
from ..errors import AudioTooShortError
from ..features import ssl as _ssl
from .base import Preset

HOP, WINDOW = 320, 400  # the samples of one 50 Hz frame of the usual conv stack (systems hard-code them)


def _too_short(name: str, n: int, need: int = WINDOW) -> None:
    if n < need:
        raise AudioTooShortError(f"preset {name!r}: audio of {n} samples ({n / 16:.1f} ms) is shorter than the "
                                 f"{need} samples ({need / 16:.1f} ms) the model needs for one frame")


def _conv_spans(frames: np.ndarray) -> np.ndarray:
    """Sample spans ``[320 a, 320 b + 400)`` of rows that receive 50 Hz frames ``a..b`` (shape ``(rows, 2)``)."""
    frames = np.asarray(frames, dtype=np.int64)
    return np.stack([HOP * frames.min(axis=1), HOP * frames.max(axis=1) + WINDOW], axis=1)


class _ModelPreset(Preset):
    """A preset that runs one transformers encoder (loaded once per preset instance and model)."""

    feature = "hubert"
    extractor_name = "hubert"
    needs_model = True
    output = "last"

    def extractor(self, model=None, device=None, **options) -> _ssl.SSLExtractor:
        """The extractor for ``model`` (default: :attr:`default_model`), whole-clip (no chunking)."""
        key = (str(model or self.default_model), device or "cpu", tuple(sorted(options.items())))
        cache = self.__dict__.setdefault("_extractors", {})
        if key not in cache:
            from ..features import create

            opts = {"output": self.output, "chunk_seconds": 0.0, **options}
            cache[key] = create(self.extractor_name, model=key[0], device=key[1], **opts)
        return cache[key]


# ---------------------------------------------------------------------------
# HuBERT presets: ER-NeRF, GeneFace, GeneFace++
# ---------------------------------------------------------------------------


def hubert_clips(n_samples: int, *, clip: int = 320000, hop: int = HOP, window: int = WINDOW) -> list[tuple[int, int]]:
    """The ``[start, stop)`` sample ranges that ``get_hubert_from_16k_speech`` runs the model on, in order.

    Clips of ``clip + window - hop`` samples start every ``clip`` samples (the
    80-sample overlap makes their frames tile); a remainder shorter than
    ``window`` is skipped. Used by ER-NeRF, GeneFace and GeneFace++.
    """
    num_iter = n_samples // clip
    out = [(clip * i, min(clip * i + clip - hop + window, n_samples)) for i in range(num_iter)]
    start = clip * num_iter
    if n_samples - start >= window:
        out.append((start, n_samples))
    return out


def hubert_frames(n_samples: int) -> int:
    """``expected_T = (n - (400 - 320)) // 320`` of ``get_hubert_from_16k_speech``."""
    return (n_samples - (WINDOW - HOP)) // HOP


class _HubertPreset(_ModelPreset):
    system = ""
    default_model = "facebook/hubert-large-ls960-ft"
    feature = "hubert"
    extractor_name = "hubert"

    def hubert(self, audio, *, model=None, device=None) -> np.ndarray:
        """``get_hubert_from_16k_speech``: whole-file normalisation, 20 s clips run alone, forced to ``T`` frames."""
        n = audio.num_samples
        _too_short(self.name, n)
        ex = self.extractor(model, device)
        x = ex.normalise(audio.samples)
        parts = [ex.infer([x[a:b]])[0] for a, b in hubert_clips(n)]
        ret = np.concatenate(parts, axis=0)
        t = hubert_frames(n)
        if ret.shape[0] < t:
            ret = np.concatenate([ret, np.zeros((t - ret.shape[0],) + ret.shape[1:], ret.dtype)])
        return ret[:t]


class ERNeRFHubert(_HubertPreset):
    """ER-NeRF ``aud_hu.npy``: HuBERT-large last hidden state in pairs per 25 fps video frame."""

    name = "er-nerf-hubert"
    system = "ER-NeRF (Fictionarry/ER-NeRF), data_utils/hubert.py"
    rule = ("whole-file normalisation; 20 s clips (320000 samples, 80-sample overlap) each run alone; "
            "forced to T=(n-80)//320 frames; odd T drops the last; frame k = HuBERT frames 2k, 2k+1")
    shape = "[T//2, 2, 1024]"
    fixed_fps = Fraction(25)
    file_name = "aud_hu.npy"

    def num_frames(self, n_samples, fps=None, video_frames=None):
        return max(hubert_frames(n_samples), 0) // 2

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        h = self.hubert(audio, model=model, device=device)
        rows = h.shape[0] // 2
        return windows(h, 2 * np.arange(rows), size=2)

    def sources(self, n_samples, fps=None, video_frames=None):
        k = np.arange(self.num_frames(n_samples), dtype=np.int64)
        return _conv_spans(np.stack([2 * k, 2 * k + 1], axis=1))


class GeneFaceHubert(_HubertPreset):
    """GeneFace ``aud_hubert.npy``: HuBERT frames zero-padded to a multiple of 8 (rows at 50 Hz)."""

    name = "geneface-hubert"
    system = "GeneFace (yerfor/GeneFace), data_util/process_audio_hubert.py + dataset"
    rule = ("get_hubert_from_16k_speech (as er-nerf-hubert); T zero-padded to a multiple of 8; "
            "rows stay at 50 Hz: 25 fps video frame k uses row 2k")
    shape = "[ceil(T/8)*8, 1024]"
    fixed_fps = Fraction(50)
    file_name = "aud_hubert.npy"

    def num_frames(self, n_samples, fps=None, video_frames=None):
        t = max(hubert_frames(n_samples), 0)
        return -(-t // 8) * 8

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        h = self.hubert(audio, model=model, device=device)
        rows = self.num_frames(audio.num_samples)
        return windows(h, np.arange(rows), size=1, edge="zeros")[:, 0]

    def sources(self, n_samples, fps=None, video_frames=None):
        k = np.arange(self.num_frames(n_samples), dtype=np.int64)
        return _conv_spans(k[:, None])


class GeneFacePPHubert(_HubertPreset):
    """GeneFace++ ``aud_hubert.npy``: HuBERT frames truncated to a multiple of 8 (rows at 50 Hz)."""

    name = "genefacepp-hubert"
    system = "GeneFace++ (yerfor/GeneFacePlusPlus), data_gen/utils/process_audio/extract_hubert.py + dataset"
    rule = ("get_hubert_from_16k_speech (as er-nerf-hubert); T truncated to a multiple of 8; rows at 50 Hz: "
            "25 fps video frame k = mean of rows 2k, 2k+1")
    shape = "[T//8*8, 1024]"
    fixed_fps = Fraction(50)
    file_name = "aud_hubert.npy"

    def num_frames(self, n_samples, fps=None, video_frames=None):
        return max(hubert_frames(n_samples), 0) // 8 * 8

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        h = self.hubert(audio, model=model, device=device)
        return h[:self.num_frames(audio.num_samples)]

    def sources(self, n_samples, fps=None, video_frames=None):
        k = np.arange(self.num_frames(n_samples), dtype=np.int64)
        return _conv_spans(k[:, None])


# ---------------------------------------------------------------------------
# RAD-NeRF: streamed CTC logits
# ---------------------------------------------------------------------------


def rad_nerf_windows(n_samples: int, *, chunk: int = HOP, left: int = 10, mid: int = 50,
                     right: int = 10) -> list[tuple[int, int, bool]]:
    """The streaming windows of RAD-NeRF's ``nerf/asr.py`` in file mode.

    The stream is ``left`` zero chunks followed by the audio cut into
    ``chunk``-sample chunks (the last one may be short). A window runs when
    ``left + mid + right`` chunks are buffered, after which the last
    ``left + right`` are kept; once the file is exhausted the buffer runs once
    more. Returns ``(start, stop, terminal)`` in samples of the stream
    (``left * chunk`` zeros + audio).
    """
    n_chunks = -(-n_samples // chunk)
    stream = left * chunk + n_samples
    size = left + mid + right
    out = []
    first = 0  # chunk index (in the stream) of the buffer's first chunk
    buffered = left
    for _ in range(n_chunks):
        buffered += 1
        if buffered >= size:
            out.append((first * chunk, (first + buffered) * chunk, False))
            first += buffered - (left + right)
            buffered = left + right
    out.append((first * chunk, stream, True))
    return out


class RADNeRF(_ModelPreset):
    """RAD-NeRF ``aud_eo.npy``: streamed CTC logits of wav2vec2-large-xlsr-53-esperanto, unfolded 16 by 2."""

    name = "rad-nerf"
    system = "RAD-NeRF (ashawkey/RAD-NeRF), nerf/asr.py (--asr_save_feats)"
    rule = ("320-sample chunks after 10 zero chunks; windows of 10 left / 50 mid / 10 right chunks, each "
            "normalised alone; logits [10:-9] per window ([10:] at the end); M=(n-80)//320; unfold k16 pad 8 "
            "stride 2: frame j gets logits [2j-8, 2j+8)")
    shape = "[M//2+1, 16, 44]"
    fixed_fps = Fraction(25)
    feature = "ctc"
    extractor_name = "ctc"
    output = "logits"
    default_model = "cpierse/wav2vec2-large-xlsr-53-esperanto"
    file_name = "aud_eo.npy"
    resampler = "kaiser_best"  # asr.py resamples non-16 kHz files with resampy
    left, mid, right = 10, 50, 10

    @staticmethod
    def logit_frames(n_samples: int) -> int:
        """``M``: logits of the whole stream minus the 10 zero chunks, ``(n - 80)//320``.

        Equal to ``ceil(n/320) - 1`` unless the last partial chunk has fewer than 80 samples.
        """
        return (n_samples - (WINDOW - HOP)) // HOP

    def num_frames(self, n_samples, fps=None, video_frames=None):
        return self.logit_frames(n_samples) // 2 + 1

    def logits(self, audio, *, model=None, device=None) -> np.ndarray:
        """The ``(M, C)`` logits that ``asr.py`` accumulates in ``all_feats``."""
        n = audio.num_samples
        _too_short(self.name, n)
        ex = self.extractor(model, device)
        stream = np.concatenate([np.zeros(self.left * HOP, np.float32), np.asarray(audio.samples, np.float32)])
        parts = []
        for start, stop, terminal in rad_nerf_windows(n, left=self.left, mid=self.mid, right=self.right):
            y = ex.infer([ex.normalise(stream[start:stop])])[0]
            end = y.shape[0] if terminal else min(y.shape[0], y.shape[0] - self.right + 1)
            parts.append(y[self.left:end])
        return np.concatenate(parts, axis=0)

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        feats = self.logits(audio, model=model, device=device)
        rows = feats.shape[0] // 2 + 1
        return windows(feats, 2 * np.arange(rows), size=16, anchor=-8, edge="zeros")

    def sources(self, n_samples, fps=None, video_frames=None):
        j = np.arange(self.num_frames(n_samples), dtype=np.int64)
        return _conv_spans(np.stack([2 * j - 8, 2 * j + 7], axis=1))


# ---------------------------------------------------------------------------
# CNN-level stretch: FaceFormer, Hallo, AniPortrait, EmoTalk
# ---------------------------------------------------------------------------


class _StretchPreset(_ModelPreset):
    """Processor normalisation of the whole clip, conv features stretched to ``N`` before the transformer."""

    feature = "wav2vec2"
    extractor_name = "wav2vec2"
    default_model = "facebook/wav2vec2-base-960h"

    def encode(self, audio, n_rows: int, *, model=None, device=None) -> np.ndarray:
        _too_short(self.name, audio.num_samples)
        return self.extractor(model, device).encode_stretched(audio.samples, n_rows)

    def conv_frames(self, n_samples: int) -> int:
        return max((n_samples - WINDOW) // HOP + 1, 0)

    def num_frames(self, n_samples, fps=None, video_frames=None):
        """``N = ceil(n / 16000 * fixed_fps)`` in the systems' float arithmetic."""
        return _ssl.ceil_frames(n_samples, self.fixed_fps)

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        return self.encode(audio, self.num_frames(audio.num_samples, fps, video_frames), model=model, device=device)

    def sources(self, n_samples, fps=None, video_frames=None):
        n = self.num_frames(n_samples, fps, video_frames)
        t = self.conv_frames(n_samples)
        pos = np.arange(n, dtype=np.float64) * ((t - 1) / (n - 1)) if n > 1 else np.zeros(n)
        lo = np.clip(np.floor(pos).astype(np.int64), 0, max(t - 1, 0))
        hi = np.minimum(np.ceil(pos).astype(np.int64), max(t - 1, 0))
        return _conv_spans(np.stack([lo, hi], axis=1))


class FaceFormer(_StretchPreset):
    """FaceFormer (vocaset): wav2vec2-base-960h conv features stretched to N frames at 30 fps."""

    name = "faceformer"
    system = "FaceFormer (EvelynFan/FaceFormer), wav2vec.py linear_interpolation (vocaset)"
    rule = ("processor normalisation; conv features (512) stretched (align_corners) to N = video frames, "
            "or int(M/50*30) without a video, before the projection and transformer; last hidden state")
    shape = "[N, 768]"
    fixed_fps = Fraction(30)

    def num_frames(self, n_samples, fps=None, video_frames=None):
        if video_frames is not None:
            return int(video_frames)
        return int(self.conv_frames(n_samples) / float(50) * 30)


class AniPortrait(_StretchPreset):
    """AniPortrait audio2mesh: wav2vec2-base-960h last hidden state, CNN-level stretch to ceil(d*30)."""

    name = "aniportrait"
    system = "AniPortrait (Zejun-Yang/AniPortrait), src/audio_models (prepare_audio_feature, seq_len)"
    rule = "processor normalisation; N = ceil(n/16000*30); conv features stretched to N; last hidden state"
    shape = "[N, 768]"
    fixed_fps = Fraction(30)


class Hallo(_StretchPreset):
    """Hallo: wav2vec2-base-960h, 12 layer outputs per frame, 5-frame clamped windows at 25 fps."""

    name = "hallo"
    system = "Hallo (fudan-generative-vision/hallo), hallo/datasets/audio_processor.py + process_audio_emb"
    rule = ("processor normalisation; N = ceil(n/16000*25); conv features stretched to N; hidden states 1..12 "
            "stacked; frame i gets frames [i-2, i+2] clamped (vocal separation not included)")
    shape = "[N, 5, 12, 768]"
    fixed_fps = Fraction(25)
    output = "layers"

    def compute(self, audio, *, fps=None, video_frames=None, model=None, device=None):
        n = self.num_frames(audio.num_samples)
        layers = self.encode(audio, n, model=model, device=device)[:, 1:]
        return windows(layers, np.arange(n), size=5, anchor="centre", edge="clamp")


class EmoTalk(_StretchPreset):
    """EmoTalk content stream: wav2vec2-large-xlsr-53-english, CNN-level stretch to ceil(d*30).

    The emotion stream (a second wav2vec2 with a classification head,
    stretched at its output) is not included.
    """

    name = "emotalk"
    system = "EmoTalk (psyai-net/EmoTalk_release), model.py predict (content encoder only)"
    rule = ("processor normalisation; N = ceil(n/16000*30); conv features stretched to N; last hidden state of "
            "the content encoder (the emotion stream is not included)")
    shape = "[N, 1024]"
    fixed_fps = Fraction(30)
    default_model = "jonatasgrosman/wav2vec2-large-xlsr-53-english"


__all__ = ["AniPortrait", "EmoTalk", "ERNeRFHubert", "FaceFormer", "GeneFaceHubert", "GeneFacePPHubert", "Hallo",
           "RADNeRF", "hubert_clips", "hubert_frames", "rad_nerf_windows"]
