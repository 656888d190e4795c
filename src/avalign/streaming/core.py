"""The :class:`Stream`: PCM packets in, one row per video frame out, at a constant stated delay.

Release rule (exact integers): the row of video frame ``i`` is returned by
the first :meth:`Stream.push` after which the samples received (at the
model's rate) reach ``release(i) = ceil((i + 1) * sr / fps) + lookahead``:
the end of frame ``i`` plus the stream's look-ahead. ``lookahead`` (samples)
is the largest amount by which any row's receptive field (and the offline
rule that decides whether the row exists) reaches past the end of its frame,
found over a whole period of the row pattern, so every row is final when it
is released and all rows wait the same: a renderer that plays frame ``i``
``latency`` seconds after its audio started stays in sync. :meth:`Stream.flush`
ends the audio and returns the rest, counted as offline.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..timing import FrameGrid
from .pcm import Pcm
from .rows import end_samples

#: Largest number of rows scanned to find the look-ahead (one period of the row pattern, plus the start).
MAX_SCAN = 1 << 18


def _period(*ratios: Fraction) -> int:
    """Rows after which the pattern of ``floor(i * r)`` repeats for every ratio ``r``: lcm of denominators."""
    p = 1
    for r in ratios:
        p = p * r.denominator // math.gcd(p, r.denominator)
    return p


class Stream:
    """Incremental features on a video frame grid (build with :func:`avalign.stream`).

    Attributes
    ----------
    fps : Fraction
        Video frames per second.
    sample_rate : int
        Hz the features are computed at; ``sample_rate_in`` is the packets' rate.
    lookahead : int
        Samples (at ``sample_rate``) past the end of a frame that its row waits for.
    latency : float
        Seconds from the start of frame ``i``'s audio to the push that returns its row, at most:
        ``1 / fps + lookahead / sample_rate`` (plus the resampler's own delay when resampling).
    frames_emitted : int
        Rows returned so far.
    """

    def __init__(self, source, plan, *, fps: Fraction, sample_rate_in: int, name: str, period: int = 1):
        self.source, self.plan, self.fps, self.name = source, plan, fps, name
        self.sample_rate = int(source.sample_rate)
        self.pcm = Pcm(rate_in=sample_rate_in, rate=self.sample_rate)
        self.sample_rate_in = self.pcm.rate_in
        self.frames_emitted = 0
        self.ended = False
        self._pending = np.zeros(0, np.float32)  # samples waiting for a whole quantum
        self.quantum = int(getattr(plan, "quantum", 1))
        self.lookahead = self._lookahead(period)

    # -- timing ----------------------------------------------------------------

    def need(self, i) -> np.ndarray:
        """Fewest samples after which row(s) ``i`` are final: frames read and offline existence (int64)."""
        i = np.asarray(i, dtype=np.int64)
        lo, hi = self.plan.span(i)
        frames = self.source.need(np.maximum(hi - 1, 0))
        q = self.quantum
        frames = -(-frames // q) * q  # samples reach the source in whole quanta
        return np.maximum(frames, self.plan.min_samples(i))

    def _lookahead(self, period: int) -> int:
        sr = self.sample_rate
        rows = _period(Fraction(sr) / self.fps, Fraction(self.plan.frame_rate) / self.fps) * max(int(period), 1)
        i = np.arange(min(rows + 256, MAX_SCAN), dtype=np.int64)
        extra = self.need(i) - end_samples(i, sr=sr, fps=self.fps)
        return max(int(extra.max()), 0)

    def release(self, i) -> np.ndarray:
        """Samples after which row(s) ``i`` are returned: end of frame plus :attr:`lookahead` (int64)."""
        return end_samples(i, sr=self.sample_rate, fps=self.fps) + self.lookahead

    @property
    def lookahead_s(self) -> float:
        """:attr:`lookahead` in seconds."""
        return self.lookahead / self.sample_rate

    @property
    def latency(self) -> float:
        return float(1 / self.fps) + self.lookahead_s

    @property
    def samples_received(self) -> int:
        """Samples received so far at :attr:`sample_rate_in`."""
        return self.pcm.n_in

    @property
    def grid(self) -> FrameGrid:
        """Grid of the rows returned so far (video frames from 0)."""
        return FrameGrid.from_video(self.fps, self.frames_emitted)

    # -- data ------------------------------------------------------------------

    def _feed(self, x: np.ndarray) -> None:
        if self.quantum > 1:
            x = np.concatenate([self._pending, x]) if self._pending.size else x
            whole = x.shape[0] // self.quantum * self.quantum
            x, self._pending = x[:whole], x[whole:]
        if x.shape[0]:
            self.source.push(x)

    def push(self, pcm) -> np.ndarray:
        """Feed a packet (int16 or float samples at ``sample_rate_in``, any length).

        Returns the rows ``(k, ...)`` of the video frames that became complete (``k`` may be 0).
        Raises InputError for a bad packet (the stream keeps its state) or after :meth:`flush`.
        """
        if self.ended:
            raise InputError("push after flush: the stream has ended; start a new one")
        self._feed(self.pcm.push(pcm))
        n = self.source.n
        i0 = self.frames_emitted
        # rows are released in order; count those whose release point has been reached
        step = max(1, int(math.ceil(self.fps * Fraction(max(n - int(self.release(i0)), 0), self.sample_rate))) + 1)
        i1 = i0
        while True:
            cand = np.arange(i1, i1 + step, dtype=np.int64)
            ok = np.flatnonzero(self.release(cand) > n)
            if ok.size:
                i1 += int(ok[0])
                break
            i1 += step
        return self._emit(i0, i1, None)

    def flush(self) -> np.ndarray:
        """End the audio; returns the remaining rows, so that all rows equal the offline result."""
        if self.ended:
            raise InputError("flush called twice: the stream has already ended")
        self.ended = True
        self._feed(self.pcm.finish())
        self._pending = np.zeros(0, np.float32)  # a partial quantum is cut, as the system cuts it
        self.source.finish()
        n = self.source.n
        count = self.plan.final_count(n)
        total = self.source.num_frames(n) if n else 0
        return self._emit(self.frames_emitted, max(count, self.frames_emitted), total)

    def _emit(self, i0: int, i1: int, total: int | None) -> np.ndarray:
        rows = self.plan.rows(i0, i1, total) if i1 > i0 else self.plan.empty()
        self.frames_emitted = i1
        if total is None:
            lo, _ = self.plan.span(np.array([i1]))
            self.source.keep_from(max(int(lo[0]) - 2 * getattr(self.plan, "size", 1) - 2, 0))
        return rows

    def __repr__(self) -> str:
        return (f"Stream({self.name}, fps={self.fps}, rate {self.sample_rate_in} -> {self.sample_rate} Hz, "
                f"look-ahead {self.lookahead} samples, latency {self.latency * 1000:.1f} ms, "
                f"{self.frames_emitted} rows out)")
