"""Feature steps of presets: the audio a system reads -> its time-major feature frames.

A step knows its frames for ``n`` samples (:meth:`Step.frames`, pure), computes
them (:meth:`Step.compute`, ``(rows, ...)``), and says which samples a frame
sees: frame ``t`` is computed from ``[hop*t + lo, hop*t + hi)``
(:meth:`Step.span`). Steps whose output rows are not their native frames
(a CNN-level stretch to ``N`` rows) map rows to frames in :meth:`Step.positions`.

Steps compute through the extractors of :mod:`avalign.features`; neural
models load through their process-wide cache, so building an extractor per
call costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from ..errors import AudioTooShortError, InputError
from ..framed import stretch_positions
from ..timing import psf_num_frames, ssl_num_frames, stft_num_frames

SSL_HOP, SSL_WINDOW = 320, 400  # one 50 Hz frame of the wav2vec2 conv stack, in samples at 16 kHz


@dataclass(frozen=True)
class Step:
    """Base of feature steps (see the module docstring). ``family`` names the feature kind."""

    family: ClassVar[str] = ""
    hop: ClassVar[int] = 1
    lo: ClassVar[int] = 0
    hi: ClassVar[int] = 1

    def frames(self, n_samples: int, opts) -> int:
        raise NotImplementedError

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        raise NotImplementedError

    def rows(self, req) -> int:
        """Rows :meth:`compute` returns (its native frames here)."""
        return req.frames

    def positions(self, rows: np.ndarray, req) -> tuple[np.ndarray, np.ndarray]:
        """First and last native frame behind each output row ``rows`` (identity here)."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows, rows

    def span(self, first, last) -> np.ndarray:
        """``[hop*first + lo, hop*last + hi)`` in samples, int64 ``(rows, 2)``."""
        first, last = np.asarray(first, np.int64), np.asarray(last, np.int64)
        return np.stack([self.hop * first + self.lo, self.hop * last + self.hi], axis=1).reshape(-1, 2)


# ---------------------------------------------------------------------------
# Spectral
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wav2LipMel(Step):
    """Wav2Lip's mel (B1), ``(M, 80)`` at 80 Hz; frame ``t`` centred at sample ``200 t``, window 800.

    ``whole``: the audio is first cut to whole multiples of that many samples
    (SadTalker's ``int(n / 640) * 640``). The centring pad is the option ``pad_mode``.
    """

    whole: int | None = None
    family: ClassVar[str] = "mel"
    hop: ClassVar[int] = 200
    lo: ClassVar[int] = -400
    hi: ClassVar[int] = 400

    def length(self, n_samples: int) -> int:
        """Samples the mel is computed on."""
        return int(n_samples) if self.whole is None else int(n_samples) // self.whole * self.whole

    def frames(self, n_samples: int, opts) -> int:
        return stft_num_frames(self.length(n_samples), n_fft=800, hop=self.hop)

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features.spectral import WAV2LIP_MEL, Mel

        return Mel(**WAV2LIP_MEL, pad_mode=req.options.pad_mode).compute(audio.samples[:self.length(req.n_samples)])


@dataclass(frozen=True)
class PsfMfcc(Step):
    """``python_speech_features.mfcc`` defaults (13 cepstra, 25 ms / 10 ms) on int16 magnitudes, 100 Hz."""

    family: ClassVar[str] = "mfcc"
    hop: ClassVar[int] = 160
    lo: ClassVar[int] = 0
    hi: ClassVar[int] = 400

    def frames(self, n_samples: int, opts) -> int:
        return psf_num_frames(int(n_samples), frame_len=self.hi, step=self.hop)

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features.spectral import MFCC

        ex = MFCC(input_scale="int16")
        return ex.compute(ex.prepare(audio).samples)  # int16 magnitudes whatever the input scale


# ---------------------------------------------------------------------------
# DeepSpeech v0.1.0
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeepSpeechLogits(Step):
    """DeepSpeech v0.1.0 logits (B2), ``(N50, 29)`` float32; step ``j`` sees 19 MFCC frames around ``2j``:
    samples ``[320 (j - 9), 320 (j + 9) + 400)``."""

    family: ClassVar[str] = "deepspeech"
    hop: ClassVar[int] = 320
    lo: ClassVar[int] = -9 * 320
    hi: ClassVar[int] = 9 * 320 + 400

    def frames(self, n_samples: int, opts) -> int:
        from ..features.deepspeech.inputs import num_steps

        return num_steps(int(n_samples))

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features.deepspeech import logits

        x = audio.samples
        if audio.scale != "int16":
            x = np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767)
        return logits([np.asarray(x, np.float64).astype(np.int16)], model=model, device=device)[0]


