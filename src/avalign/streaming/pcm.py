"""Packets of PCM in, samples at the model's rate out: checks, int16 scaling and streaming resampling.

A packet is a 1-D array of ``int16`` (read as ``x / 32768``) or float samples
(``float32`` / ``float64``, in [-1, 1)), of any length including 0 and 1.
A bad packet raises :class:`~avalign.errors.InputError` and leaves the state
as it was, so the rows returned before stay valid and the stream goes on.

Resampling (``rate_in != rate``) runs soxr's ``ResampleStream`` (quality HQ,
float32), the resampler that :func:`avalign.media.resample` runs offline; the
output is capped at ``ceil(n_in * rate / rate_in)`` samples so far, the
offline length rule, and padded or trimmed to it at :meth:`Pcm.finish`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Accepted input rates, Hz.
MIN_RATE, MAX_RATE = 1000, 768000


def check_rate(rate, what: str = "input sample rate") -> int:
    """``rate`` as an int in ``[MIN_RATE, MAX_RATE]`` Hz, else InputError."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) and not (
            isinstance(rate, float) and float(rate).is_integer()):
        raise InputError(f"bad {what} {rate!r}: expected a whole number of Hz such as 16000 or 48000")
    rate = int(rate)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"bad {what} {rate} Hz: expected {MIN_RATE} to {MAX_RATE} Hz")
    return rate


def as_float32(pcm) -> np.ndarray:
    """A packet as float32 samples in [-1, 1): int16 / 32768, float as is. InputError for anything else."""
    x = np.asarray(pcm)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise InputError(f"a packet must be 1-D mono samples, got shape {x.shape}")
    if x.dtype == np.int16:
        return x.astype(np.float32) / np.float32(32768.0)
    if x.dtype not in (np.float32, np.float64):
        raise InputError(f"packets must be int16, float32 or float64 samples, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise InputError("packet contains NaN or infinite samples; the stream keeps its state and earlier rows")
    return x


class Pcm:
    """Input stage of a stream: packets at ``rate_in`` -> float32 samples at ``rate``."""

    def __init__(self, *, rate_in: int, rate: int):
        self.rate_in = check_rate(rate_in)
        self.rate = int(rate)
        self.n_in = 0  # samples received at rate_in
        self.n_out = 0  # samples handed on at rate
        self._held = np.zeros(0, np.float32)  # resampled samples beyond the length known so far
        self._soxr = None
        if self.rate_in != self.rate:
            import soxr

            self._soxr = soxr.ResampleStream(self.rate_in, self.rate, 1, dtype="float32", quality="soxr_hq")

    @property
    def resampling(self) -> bool:
        return self._soxr is not None

    def _cap(self) -> int:
        return -(-self.n_in * self.rate // self.rate_in)

    def push(self, pcm) -> np.ndarray:
        """Samples at :attr:`rate` that became available with this packet (float32)."""
        x = as_float32(pcm)  # raises before any state changes
        self.n_in += x.shape[0]
        if self._soxr is None:
            self.n_out += x.shape[0]
            return x
        y = self._soxr.resample_chunk(x, last=False)
        return self._release(np.concatenate([self._held, y]) if self._held.size else y)

    def _release(self, y: np.ndarray) -> np.ndarray:
        take = max(0, min(y.shape[0], self._cap() - self.n_out))
        self._held = y[take:]
        self.n_out += take
        return y[:take]

    def finish(self) -> np.ndarray:
        """The last samples: the resampler's tail, padded or trimmed to ``ceil(n_in * rate / rate_in)``."""
        if self._soxr is None:
            return np.zeros(0, np.float32)
        y = self._soxr.resample_chunk(np.zeros(0, np.float32), last=True)
        y = np.concatenate([self._held, y])
        want = self._cap() - self.n_out
        if y.shape[0] < want:
            y = np.concatenate([y, np.zeros(want - y.shape[0], np.float32)])
        self._held = np.zeros(0, np.float32)
        self.n_out += want
        return y[:want]
