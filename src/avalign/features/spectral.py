"""Spectral features: mel spectrograms with every knob the published systems use.

``Mel()`` is a plain log-mel (25 ms / 10 ms at 16 kHz, 80 bands). ``Mel(**WAV2LIP_MEL)``
is the Tacotron-style recipe of Wav2Lip and its descendants (B1 in conventions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..timing import FrameGrid, stft_num_frames
from . import dsp
from .base import Extractor

#: Level recipes: how magnitudes become feature values.
LEVELS = ("log", "log10", "db", "wav2lip", "none")


@dataclass(frozen=True)
class MelConfig:
    """Mel spectrogram settings. Samples and Hz; ``pad_mode`` "constant" is librosa >= 0.9, "reflect" < 0.9.

    ``level``: ``log`` = ``ln(max(S, amin))``; ``log10``; ``db`` =
    ``10*log10(max(S, amin))`` for power 2 (``20*log10`` for power 1), with
    ``top_db`` clipping; ``wav2lip`` = ``clip(8*(20*log10(max(S,1e-5)) - 20 + 100)/100 - 4, -4, 4)``
    (symmetric, ``ref_level_db``, ``min_level_db``, ``max_abs_value``); ``none``.
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

    def __post_init__(self):
        if self.level not in LEVELS:
            raise InputError(f"bad mel level {self.level!r}; expected one of {', '.join(LEVELS)}")
        if self.pad_mode not in dsp.PAD_MODES:
            raise InputError(f"bad pad_mode {self.pad_mode!r}; expected one of {', '.join(dsp.PAD_MODES)}")
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if int(getattr(self, name)) <= 0:
                raise InputError(f"mel {name} must be positive")


#: Wav2Lip's hparams (B1): 16 kHz, n_fft 800, hop 200, 80 mels 55-7600 Hz, magnitude, pre-emphasis 0.97.
WAV2LIP_MEL = dict(sample_rate=16000, n_fft=800, hop_length=200, win_length=800, power=1.0, n_mels=80,
                   fmin=55.0, fmax=7600.0, preemphasis=0.97, level="wav2lip")


