"""Spectral features: mel spectrograms and MFCCs with every knob the published systems use.

``Mel()`` is a plain log-mel (25 ms / 10 ms at 16 kHz, 80 bands). ``Mel(**WAV2LIP_MEL)``
is the Tacotron-style recipe of Wav2Lip and its descendants (B1 in conventions.md);
add ``pad_mode="reflect"`` for librosa < 0.9 (Wav2Lip pinned 0.7).
``Mel(**LIBROSA_MFCC)`` equals ``librosa.feature.mfcc`` with its defaults.
``MFCC()`` equals ``python_speech_features.mfcc`` (syncnet_python, DeepSpeech lineage).

numpy and scipy's compiled kernels only; librosa and python_speech_features are test-time references.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..media import Audio
from ..threads import run_parts
from ..timing import FrameGrid, psf_num_frames, stft_num_frames
from . import dsp, kernels
from .base import Extractor

#: Level recipes: how magnitudes become feature values.
LEVELS = ("log", "log10", "db", "wav2lip", "none")
#: Bytes of float64 frames per block in :meth:`MFCC.compute` (kept small so the temporaries stay in cache).
MFCC_BLOCK_BYTES = 1 << 20
#: Values per thread, at least, before :func:`apply_level` is split across threads (row ranges).
LEVEL_SPLIT = 1 << 20
PRECISIONS = ("float32", "float64")


@dataclass(frozen=True)
class MelConfig:
    """Mel spectrogram settings. Samples and Hz.

    ``pad_mode``: edge padding of the centred STFT, ``constant`` (zeros,
    librosa >= 0.9) or ``reflect`` (librosa < 0.9). ``htk``/``norm``: mel
    scale (Slaney or HTK) and filter normalisation (``slaney`` area or None).
    ``preemphasis``: ``y[t] = x[t] - k x[t-1]`` before the STFT (0 = off).

    ``level``: ``log`` = ``ln(max(S, amin))``; ``log10``; ``db`` =
    ``10*log10(max(S, amin))`` for power 2 (``20/power*log10`` otherwise), then
    ``max(db, db.max() - top_db)`` when ``top_db`` is set (librosa's
    ``power_to_db`` / ``amplitude_to_db`` with ``ref=1``); ``wav2lip`` =
    ``clip(2m*(20*log10(max(S, 10**(min_level_db/20))) - ref_level_db - min_level_db)/(-min_level_db) - m, -m, m)``
    with ``m = max_abs_value`` (Wav2Lip's symmetric [-4, 4]); ``none``.

    ``n_mfcc > 0`` turns the levelled mel into cepstra: DCT-II (orthonormal)
    over the mel axis, first ``n_mfcc`` kept, then librosa's lifter
    ``1 + lifter/2 * sin(pi * (k+1) / lifter)`` when ``lifter > 0``
    (``librosa.feature.mfcc``).

    ``precision``: arithmetic of the STFT and filters (``float32``, the fast
    default, agrees with float64 to ~1e-5 on the Wav2Lip scale; or ``float64``).
    """

    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"
    preemphasis: float = 0.0
    level: str = "log"
    amin: float = 1e-10
    top_db: float | None = None
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0
    n_mfcc: int = 0
    lifter: float = 0.0
    precision: str = "float32"

    def __post_init__(self):
        if self.level not in LEVELS:
            raise InputError(f"bad mel level {self.level!r}; expected one of {', '.join(LEVELS)}")
        if self.pad_mode not in dsp.PAD_MODES:
            raise InputError(f"bad pad_mode {self.pad_mode!r}; expected one of {', '.join(dsp.PAD_MODES)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"bad precision {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if int(getattr(self, name)) <= 0:
                raise InputError(f"mel {name} must be positive")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise InputError(f"mel win_length {self.win_length} must be in 1..n_fft ({self.n_fft})")
        if self.power <= 0:
            raise InputError(f"mel power must be positive, got {self.power}")
        if not 0 <= self.n_mfcc <= self.n_mels:
            raise InputError(f"n_mfcc {self.n_mfcc} must be in 0..n_mels ({self.n_mels})")
        if self.fmax is not None and self.fmax > self.sample_rate / 2:
            raise InputError(f"mel fmax {self.fmax} Hz is above the Nyquist frequency {self.sample_rate / 2} Hz")


#: Wav2Lip's hparams (B1): 16 kHz, n_fft 800, hop 200, 80 mels 55-7600 Hz, magnitude, pre-emphasis 0.97.
#: Zero-padded centring (librosa >= 0.9, SadTalker); add ``pad_mode="reflect"`` for Wav2Lip's librosa 0.7.
WAV2LIP_MEL = dict(sample_rate=16000, n_fft=800, hop_length=200, win_length=800, power=1.0, n_mels=80,
                   fmin=55.0, fmax=7600.0, preemphasis=0.97, level="wav2lip")

#: ``librosa.feature.mfcc`` defaults (n_mfcc 20, n_fft 2048, hop 512, 128 Slaney mels, power_to_db with top_db 80).
LIBROSA_MFCC = dict(n_fft=2048, hop_length=512, n_mels=128, power=2.0, level="db", amin=1e-10, top_db=80.0,
                    n_mfcc=20)


def level_rows(s: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """:func:`apply_level` in place on ``(T, n_mels)``, on several threads for long inputs (row ranges;
    the whole array at once where the level needs its maximum)."""
    if cfg.level == "db" and cfg.top_db is not None:
        return apply_level(s, cfg)
    run_parts(lambda a, b: apply_level(s[a:b], cfg), s.shape[0], min_part=LEVEL_SPLIT // max(s[:1].size, 1))
    return s


def apply_level(s: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Turn mel magnitudes/powers ``(T, n_mels)`` into values by ``cfg.level`` (in place when possible)."""
    t = s.dtype.type
    if cfg.level == "none":
        return s
    if cfg.level in ("log", "log10"):
        np.maximum(s, t(cfg.amin), out=s)
        return np.log(s, out=s) if cfg.level == "log" else np.log10(s, out=s)
    if cfg.level == "db":
        factor = 10.0 if cfg.power == 2.0 else 20.0 / cfg.power
        np.maximum(s, t(cfg.amin), out=s)
        np.log10(s, out=s)
        s *= t(factor)
        if cfg.top_db is not None and s.size:
            np.maximum(s, s.max() - t(cfg.top_db), out=s)
        return s
    # wav2lip: amp_to_db - ref_level_db, then symmetric normalisation to [-m, m], folded into one scale + offset
    min_level = np.exp(cfg.min_level_db / 20 * np.log(10))
    m = cfg.max_abs_value
    scale = 2 * m / (-cfg.min_level_db)
    np.maximum(s, t(min_level), out=s)
    np.log10(s, out=s)
    s *= t(20.0 * scale)
    s += t((-cfg.ref_level_db - cfg.min_level_db) * scale - m)
    return np.clip(s, -m, m, out=s)


def cepstra(logmel: np.ndarray, n_mfcc: int, lifter: float = 0.0) -> np.ndarray:
    """DCT-II (orthonormal) of ``(T, n_mels)`` log-mel rows, first ``n_mfcc``; librosa's lifter when > 0."""
    out = np.ascontiguousarray(kernels.dct_ortho(logmel, axis=1)[:, :n_mfcc])
    if lifter > 0:
        out *= (1 + (lifter / 2) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter)).astype(out.dtype)
    return out