# ---------------------------------------------------------------------------
# wav2vec2 / HuBERT
# ---------------------------------------------------------------------------


def _too_short(n: int, need: int = SSL_WINDOW) -> None:
    if n < need:
        raise AudioTooShortError(f"audio of {n} samples ({n / 16:.1f} ms) is shorter than the {need} samples "
                                 f"({need / 16:.1f} ms) the model needs for one frame")


def ssl_extractor(kind: str, *, model, device, **options):
    """A whole-clip (unchunked) SSL extractor of ``kind`` for ``model`` on ``device``."""
    from ..features import create

    return create(kind, model=str(model), device=device or "cpu", chunk_seconds=0.0, **options)


def hubert_clips(n_samples: int, *, clip: int = 320000, hop: int = SSL_HOP,
                 window: int = SSL_WINDOW) -> list[tuple[int, int]]:
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


@dataclass(frozen=True)
class SSLFrames(Step):
    """Base of steps on the 50 Hz conv frames: frame ``t`` sees ``[320 t, 320 t + 400)``."""

    kind: str = "hubert"
    output: str = "last"
    family: ClassVar[str] = "hubert"
    hop: ClassVar[int] = SSL_HOP
    lo: ClassVar[int] = 0
    hi: ClassVar[int] = SSL_WINDOW

    def frames(self, n_samples: int, opts) -> int:
        return ssl_num_frames(n_samples)

    def extractor(self, model, device):
        return ssl_extractor(self.kind, model=model, device=device, output=self.output)


@dataclass(frozen=True)
class HubertClips(SSLFrames):
    """``get_hubert_from_16k_speech`` (ER-NeRF, GeneFace, GeneFace++): whole-file normalisation, 20 s clips
    run alone, forced to ``T = (n-80)//320`` frames (zeros appended where the clips give fewer)."""

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        n = audio.num_samples
        _too_short(n)
        ex = self.extractor(model, device)
        x = ex.normalise(audio.samples)
        ret = np.concatenate([ex.infer([x[a:b]])[0] for a, b in hubert_clips(n)], axis=0)
        t = req.frames
        if ret.shape[0] < t:
            ret = np.concatenate([ret, np.zeros((t - ret.shape[0],) + ret.shape[1:], ret.dtype)])
        return ret[:t]