def apply_level(s: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Turn mel magnitudes/powers ``(T, n_mels)`` into values by ``cfg.level``."""
    if cfg.level == "none":
        return s
    if cfg.level == "log":
        return np.log(np.maximum(s, cfg.amin))
    if cfg.level == "log10":
        return np.log10(np.maximum(s, cfg.amin))
    if cfg.level == "db":
        factor = 10.0 if cfg.power == 2.0 else 20.0 / cfg.power
        db = factor * np.log10(np.maximum(s, cfg.amin))
        if cfg.top_db is not None:
            db = np.maximum(db, db.max() - cfg.top_db)
        return db
    # wav2lip: amp_to_db - ref_level_db, then symmetric normalisation to [-max_abs, max_abs]
    min_level = np.exp(cfg.min_level_db / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, s)) - cfg.ref_level_db
    m = cfg.max_abs_value
    return np.clip((2 * m) * ((db - cfg.min_level_db) / (-cfg.min_level_db)) - m, -m, m)


class Mel(Extractor):
    """Mel spectrogram, shape ``(T, n_mels)``; frame ``t`` centred at sample ``hop * t`` when centred."""

    name = "mel"
    Config = MelConfig

    def num_frames(self, n_samples: int) -> int:
        c = self.config
        return stft_num_frames(n_samples, n_fft=c.n_fft, hop=c.hop_length, center=c.center)

    @property
    def min_samples(self) -> int:
        c = self.config
        if not c.center:
            return c.n_fft
        return c.n_fft // 2 + 1 if c.pad_mode == "reflect" else 1

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        c = self.config
        return FrameGrid.from_stft(n_samples, sample_rate=c.sample_rate, hop=c.hop_length, n_fft=c.n_fft,
                                   center=c.center, win_length=c.win_length, t0=Fraction(t0))

    def filterbank(self) -> np.ndarray:
        """Mel filters ``(n_fft // 2 + 1, n_mels)`` (cached)."""
        c = self.config
        return dsp.mel_filterbank(sample_rate=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin,
                                  fmax=c.fmax, htk=c.htk, norm=c.norm)

    def compute(self, samples: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.asarray(samples, dtype=np.float64)
        if c.preemphasis:
            x = dsp.preemphasis(x, c.preemphasis)
        spec = dsp.spectrogram(x, power=c.power, n_fft=c.n_fft, hop=c.hop_length, win_length=c.win_length,
                               window=c.window, center=c.center, pad_mode=c.pad_mode)
        mel = spec @ self.filterbank()
        return apply_level(mel, c).astype(np.float32)


@dataclass(frozen=True)
class MFCCConfig:
    """MFCC settings; defaults are python_speech_features' ``mfcc`` (seconds for ``winlen`` / ``winstep``).

    ``input_scale="int16"`` computes on int16 magnitudes (syncnet_python and
    the DeepSpeech lineage read WAVs as int16).
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

    @property
    def frame_len(self) -> int:
        """Window in samples (psf's round-half-up of ``winlen * sample_rate``)."""
        return _round_half_up(self.winlen * self.sample_rate)

    @property
    def frame_step(self) -> int:
        return _round_half_up(self.winstep * self.sample_rate)


def _round_half_up(x: float) -> int:
    import decimal

    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def psf_filterbank(nfilt: int, nfft: int, sample_rate: int, lowfreq: float, highfreq: float | None) -> np.ndarray:
    """python_speech_features' HTK-mel triangular filters on FFT bins, shape ``(nfft // 2 + 1, nfilt)``."""
    highfreq = highfreq or sample_rate / 2
    mel = np.linspace(dsp.hz_to_mel(lowfreq, htk=True), dsp.hz_to_mel(highfreq, htk=True), nfilt + 2)
    bins = np.floor((nfft + 1) * dsp.mel_to_hz(mel, htk=True) / sample_rate)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        for i in range(int(bins[j]), int(bins[j + 1])):
            fb[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            fb[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return np.ascontiguousarray(fb.T)


class MFCC(Extractor):
    """MFCC as python_speech_features computes it, shape ``(T, numcep)``.

    Frames of ``frame_len`` samples every ``frame_step``, the tail frame
    zero-padded: ``T = 1`` if ``n <= frame_len`` else ``1 + ceil((n - frame_len) / frame_step)``.
    Frame ``t`` spans samples ``[step*t, step*t + frame_len)``.
    """

    name = "mfcc"
    Config = MFCCConfig

    @property
    def input_scale(self) -> str:
        return self.config.input_scale

    def num_frames(self, n_samples: int) -> int:
        from ..timing import psf_num_frames

        return psf_num_frames(n_samples, frame_len=self.config.frame_len, step=self.config.frame_step)

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        c = self.config
        return FrameGrid.from_framing(n_samples, sample_rate=c.sample_rate, frame_len=c.frame_len,
                                      step=c.frame_step, t0=Fraction(t0))

    def compute(self, samples: np.ndarray) -> np.ndarray:
        import scipy.fft

        c = self.config
        x = np.asarray(samples, dtype=np.float64)
        if c.preemph:
            x = np.append(x[:1], x[1:] - c.preemph * x[:-1])
        n_frames = self.num_frames(x.shape[0])
        pad = (n_frames - 1) * c.frame_step + c.frame_len - x.shape[0]
        x = np.concatenate([x, np.zeros(max(pad, 0))])
        frames = dsp.frame(x, frame_length=c.frame_len, hop=c.frame_step)[:n_frames]
        if c.frame_len > c.nfft:
            frames = frames[:, : c.nfft]
        pspec = np.square(np.abs(np.fft.rfft(frames, c.nfft))) / c.nfft
        energy = pspec.sum(axis=1)
        energy = np.where(energy == 0, np.finfo(float).eps, energy)
        feat = pspec @ psf_filterbank(c.nfilt, c.nfft, c.sample_rate, c.lowfreq, c.highfreq)
        feat = np.where(feat == 0, np.finfo(float).eps, feat)
        feat = scipy.fft.dct(np.log(feat), type=2, axis=1, norm="ortho")[:, : c.numcep]
        if c.ceplifter > 0:
            feat = feat * (1 + (c.ceplifter / 2.0) * np.sin(np.pi * np.arange(c.numcep) / c.ceplifter))
        if c.append_energy:
            feat[:, 0] = np.log(energy)
        return feat.astype(np.float32)