class Mel(Extractor):
    """Mel spectrogram ``(T, n_mels)`` (or cepstra ``(T, n_mfcc)``); frame ``t`` centred at sample ``hop * t``.

    ``T = 1 + n // hop`` when centred, ``1 + (n - n_fft) // hop`` otherwise.

    Examples
    --------
    >>> from avalign.features.spectral import Mel, WAV2LIP_MEL
    >>> import numpy as np
    >>> Mel(**WAV2LIP_MEL, pad_mode="reflect").compute(np.zeros(16000, np.float32)).shape
    (81, 80)
    """

    name = "mel"
    Config = MelConfig

    def num_frames(self, n_samples: int) -> int:
        c = self.config
        return max(stft_num_frames(n_samples, n_fft=c.n_fft, hop=c.hop_length, center=c.center), 0)

    @property
    def min_samples(self) -> int:
        c = self.config
        if not c.center:
            return c.n_fft
        return 2 if c.pad_mode == "reflect" else 1

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        c = self.config
        return FrameGrid.from_stft(n_samples, sample_rate=c.sample_rate, hop=c.hop_length, n_fft=c.n_fft,
                                   center=c.center, win_length=c.win_length, t0=Fraction(t0))

    def filterbank(self) -> np.ndarray:
        """Mel filters ``(n_fft // 2 + 1, n_mels)`` (cached)."""
        c = self.config
        return dsp.mel_filterbank(sample_rate=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin,
                                  fmax=c.fmax, htk=c.htk, norm=c.norm)

    def compute(self, samples: np.ndarray, *, order: str = "C") -> np.ndarray:
        """Samples ``(n,)`` -> float32 values ``(T, n_mels)`` or ``(T, n_mfcc)``.

        ``order="F"``: the same values stored band by band (``values.T`` C-contiguous).
        """
        c = self.config
        dtype = np.dtype(c.precision)
        mel = dsp.mel_spectrogram(samples, filterbank=self.filterbank(), n_fft=c.n_fft, hop=c.hop_length,
                                  win_length=c.win_length, window=c.window, center=c.center, pad_mode=c.pad_mode,
                                  power=c.power, preemph=c.preemphasis, dtype=dtype, order=order)
        out = level_rows(mel, c)
        if c.n_mfcc:
            out = cepstra(out, c.n_mfcc, c.lifter)
        out = out.astype(np.float32, copy=False)
        return np.asfortranarray(out) if order == "F" else out