def rad_nerf_windows(n_samples: int, *, chunk: int = SSL_HOP, left: int = 10, mid: int = 50,
                     right: int = 10) -> list[tuple[int, int, bool]]:
    """The streaming windows of RAD-NeRF's ``nerf/asr.py`` in file mode.

    The stream is ``left`` zero chunks followed by the audio cut into
    ``chunk``-sample chunks (the last one may be short). A window runs when
    ``left + mid + right`` chunks are buffered, after which the last
    ``left + right`` are kept; once the file is exhausted the buffer runs once
    more. Returns ``(start, stop, terminal)`` in samples of the stream
    (``left * chunk`` zeros + audio).
    """
    if mid < 1:
        raise InputError(f"bad streaming window: mid must be at least 1 chunk, got {mid}")
    n_chunks = -(-n_samples // chunk)
    stream = left * chunk + n_samples
    size = left + mid + right
    # closed form of the system's loop (one step per chunk): a buffer filled to `size` chunks runs and keeps
    # `left + right`, so window k starts at chunk k*mid; the first runs once `size - left` chunks have come
    windows = 0 if n_chunks < size - left else 1 + (n_chunks - (size - left)) // mid
    out = [(k * mid * chunk, (k * mid + size) * chunk, False) for k in range(windows)]
    out.append((windows * mid * chunk, stream, True))
    return out


@dataclass(frozen=True)
class StreamedLogits(SSLFrames):
    """RAD-NeRF's ``asr.py`` in file mode: CTC logits of windows of ``left/mid/right`` 20 ms chunks after
    ``left`` zero chunks, each window normalised alone; ``(n-80)//320`` frames."""

    kind: str = "ctc"
    output: str = "logits"
    left: int = 10
    mid: int = 50
    right: int = 10
    family: ClassVar[str] = "ctc"

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        n = audio.num_samples
        _too_short(n)
        ex = self.extractor(model, device)
        stream = np.concatenate([np.zeros(self.left * SSL_HOP, np.float32), np.asarray(audio.samples, np.float32)])
        parts = []
        for start, stop, terminal in rad_nerf_windows(n, left=self.left, mid=self.mid, right=self.right):
            y = ex.infer([ex.normalise(stream[start:stop])])[0]
            end = y.shape[0] if terminal else min(y.shape[0], y.shape[0] - self.right + 1)
            parts.append(y[self.left:end])
        return np.concatenate(parts, axis=0)


@dataclass(frozen=True)
class StretchedSSL(SSLFrames):
    """Processor normalisation of the whole clip, conv features stretched (``align_corners=True``) to the
    preset's row count before the projection and transformer (FaceFormer, Hallo, AniPortrait, EmoTalk).

    ``skip_embeddings`` drops hidden state 0 of ``output="layers"`` (Hallo keeps layers 1..12).
    ``length(req)``: the stretched frames when they are not the preset's rows (default ``req.rows``).
    ``calls(samples, req, normalise)``: the model calls a system makes, ``[(model input, stretched frames)]``
    in order, their outputs concatenated (default: the whole clip normalised, stretched to ``length``);
    ``normalise`` is the processor normalisation, so a system that pads or cuts after it says so here.
    """

    kind: str = "wav2vec2"
    skip_embeddings: bool = False
    length: Callable | None = None
    calls: Callable | None = None
    family: ClassVar[str] = "wav2vec2"

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        _too_short(audio.num_samples)
        ex = self.extractor(model, device)
        if self.calls is None:
            out = ex.encode_stretched(audio.samples, self.rows(req))
        else:
            parts = []
            for x, k in self.calls(audio.samples, req, ex.normalise):
                _too_short(len(x))
                parts.append(ex.encode_stretched(x, int(k), normalized=True))
            out = np.concatenate(parts, axis=0)
        return out[:, 1:] if self.skip_embeddings else out

    def rows(self, req) -> int:
        return req.rows if self.length is None else int(self.length(req))

    def positions(self, rows, req):
        """Conv frames ``floor(p)`` and ``ceil(p)`` around each row's stretch position ``p = i (T-1)/(N-1)``."""
        rows = np.asarray(rows, dtype=np.int64)
        t = max(req.frames, 1)
        n = self.rows(req)
        pos = stretch_positions(t, max(n, 1))[np.clip(rows, 0, max(n - 1, 0))] if n else np.zeros(rows.shape)
        return (np.clip(np.floor(pos), 0, t - 1).astype(np.int64),
                np.clip(np.ceil(pos), 0, t - 1).astype(np.int64))


# ---------------------------------------------------------------------------
# Whisper
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperStates(Step):
    """All hidden states of a Whisper encoder, ``(n // 320, L + 1, d)`` at 50 Hz; frame ``j`` is centred at
    sample ``320 j`` and its conv front end reads ``[320 j - 520, 320 j + 520)``.

    ``encoder`` holds the :class:`~avalign.features.whisper.WhisperEncoder` options that reproduce the
    system (convention, segmenting, normalisation scope, padding); ``dtype`` and ``batch_size`` are options.
    """

    encoder: dict = field(default_factory=dict)
    family: ClassVar[str] = "whisper"
    hop: ClassVar[int] = 320
    lo: ClassVar[int] = -520
    hi: ClassVar[int] = 520

    def frames(self, n_samples: int, opts) -> int:
        from ..timing import whisper_num_frames

        return whisper_num_frames(int(n_samples))["encoder"]

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features.whisper import WhisperEncoder

        if audio.num_samples < self.hop:
            raise AudioTooShortError(f"Whisper needs at least {self.hop} samples (one encoder frame), "
                                     f"got {audio.num_samples}")
        o = req.options
        ex = WhisperEncoder(model=str(model), device=device, dtype=o.dtype, batch_size=int(o.batch_size),
                            layers="all", **self.encoder)
        return ex.compute(audio.samples)


__all__ = ["DeepSpeechLogits", "HubertClips", "PsfMfcc", "SSLFrames", "Step", "StreamedLogits", "StretchedSSL",
           "Wav2LipMel", "WhisperStates", "hubert_clips", "rad_nerf_windows", "ssl_extractor"]
