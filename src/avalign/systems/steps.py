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

import math
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

        mel = Mel(**WAV2LIP_MEL, pad_mode=req.options.pad_mode)
        # band by band: the layout of the [80, 16] windows every preset of this step cuts (no transposed copy)
        return mel.compute(audio.samples[:self.length(req.n_samples)], order="F")


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
class StretchCall:
    """One model call of :class:`StretchedSSL`, known without the model.

    Samples ``[start, stop)`` of the audio are normalised together, then cut or padded to ``length`` samples
    (``fill``: ``zeros``, or ``replicate`` the last sample), and the conv features of those ``length``
    samples are stretched to ``frames`` rows. ``start`` is a whole number of conv hops (320 samples), so the
    call's conv frame ``t`` reads audio samples ``[start + 320 t, start + 320 t + 400)`` (past ``stop``: padding).
    """

    start: int
    stop: int
    length: int
    frames: int
    fill: str = "zeros"

    def __post_init__(self):
        if self.start % SSL_HOP:
            raise ValueError(f"stretch call starts at sample {self.start}, not a whole number of {SSL_HOP}-sample hops")

    def input(self, samples: np.ndarray, normalise: Callable) -> np.ndarray:
        """The model input, float32 ``(length,)``: ``normalise(samples[start:stop])`` cut or padded."""
        x = normalise(samples[self.start:self.stop])
        if self.length <= x.shape[0]:
            return x[:self.length]
        value = x[-1] if self.fill == "replicate" else 0.0
        return np.concatenate([x, np.full(self.length - x.shape[0], value, np.float32)])