@dataclass(frozen=True)
class MFCCConfig:
    """MFCC settings; defaults are python_speech_features' ``mfcc`` (seconds for ``winlen`` / ``winstep``).

    ``input_scale="int16"`` computes on int16 magnitudes (syncnet_python and
    the DeepSpeech lineage read WAVs with ``scipy.io.wavfile`` as int16);
    float audio given to :meth:`MFCC.extract` is scaled by 32768 (rounded,
    clipped) first. ``window`` is psf's ``winfunc``: ``rect`` (psf's default,
    no window) or a scipy window name (``hamming``: ``numpy.hamming``, symmetric).
    """

    sample_rate: int = 16000
    winlen: float = 0.025
    winstep: float = 0.01
    numcep: int = 13
    nfilt: int = 26
    nfft: int = 512
    lowfreq: float = 0.0
    highfreq: float | None = None
    preemph: float = 0.97
    ceplifter: int = 22
    append_energy: bool = True
    input_scale: str = "float"
    window: str = "rect"

    def __post_init__(self):
        if self.input_scale not in ("float", "int16"):
            raise InputError(f"bad input_scale {self.input_scale!r}; expected 'float' or 'int16'")
        if self.frame_len <= 0 or self.frame_step <= 0:
            raise InputError("mfcc winlen and winstep must give at least one sample")
        if not 0 < self.numcep <= self.nfilt:
            raise InputError(f"numcep {self.numcep} must be in 1..nfilt ({self.nfilt})")

    @property
    def frame_len(self) -> int:
        """Window in samples (psf's round-half-up of ``winlen * sample_rate``)."""
        return _round_half_up(self.winlen * self.sample_rate)

    @property
    def frame_step(self) -> int:
        """Hop in samples (psf's round-half-up of ``winstep * sample_rate``)."""
        return _round_half_up(self.winstep * self.sample_rate)


def _round_half_up(x: float) -> int:
    import decimal

    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


@lru_cache(maxsize=8)
def _psf_window(name: str, length: int) -> np.ndarray:
    if name in ("rect", "rectangular", "boxcar", "ones"):
        return np.ones(length)
    import scipy.signal

    try:
        return scipy.signal.get_window(name, length, fftbins=False)
    except ValueError as exc:
        raise InputError(f"bad mfcc window {name!r}: {exc}") from None


