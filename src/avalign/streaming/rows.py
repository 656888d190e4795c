"""Rows of video frames from final feature frames: the rule of each row, which frames it reads, when it exists.

A row plan answers, for video frame(s) ``i``: :meth:`span` -- the feature
frames ``[lo, hi)`` it reads (mid-stream, before the end is known);
:meth:`min_samples` -- the fewest samples from which on the offline result
has that row, whatever follows; :meth:`final_count` -- the offline row count
for ``n`` samples; and
:meth:`rows` -- the values of rows ``[i0, i1)`` from the source's final frames.
Each plan repeats its offline rule's arithmetic on global indices (exact
integers, or the same float operations on the same float times), so the rows
are those of :func:`avalign.extract` bit for bit.

Feature plans follow :func:`avalign.align` (``linear``, ``nearest``,
``index``, with ``window`` / ``anchor`` / ``edge``); preset plans follow the
spectral presets (``wav2lip``, ``sadtalker``, ``syncnet``, ``synctalk-mel``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..align import take, windows
from ..errors import InputError
from ..timing import num_frames_for_duration

#: Alignment methods a stream runs (``stretch`` needs the clip's length; ``stack``/``pool`` not yet).
METHODS = ("interval", "linear", "nearest", "index")
_LINEAR = ("interval", "linear")  # interpolated rows (interval: at the middle of each frame's display interval)


def end_samples(i, *, sr: int, fps: Fraction):
    """Samples that cover video frame(s) ``i`` to their end: ``ceil((i + 1) * sr / fps)`` (int64, exact)."""
    i = np.asarray(i, dtype=np.int64)
    return -(-((i + 1) * (sr * fps.denominator)) // fps.numerator)


def _times(grid, idx) -> np.ndarray:
    """``grid.times()[idx]`` without building the whole array (the same float operations)."""
    return float(grid.t0) + np.asarray(idx, dtype=np.float64) * (grid.rate.denominator / grid.rate.numerator)


class FeatureRows:
    """Rows of :func:`avalign.align` for ``method`` on a feature grid, ``rounding="floor"`` of the duration."""

    def __init__(self, source, *, fps: Fraction, method: str, window: int | None, anchor, edge: str | None):
        if method not in METHODS:
            raise InputError(f"alignment method {method!r} cannot stream; streams run {', '.join(METHODS)}")
        self.source, self.fps, self.method = source, fps, method
        self.sr = source.sample_rate
        self.src = source.grid(0)  # rate and t0 of the feature frames
        self.edge = edge if edge is not None else ("clamp" if method in _LINEAR else "zeros")
        if self.edge == "reflect" or (method in _LINEAR and self.edge not in ("clamp", "shift", "zeros")):
            raise InputError(f"edge {self.edge!r} cannot stream with method {method!r}")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise InputError(f"bad window size {window!r}: must be a positive integer")
        self.window = window
        if anchor == "start":
            self.offset = 0
        elif anchor in ("centre", "center"):
            self.offset = -((window or 1) // 2)
        elif isinstance(anchor, (int, np.integer)) and not isinstance(anchor, bool):
            self.offset = int(anchor)
        else:
            raise InputError(f"bad window anchor {anchor!r}; expected 'start', 'centre' or an integer offset")
        self.anchor = anchor
        self.size = 1 if window is None else int(window)

    @property
    def frame_rate(self) -> Fraction:
        return self.src.rate

    # -- where each row reads ----------------------------------------------------

    def final_count(self, n: int) -> int:
        return num_frames_for_duration(Fraction(n, self.sr), self.fps, "floor")

    def min_samples(self, i):
        return end_samples(i, sr=self.sr, fps=self.fps)

    def _dst_times(self, i):
        """Where rows ``i`` read the features: the frames' start (``linear``, ``nearest``) or the middle of their
        display interval (``interval``), in the float operations of :func:`avalign.align.display_intervals`."""
        start = np.asarray(i, dtype=np.float64) * (self.fps.denominator / self.fps.numerator)
        if self.method == "interval":
            return 0.5 * (start + (start + float(1 / self.fps)))
        return start

    def _positions(self, i, total: int | None) -> np.ndarray:
        """Float positions of rows ``i`` on the feature frames, as ``np.interp`` finds them offline."""
        i = np.atleast_1d(np.asarray(i, dtype=np.int64))
        r = self.src.rate
        t = self._dst_times(i)
        guess = np.floor((t - float(self.src.t0)) * float(r)).astype(np.int64)
        lo = max(int(guess.min()) - 2, 0)
        hi = int(guess.max()) + 4
        if total is not None:
            hi = min(hi, total)
        idx = np.arange(lo, hi)
        return np.interp(t, _times(self.src, idx), idx.astype(np.float64))

    def centres(self, i, total: int | None = None) -> np.ndarray:
        """Index of the first frame read by row(s) ``i`` before ``window``/``anchor`` (int64)."""
        i = np.asarray(i, dtype=np.int64)
        r, f = self.src.rate, self.fps
        if self.method == "index":
            return (i * (r.numerator * f.denominator)) // (r.denominator * f.numerator)
        if self.method == "nearest":
            return np.rint((self._dst_times(i) - float(self.src.t0)) * float(r)).astype(np.int64)
        return np.floor(self._positions(i, total)).astype(np.int64)

    def span(self, i):
        """Feature frames ``[lo, hi)`` row(s) ``i`` read mid-stream (int64 arrays)."""
        c = self.centres(i)
        if self.method in _LINEAR:
            lo = np.maximum(c, 0)
            return lo, lo + 2
        start = c + self.offset
        if self.edge == "shift":
            start = np.maximum(start, 0)
        return np.maximum(start, 0), np.maximum(start + self.size, 1)

    # -- values ------------------------------------------------------------------

    def empty(self) -> np.ndarray:
        """No rows, shaped as rows are."""
        shape = tuple(self.source.frame_shape)
        return np.zeros((0,) + ((self.size,) if self.window is not None else ()) + shape, np.float32)

    def rows(self, i0: int, i1: int, total: int | None) -> np.ndarray:
        """Rows ``[i0, i1)``; ``total`` is the frame count once the stream has ended (else None)."""
        i = np.arange(i0, i1, dtype=np.int64)
        if self.method in _LINEAR:
            return self._linear(i, total)
        c = self.centres(i)
        base = self.source.base
        vals = self.source.values
        if self.window is None:
            return take(vals, c - base, edge=self.edge)
        return windows(vals, c - base, size=self.size, anchor=self.anchor, edge=self.edge)

    def _linear(self, i: np.ndarray, total: int | None) -> np.ndarray:
        """:func:`avalign.align.interpolate_linear` on global frame positions (same float operations)."""
        vals, base = self.source.values, self.source.base
        tail = vals.shape[1:]
        if total == 1:
            out = np.repeat(vals.reshape(1, -1).astype(np.float64), i.shape[0], axis=0)
        else:
            pos = self._positions(i, total)
            top = (total - 2) if total is not None else np.iinfo(np.int64).max
            lo = np.clip(np.floor(pos).astype(np.int64), 0, top)
            w = (pos - lo)[:, None]
            flat = vals.reshape(vals.shape[0], -1)
            a = flat[lo - base].astype(np.float64)
            b = flat[lo + 1 - base].astype(np.float64)
            out = a * (1.0 - w) + b * w
        if self.edge == "zeros":
            t = self._dst_times(i)
            last = _times(self.src, (total if total is not None else 1 << 62) - 1)
            out[(t < float(self.src.t0)) | (t > last)] = 0.0
        return out.reshape((i.shape[0],) + tail).astype(vals.dtype, copy=False)


class _PresetRows:
    """Windows of ``size`` feature frames per row, as a spectral preset takes them (layout ``[bins, size]``)."""

    size = 16
    edge = "zeros"
    #: samples passed to the source in whole multiples of this (the preset cuts the audio to it)
    quantum = 1

    def __init__(self, preset, source, *, fps: Fraction):
        self.preset, self.source, self.fps = preset, source, fps
        self.sr = source.sample_rate

    @property
    def frame_rate(self) -> Fraction:
        return self.source.grid(0).rate

    def final_count(self, n: int) -> int:
        return self.preset.num_frames(n, self.fps)

    def span(self, i):
        s = self.open_starts(i)
        return np.maximum(s, 0), np.maximum(s + self.size, 1)

    def final_starts(self, n: int) -> np.ndarray:
        """The preset's own window starts for ``n`` samples (its layout's index rule)."""
        req = self.preset.request(n, self.fps)
        return self.preset.layout.starts(req, req.frames)

    def empty(self) -> np.ndarray:
        """No rows, shaped as rows are (``[bins, size]``)."""
        return np.zeros((0, self.source.frame_shape[0], self.size), np.float32)

    def rows(self, i0: int, i1: int, total: int | None) -> np.ndarray:
        if total is None:
            s = self.open_starts(np.arange(i0, i1))
        else:
            s = self.final_starts(self.source.n)[i0:i1]
        w = windows(self.source.values, s - self.source.base, size=self.size, anchor="start", edge=self.edge)
        return np.ascontiguousarray(w.transpose(0, 2, 1))


class Wav2LipRows(_PresetRows):
    """``wav2lip``: chunk ``i`` starts at ``int(i * (80. / fps))``; the last chunk (``mel[:, M-16:]``) at the end."""

    edge = "shift"

    def open_starts(self, i):
        return np.trunc(np.asarray(i, dtype=np.float64) * (80.0 / float(self.fps))).astype(np.int64)

    def min_samples(self, i):
        # chunk i is whole (i < C) once int(i*80/fps) + 16 <= M = 1 + n // 200
        return 200 * (self.open_starts(i) + 15)


class SadTalkerRows(_PresetRows):
    """``sadtalker``: frame ``i`` reads mel rows ``int(80 * (i - 2) / 25) + 0..15`` clamped; audio cut to 640 k."""

    edge = "clamp"
    quantum = 640

    def open_starts(self, i):
        from ..systems.spectral import start_index_25

        return start_index_25(np.asarray(i, dtype=np.int64) - 2)

    def min_samples(self, i):
        return 640 * (np.asarray(i, dtype=np.int64) + 1)


class SyncNetRows(_PresetRows):
    """``syncnet``: window ``v`` is MFCC frames ``[4v, 4v + 20)``, counted ``n // 640 - 5``."""

    size = 20

    def open_starts(self, i):
        return 4 * np.asarray(i, dtype=np.int64)

    def min_samples(self, i):
        return 640 * (np.asarray(i, dtype=np.int64) + 6)


class SyncTalkMelRows(_PresetRows):
    """``synctalk-mel``: row ``i`` is window ``max(i - 2, 0)`` at ``int(80 * j / 25)``; last windows at the end."""

    edge = "shift"

    def open_starts(self, i):
        from ..systems.spectral import start_index_25

        return start_index_25(np.maximum(np.asarray(i, dtype=np.int64) - 2, 0))

    def min_samples(self, i):
        # window j = max(i - 2, 0) is unshifted for good once int(80 j / 25) + 16 <= M = 1 + n // 200,
        # which also puts it before the repeated last window (j <= L - 1)
        return 200 * (self.open_starts(i) + 15)


#: preset name -> row plan
PRESET_ROWS = {"wav2lip": Wav2LipRows, "sadtalker": SadTalkerRows, "syncnet": SyncNetRows,
               "synctalk-mel": SyncTalkMelRows}
