"""The weight-free offset: audio onsets against picture changes, on a 1 ms grid of the video clock.

Audio: spectral flux of a log-mel (16 bands, 8 ms Hann windows every 1 ms),
each frame stamped with the millisecond of the samples that entered it, so an
onset is dated by its first samples. Video: the mean absolute difference of
consecutive frames (whole frame or a crop), and of that its rectified
increase, placed at each frame's own timestamp (variable rates included), so
that a flash or a start of motion is one impulse at the instant the frame is
shown. The offset is the shift that maximises the correlation of the two.

Sign: ``offset_ms > 0`` means the sound comes that much too early (the audio
leads the picture); ``avalign extract --offset-ms offset_ms``, which moves
the audio later, puts it back in sync. syncnet_python's AV offset has the
same sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import dsp

#: Grid step of both signals, in samples at 16 kHz (1 ms).
HOP = 16
#: Analysis window of the log-mel, in samples (8 ms).
N_FFT = 128
N_MELS = 16
#: Floor of the log-mel power, relative to the loudest band value (-50 dB).
FLOOR = 1e-5
SAMPLE_RATE = 16000


def audio_onsets(samples: np.ndarray, *, num_ms: int) -> np.ndarray:
    """Onset strength per millisecond, float64 ``(num_ms,)``, for 16 kHz mono ``samples`` on the video clock.

    Entry ``k`` is the flux brought by samples ``[16 k, 16 k + 16)``: frame
    ``k`` covers ``[16 k - 112, 16 k + 16)`` and the flux is the sum over bands
    of ``max(0, L[k] - L[k - 1])`` with ``L`` the log power.
    """
    x = np.zeros(N_FFT - HOP + num_ms * HOP, np.float32)
    n = min(samples.shape[0], num_ms * HOP)
    x[N_FFT - HOP:N_FFT - HOP + n] = samples[:n]
    fb = dsp.mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    power = dsp.mel_spectrogram(x, filterbank=fb, n_fft=N_FFT, hop=HOP, center=False, power=2.0)
    log = np.log(power.astype(np.float64) + FLOOR * max(float(power.max()), 1e-20))
    flux = np.zeros(num_ms)
    m = min(num_ms, log.shape[0])
    flux[1:m] = np.maximum(np.diff(log[:m], axis=0), 0.0).sum(axis=1)
    return flux


def video_onsets(times: np.ndarray, energy: np.ndarray, *, num_ms: int) -> np.ndarray:
    """Rectified increase of the frame-difference ``energy``, as impulses at each frame's millisecond.

    ``times``: seconds of each frame on the video clock; ``energy[i]``: the
    change from frame ``i - 1`` to frame ``i`` (0 for frame 0). Returns float64 ``(num_ms,)``.
    """
    rise = np.maximum(np.diff(np.asarray(energy, np.float64), prepend=0.0), 0.0)
    rise[0] = 0.0
    idx = np.floor(np.asarray(times) * 1000 + 1e-6).astype(np.int64)
    out = np.zeros(num_ms)
    keep = (idx >= 0) & (idx < num_ms)
    np.add.at(out, idx[keep], rise[keep])
    return out


def frame_change(images) -> tuple[np.ndarray, np.ndarray]:
    """``(times, energy)`` from ``(time, gray image)`` pairs: mean absolute difference of consecutive frames."""
    times, energy, prev = [], [], None
    for t, img in images:
        cur = img.astype(np.int16)
        energy.append(0.0 if prev is None else float(np.abs(cur - prev).mean()))
        times.append(t)
        prev = cur
    order = np.argsort(np.asarray(times), kind="stable")
    return np.asarray(times)[order], np.asarray(energy)[order]


@dataclass(frozen=True)
class OnsetMatch:
    """Correlation of the two onset signals per candidate offset.

    ``offsets_ms``: int64 ``(2 S + 1,)``, ascending; ``score``: the normalised
    correlation at each; ``offset_ms``: the best; ``confidence``: peak-to-sidelobe
    ratio (peak minus mean of the scores farther than ``exclude_ms`` from it, over their std).
    """

    offsets_ms: np.ndarray
    score: np.ndarray
    offset_ms: float
    confidence: float


def correlate(audio: np.ndarray, video: np.ndarray, *, max_shift_ms: int, exclude_ms: int = 20) -> OnsetMatch:
    """Best offset of ``audio`` against ``video`` onsets (both on the 1 ms grid), within ``+-max_shift_ms``.

    The score of offset ``o`` pairs the picture at ``k`` with the sound at ``k - o``
    (sound ``o`` ms early), both signals zero-mean and unit-norm.
    """
    a = audio - audio.mean()
    v = video - video.mean()
    a /= max(np.linalg.norm(a), 1e-12)
    v /= max(np.linalg.norm(v), 1e-12)
    n = a.shape[0]
    offsets = np.arange(-max_shift_ms, max_shift_ms + 1, dtype=np.int64)
    # full cross-correlation by FFT: c[s] = sum_k v[k] a[k + s]; offset o = -s
    size = 1 << int(np.ceil(np.log2(2 * n + 1)))
    spec = np.fft.rfft(a, size) * np.conj(np.fft.rfft(v, size))
    full = np.fft.irfft(spec, size)
    score = full[(-offsets) % size]
    best = int(np.argmax(score))
    side = np.abs(offsets - offsets[best]) > exclude_ms
    rest = score[side]
    sd = float(rest.std()) if rest.size > 1 else 0.0
    psr = float((score[best] - rest.mean()) / sd) if sd > 0 else 0.0
    return OnsetMatch(offsets, score, float(offsets[best]), psr)
