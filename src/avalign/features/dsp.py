"""Signal-processing building blocks on numpy/scipy: framing, STFT, mel filter banks.

Pure functions, shapes time-major: an STFT of ``n`` samples is ``(T, n_fft//2 + 1)``.
Filter banks and windows are cached (they are read-only arrays).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal

from ..errors import InputError
from ..timing import stft_num_frames

PAD_MODES = ("constant", "reflect")


def preemphasis(x: np.ndarray, coef: float) -> np.ndarray:
    """``y[t] = x[t] - coef * x[t-1]`` with zero initial state (``lfilter([1, -coef], [1], x)``)."""
    return scipy.signal.lfilter([1.0, -coef], [1.0], x)


@lru_cache(maxsize=32)
def get_window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """Periodic window of ``win_length`` samples, zero-padded to ``n_fft`` at the centre (librosa's rule)."""
    if window in ("rect", "rectangular", "boxcar", "ones"):
        w = np.ones(win_length)
    else:
        w = scipy.signal.get_window(window, win_length, fftbins=True)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = np.pad(w, (left, n_fft - win_length - left))
    w.setflags(write=False)
    return w


def frame(x: np.ndarray, *, frame_length: int, hop: int) -> np.ndarray:
    """Strided view of ``x``: shape ``(1 + (n - frame_length) // hop, frame_length)``."""
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop]


def stft(x: np.ndarray, *, n_fft: int, hop: int, win_length: int | None = None, window: str = "hann",
         center: bool = True, pad_mode: str = "constant", dtype=np.float64) -> np.ndarray:
    """Complex STFT, shape ``(stft_num_frames(n), n_fft // 2 + 1)``, librosa framing.

    ``pad_mode`` is the edge padding of centring: ``constant`` (zeros,
    librosa >= 0.9) or ``reflect`` (librosa < 0.9).
    """
    if pad_mode not in PAD_MODES:
        raise InputError(f"bad pad_mode {pad_mode!r}; expected one of {', '.join(PAD_MODES)}")
    x = np.asarray(x, dtype=dtype)
    if center:
        pad = n_fft // 2
        if pad_mode == "reflect" and x.shape[0] <= pad:
            raise InputError(f"reflect padding needs more than {pad} samples, got {x.shape[0]}")
        x = np.pad(x, pad, mode=pad_mode)
    n_frames = stft_num_frames(x.shape[0], n_fft=n_fft, hop=hop, center=False)
    if n_frames <= 0:
        raise InputError(f"{x.shape[0]} samples are too few for an STFT of n_fft={n_fft}")
    w = get_window(window, win_length or n_fft, n_fft).astype(dtype)
    frames = frame(x, frame_length=n_fft, hop=hop)
    out = np.empty((frames.shape[0], n_fft // 2 + 1), dtype=np.result_type(dtype, np.complex64))
    block = max(1, (1 << 22) // n_fft)  # bounded temporaries for long signals
    for i in range(0, frames.shape[0], block):
        out[i:i + block] = scipy.fft.rfft(frames[i:i + block] * w, axis=-1, workers=-1)
    return out


def spectrogram(x: np.ndarray, *, power: float = 2.0, **stft_args) -> np.ndarray:
    """``|STFT|**power``, shape ``(T, n_fft // 2 + 1)``."""
    s = np.abs(stft(x, **stft_args))
    if power == 1.0:
        return s
    if power == 2.0:
        return np.square(s, out=s)
    return s ** power


def hz_to_mel(freq, *, htk: bool = False):
    """Hz -> mel: HTK ``2595 log10(1 + f/700)`` or Slaney (linear below 1 kHz, log above)."""
    f = np.asanyarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz(mels, *, htk: bool = False):
    """mel -> Hz, inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=32)
def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters, shape ``(n_fft // 2 + 1, n_mels)`` (time-major use: ``S @ fb``).

    Same construction as ``librosa.filters.mel`` (Slaney area normalisation
    with ``norm="slaney"``, none with ``None``).
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    elif norm is not None:
        raise InputError(f"bad mel norm {norm!r}; expected 'slaney' or None")
    fb = np.ascontiguousarray(weights.T)
    fb.setflags(write=False)
    return fb