class MFCC(Extractor):
    """MFCC as python_speech_features computes it, shape ``(T, numcep)``.

    Frames of ``frame_len`` samples every ``frame_step``, the tail frame
    zero-padded: ``T = 1`` if ``n <= frame_len`` else ``1 + ceil((n - frame_len) / frame_step)``.
    Frame ``t`` spans samples ``[step*t, step*t + frame_len)``. Power spectrum
    ``|rfft(frame, nfft)|**2 / nfft`` (frames longer than ``nfft`` are cut, as
    numpy's rfft does), HTK-mel filters, ``log`` (zeros replaced by machine
    epsilon), DCT-II orthonormal, lifter ``1 + L/2 sin(pi k / L)``, and
    ``c0 = log(frame energy)`` when ``append_energy``. float64 throughout.
    """

    name = "mfcc"
    Config = MFCCConfig

    @property
    def input_scale(self) -> str:
        return self.config.input_scale

    def num_frames(self, n_samples: int) -> int:
        return psf_num_frames(n_samples, frame_len=self.config.frame_len, step=self.config.frame_step)

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        c = self.config
        return FrameGrid.from_framing(n_samples, sample_rate=c.sample_rate, frame_len=c.frame_len,
                                      step=c.frame_step, t0=Fraction(t0))

    def prepare(self, audio: Audio) -> Audio:
        """Also bring the samples to :attr:`input_scale` (float [-1, 1) or int16 magnitudes)."""
        scale = getattr(audio, "scale", "float")
        if scale != self.config.input_scale:
            x = audio.samples
            if self.config.input_scale == "int16":
                x = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.float32)
            else:
                x = (x / 32768.0).astype(np.float32)
            audio = dataclasses.replace(audio, samples=x, scale=self.config.input_scale)
        return super().prepare(audio)

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Samples ``(n,)`` (at :attr:`input_scale`) -> float32 ``(T, numcep)``."""
        c = self.config
        samples = np.asarray(samples)
        n_frames = self.num_frames(samples.shape[0])
        x = np.zeros(max((n_frames - 1) * c.frame_step + c.frame_len, samples.shape[0]))  # zero-padded tail
        if c.preemph:
            dsp.preemphasis(samples, c.preemph, out=x[: samples.shape[0]])
        else:
            x[: samples.shape[0]] = samples
        frames = dsp.frame(x, frame_length=c.frame_len, hop=c.frame_step)[:n_frames]
        width = min(c.frame_len, c.nfft)  # numpy's rfft cuts frames longer than nfft
        windowed = c.window not in ("rect", "rectangular", "boxcar", "ones")
        win = _psf_window(c.window, c.frame_len)[:width]
        project = dsp.filter_projection(dsp.psf_filterbank(nfilt=c.nfilt, nfft=c.nfft, sample_rate=c.sample_rate,
                                                          lowfreq=c.lowfreq, highfreq=c.highfreq))
        eps = np.finfo(np.float64).eps
        energy = np.empty(n_frames)
        feat = np.empty((n_frames, c.nfilt))
        block = max(1, MFCC_BLOCK_BYTES // (8 * c.nfft))
        buf = np.zeros((min(block, n_frames), c.nfft))  # zero tail = rfft's padding to nfft, written once
        pspec_t = np.empty((c.nfft // 2 + 1, min(block, n_frames)))  # bins x frames
        for i in range(0, n_frames, block):
            f = frames[i:i + block, :width]
            n = f.shape[0]
            if windowed:
                np.multiply(f, win, out=buf[:n, :width])
            else:
                buf[:n, :width] = f
            p = pspec_t[:, :n]
            np.abs(kernels.rfft(buf[:n], axis=-1).T, out=p)
            np.square(p, out=p)
            p *= 1.0 / c.nfft
            np.sum(p, axis=0, out=energy[i:i + n])
            feat[i:i + n] = project(p).T
        energy[energy == 0] = eps
        feat[feat == 0] = eps
        np.log(feat, out=feat)
        out = kernels.dct_ortho(feat, axis=1)[:, : c.numcep]
        if c.ceplifter > 0:
            out *= 1 + (c.ceplifter / 2.0) * np.sin(np.pi * np.arange(c.numcep) / c.ceplifter)
        if c.append_energy:
            out[:, 0] = np.log(energy)
        return out.astype(np.float32)