@dataclass(frozen=True)
class StretchedSSL(SSLFrames):
    """Processor normalisation of the whole clip, conv features stretched (``align_corners=True``) to the
    preset's row count before the projection and transformer (FaceFormer, Hallo, AniPortrait, EmoTalk).

    ``skip_embeddings`` drops hidden state 0 of ``output="layers"`` (Hallo keeps layers 1..12).
    ``length(req)``: the stretched frames when they are not the preset's rows (default ``req.rows``).
    ``calls(req)``: the model calls a system makes, a list of :class:`StretchCall` in order, their outputs
    concatenated (default: the whole clip, stretched to ``length``); :meth:`compute` and :meth:`positions`
    both follow it.
    """

    kind: str = "wav2vec2"
    skip_embeddings: bool = False
    length: Callable | None = None
    calls: Callable | None = None
    family: ClassVar[str] = "wav2vec2"

    def plan(self, req) -> list[StretchCall]:
        """The model calls for ``req`` (no model needed)."""
        if self.calls is None:
            return [StretchCall(0, req.n_samples, req.n_samples, self.rows(req))]
        return list(self.calls(req))

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        _too_short(audio.num_samples)
        ex = self.extractor(model, device)
        parts = []
        for c in self.plan(req):
            _too_short(c.length)
            parts.append(ex.encode_stretched(c.input(audio.samples, ex.normalise), c.frames, normalized=True))
        out = np.concatenate(parts, axis=0)
        return out[:, 1:] if self.skip_embeddings else out

    def rows(self, req) -> int:
        return req.rows if self.length is None else int(self.length(req))

    def positions(self, rows, req):
        """Conv frames ``floor(p)`` and ``ceil(p)`` around each row's stretch position ``p = i (T-1)/(N-1)`` in its
        call (row ``i`` of the call's ``N`` rows, ``T`` conv frames of its input), offset by the call's start;
        rows outside are clamped to the first and last. Rows of padding map past the audio."""
        rows = np.asarray(rows, dtype=np.int64)
        plan = self.plan(req)
        k = np.array([max(c.frames, 0) for c in plan], np.int64)
        total = int(k.sum())
        if total == 0:
            zero = np.zeros(rows.shape, np.int64)
            return zero, zero
        t = np.array([max(ssl_num_frames(c.length), 1) for c in plan], np.int64)
        first_row = np.cumsum(k) - k
        r = np.clip(rows, 0, total - 1)
        c = np.searchsorted(first_row + k, r, side="right")
        scale = np.where((k > 1) & (t > 1), (t - 1) / np.maximum(k - 1, 1), 0.0)
        pos = (r - first_row[c]) * scale[c]
        base = np.array([p.start // SSL_HOP for p in plan], np.int64)[c]
        last = t[c] - 1
        return (base + np.clip(np.floor(pos), 0, last).astype(np.int64),
                base + np.clip(np.ceil(pos), 0, last).astype(np.int64))


# ---------------------------------------------------------------------------
# 2024-2026 systems on wav2vec2 / HuBERT / WavLM (systems/gen2025.py)
# ---------------------------------------------------------------------------


def joyvasa_pad(x: np.ndarray, *, unit: int = SSL_HOP, threshold: int = SSL_WINDOW - SSL_HOP) -> np.ndarray:
    """JoyVASA's ``pad_audio``: ``(n,)`` -> ``(n + 2 s,)`` so that HuBERT gives ``n // unit`` frames.

    ``s = ceil((unit * (n // unit) + threshold - n) / 2)`` samples go on each side when ``s >= 0``:
    a reflect pad of ``s // 2`` applied twice (the second reflects the first), then one replicated sample
    when ``s`` is odd. Nothing is added when ``s < 0`` (``n % unit > threshold``).
    """
    x = np.asarray(x, np.float32)
    side = math.ceil((unit * (x.shape[0] // unit) + threshold - x.shape[0]) / 2)
    if side >= 0:
        half, odd = side // 2, side % 2
        if half > 0:
            x = np.pad(np.pad(x, half, mode="reflect"), half, mode="reflect")
        if odd:
            x = np.pad(x, 1, mode="edge")
    return x


def joyvasa_plan(n_samples: int, *, fps: int = 25, motions: int = 100, lead: int = 1280,
                 tail: int = 640) -> tuple[int, int, int]:
    """``(windows, end padding in samples, rows)`` of JoyVASA's ``gen_motion_sequence`` for ``n_samples``.

    The audio gets ``lead`` zeros before and ``tail`` after; ``clip = int(n'/16000*fps)`` frames;
    ``windows = 1`` if ``clip <= motions`` else ``ceil(clip / motions)``; the end is padded by
    ``pad = windows * round(16000/fps * motions) - n'`` samples (none when ``pad <= 0``: the tail past
    the last window is never read) and ``ceil(pad / (16000/fps))`` frames are cut from the last
    window: ``rows = motions * windows - max(that, 0)``. Python float arithmetic, as the system.
    """
    n = int(n_samples) + lead + tail
    unit = 16000.0 / fps
    clip = int(n / 16000 * fps)
    windows = 1 if clip <= motions else math.ceil(clip / motions)
    pad = round(unit * motions) * windows - n
    cut = math.ceil(pad / unit)
    return windows, pad, motions * windows - (cut if pad > 0 else 0)


@dataclass(frozen=True)
class MotionWindows(SSLFrames):
    """JoyVASA's motion windows: HuBERT run alone on each 4 s window, 50 Hz states halved after the
    transformer (``F.interpolate(..., align_corners=False)``: frame ``j`` = mean of states ``2j, 2j+1``).

    ``live_portrait_wmg_wrapper.gen_motion_sequence``: ``lead`` zeros before, ``tail`` after, the end
    padded (option ``pad_mode``: zeros or the last sample) to whole windows of ``motions`` frames;
    ``DitTalkingHead.extract_audio_feature``: each window through :func:`joyvasa_pad`, then HuBERT
    on the raw samples (no waveform normalisation). Frame ``k`` (window ``k // motions``) reads conv
    frames whose samples are ``[640 k - 1320, 640 k - 600)`` of the audio (the 1280-sample lead and the
    40-sample reflect pad before each window).
    """

    motions: int = 100
    lead: int = 1280
    tail: int = 640
    hop: ClassVar[int] = 2 * SSL_HOP
    lo: ClassVar[int] = -1280 - 40
    hi: ClassVar[int] = -1280 - 40 + SSL_HOP + SSL_WINDOW

    def frames(self, n_samples: int, opts) -> int:
        return self.motions * joyvasa_plan(n_samples, motions=self.motions, lead=self.lead, tail=self.tail)[0]

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        windows, pad, _ = joyvasa_plan(audio.num_samples, motions=self.motions, lead=self.lead, tail=self.tail)
        x = np.concatenate([np.zeros(self.lead, np.float32), np.asarray(audio.samples, np.float32),
                            np.zeros(self.tail, np.float32)])
        if pad > 0:
            fill = x[-1] if req.options.pad_mode == "replicate" else 0.0
            x = np.concatenate([x, np.full(pad, fill, np.float32)])
        ex = ssl_extractor(self.kind, model=model, device=device, output="last", normalize="off")
        unit = 16000.0 / 25
        out = []
        for i in range(windows):
            seg = x[round(i * self.motions * unit):round((i + 1) * self.motions * unit)]
            h = ex.infer([joyvasa_pad(seg)])[0]
            if h.shape[0] != 2 * self.motions:
                raise AssertionError(f"JoyVASA window gave {h.shape[0]} HuBERT frames, expected {2 * self.motions}")
            out.append(0.5 * h[0::2] + 0.5 * h[1::2])
        return np.concatenate(out, axis=0)


def ditto_starts(num_frames: int, *, own: int = 5) -> list[int]:
    """First padded sample of each of Ditto's offline chunks: ``int(i * 0.04 * 16000)`` for ``i = 0, own, ...``
    below ``num_frames`` (the system's float expression)."""
    return [int(i * 0.04 * 16000) for i in range(0, int(num_frames), own)]


@dataclass(frozen=True)
class ChunkPairs(SSLFrames):
    """Ditto's offline ``Wav2FeatHubert.wav2feat``: ``num_f = ceil(n/16000*25)`` frames from chunks of
    ``int(sum(context) * 640) + 80`` samples (6480) every ``own`` frames of a stream padded with
    ``6480 - int((own + future) * 640)`` zeros in front (2000) and 6480 behind; each chunk runs alone on
    the raw samples (HuBERT, 20 states), keeps states ``[-(own + future) * 2, -future * 2)`` and averages
    them in pairs: ``own`` frames per chunk. Frame ``k`` reads samples ``[640 k - 80, 640 k + 640)``.
    """

    kind: str = "hubert"
    context: tuple = (3, 5, 2)
    hop: ClassVar[int] = 2 * SSL_HOP
    lo: ClassVar[int] = -80
    hi: ClassVar[int] = 2 * SSL_HOP

    def frames(self, n_samples: int, opts) -> int:
        return math.ceil(int(n_samples) / 16000 * 25)

    @property
    def split(self) -> int:
        """Samples of one chunk: ``int(sum(context) * 0.04 * 16000) + 80``."""
        return int(sum(self.context) * 0.04 * 16000) + 80

    def pairs(self, states: np.ndarray) -> np.ndarray:
        """One chunk's rows from its HuBERT states ``(S, d)`` at 50 Hz: states ``[S - 2 (own + future), S - 2 future)``
        averaged in pairs, ``(own, d)`` at 25 Hz."""
        _past, own, future = self.context
        valid = states[-(own + future) * 2:-future * 2 if future else None]
        return valid.reshape(own, 2, valid.shape[-1]).mean(axis=1)

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        own = self.context[1]
        split = self.split
        front = split - int(sum(self.context[1:]) * 0.04 * 16000)
        x = np.concatenate([np.zeros(front, np.float32), np.asarray(audio.samples, np.float32),
                            np.zeros(split, np.float32)])
        ex = ssl_extractor(self.kind, model=model, device=device, output="last", normalize="off")
        chunks = [x[s:s + split] for s in ditto_starts(req.frames, own=own)]
        size = 1 if ex.group_norm else 32
        out = []
        for b in range(0, len(chunks), size):
            out.extend(self.pairs(y) for y in ex.infer(chunks[b:b + size]))
        if not out:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(out, axis=0)[:req.frames]


def unitalker_splits(n_samples: int, *, long: int = 25, overlap: int = 5, sr: int = 16000) -> list[tuple[int, int]]:
    """UniTalker's ``split_long_audio``: ``[start, stop)`` of ``reps = max(0, ceil((d - 25) / 20)) + 1``
    splits of 25 s every 20 s (the last one shorter)."""
    total = int(n_samples) / sr
    reps = max(0, int(np.ceil((total - long) / (long - overlap)))) + 1
    step, size = int((long - overlap) * sr), int(long * sr)
    return [(i * step, min(i * step + size, int(n_samples))) for i in range(reps)]


def unitalker_rows(n_samples: int, fps) -> tuple[list[int], int]:
    """Rows of each split (``round(len/16000*fps)``) and of the merged output
    (``rows[-1] + 20*fps*(reps-1)``, ``merge_out_list``)."""
    f = int(fps)
    rows = [round((b - a) / 16000 * f) for a, b in unitalker_splits(n_samples)]
    return rows, rows[0] if len(rows) == 1 else rows[-1] + 20 * f * (len(rows) - 1)


@dataclass(frozen=True)
class SplitStretch(SSLFrames):
    """UniTalker's demo: the processor on the whole file, then on each 25 s split again; each split's last
    hidden state stretched (``align_corners=True``) after the transformer to ``round(len/16000*fps)``
    rows (``interpolate_pos: 1``); splits merged as ``merge_out_list`` merges the outputs (5 s linear
    cross-fade). ``kinds`` maps the option ``encoder`` to the extractor kind."""

    kinds: tuple = (("wavlm-base-plus", "wavlm"), ("wav2vec2-large-xlsr-53", "wav2vec2"))
    family: ClassVar[str] = "wavlm"

    def rows(self, req) -> int:
        return req.rows

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features import neural

        torch = neural.torch()

        def stretch(h, rows):  # UniTalker's linear_interpolation, in torch's float32 arithmetic
            t = torch.from_numpy(np.ascontiguousarray(h.T[None]))
            return torch.nn.functional.interpolate(t, size=rows, align_corners=True, mode="linear")[0].T.numpy()

        _too_short(audio.num_samples)
        f = int(req.fps)
        ex = ssl_extractor(dict(self.kinds)[req.options.encoder], model=model, device=device, output="last")
        x = ex.normalise(audio.samples)
        rows, total = unitalker_rows(audio.num_samples, f)
        outs = [stretch(ex.infer([ex.normalise(x[a:b])])[0], r)
                for (a, b), r in zip(unitalker_splits(audio.num_samples), rows)]
        fade, offset = 5 * f, 20 * f
        ramp = np.linspace(1, 0, fade)[:, None]  # weight of the earlier split over the 5 s both cover
        merged = np.empty((total,) + outs[0].shape[1:], outs[0].dtype)
        merged[:outs[0].shape[0]] = outs[0]
        for s, piece in enumerate(outs[1:], start=1):
            lo = s * offset  # split s starts 20 s later; its first 5 s are cross-faded
            merged[lo:lo + fade] = ramp * merged[lo:lo + fade] + (1 - ramp) * piece[:fade]
            merged[lo + fade:lo + piece.shape[0]] = piece[fade:]
        return merged

    def positions(self, rows, req):
        """Conv frames behind each row: the stretch position in every split that holds the row (rows of a
        cross-fade read two splits), split ``s`` starting at conv frame ``1000 s``."""
        r = np.asarray(rows, np.int64)
        f = int(req.fps)
        first = np.full(r.shape, np.iinfo(np.int64).max)
        last = np.full(r.shape, -1, np.int64)
        split_rows, _ = unitalker_rows(req.n_samples, f)
        for s, ((a, b), m) in enumerate(zip(unitalker_splits(req.n_samples), split_rows)):
            t = ssl_num_frames(b - a)
            local = r - 20 * f * s
            inside = (local >= 0) & (local < m)
            pos = local * ((t - 1) / (m - 1)) if m > 1 else np.zeros(r.shape)
            base = (a // SSL_HOP)
            first = np.where(inside, np.minimum(first, base + np.floor(pos).astype(np.int64)), first)
            last = np.where(inside, np.maximum(last, base + np.ceil(pos).astype(np.int64)), last)
        first = np.where(last < 0, 0, first)
        return first, np.maximum(last, first)


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


@dataclass(frozen=True)
class FirstWhisperWindow(WhisperStates):
    """HunyuanVideo-Avatar's ``encode_audio``: only the first 3000 mel frames (30 s) of transformers'
    feature extractor (zero-padded to 30 s, normalised alone) reach the encoder; the log-mel travels as
    float16 (the dataset stores it so) and is cast back to float32 for the encoder; all hidden states
    (the last after the final layer norm): always 1500 frames, those past the audio from the padding."""

    def frames(self, n_samples: int, opts) -> int:
        from ..features.whisper import SEGMENT_FRAMES

        return SEGMENT_FRAMES

    def compute(self, audio, req, *, model=None, device=None) -> np.ndarray:
        from ..features.whisper import SEGMENT_SAMPLES, encoder_inputs, load_encoder

        if audio.num_samples < self.hop:
            raise AudioTooShortError(f"Whisper needs at least {self.hop} samples (one encoder frame), "
                                     f"got {audio.num_samples}")
        m = load_encoder(str(model), device=device, dtype="float32")
        inputs, _ = encoder_inputs(np.asarray(audio.samples, np.float32)[:SEGMENT_SAMPLES], n_mels=m.n_mels,
                                   long="segments", norm="segment", pad="audio")
        return m.states(inputs[:1].astype(np.float16).astype(np.float32), convention="transformers",
                        layers="all")[0]


__all__ = ["ChunkPairs", "DeepSpeechLogits", "FirstWhisperWindow", "HubertClips", "MotionWindows", "PsfMfcc",
           "SSLFrames", "SplitStretch", "Step", "StreamedLogits", "StretchCall", "StretchedSSL", "Wav2LipMel",
           "WhisperStates", "ditto_starts", "hubert_clips", "joyvasa_pad", "joyvasa_plan", "rad_nerf_windows",
           "ssl_extractor", "unitalker_rows", "unitalker_splits"]
