"""Layouts of presets: which feature frames each output row receives, in the system's array layout.

One layout kind serves every published system so far, :class:`Windows`:
row ``r`` receives ``size`` rows starting at ``start(req)[r] + anchor`` of the
(optionally resampled) feature rows, with an edge policy for rows outside,
then a view (``channels``: ``[feature, size]`` per row as Wav2Lip feeds it;
``squeeze``: one row per frame; ``flat``: the window's rows flattened to
``(size * ..., width)``). Before the windows, an optional resampling step
(:class:`TimeInterp`, :class:`Every`, :class:`Truncate`, :class:`Pick`) maps the feature
rows to the system's intermediate rows. :class:`ByOption` picks a layout by
an option's value.

Every layout answers two questions from the same index rule: the array
(:meth:`apply`) and the native feature frames behind each row
(:meth:`sources`), so the spans ``explain`` and ``check`` report are the ones
that built the array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..framed import interpolate_linear, take, windows_swapped


@dataclass(frozen=True)
class TimeInterp:
    """``np.interp`` on times ``j / src_rate -> k / dst_rate`` to ``count(req)`` rows (edges held), in float64;
    ``drop_last`` removes the last row (AD-NeRF's size-1 window pass ``range(0, R - 1)``)."""

    src_rate: int
    dst_rate: int
    count: Callable
    drop_last: bool = False

    def rows(self, req, step) -> int:
        r = int(self.count(req))
        return max(r - 1, 0) if self.drop_last else r

    def apply(self, values, req):
        z = values.astype(np.float64)
        r = int(self.count(req))
        rows = interpolate_linear(z, np.arange(z.shape[0]) / float(self.src_rate), np.arange(r) / float(self.dst_rate),
                                  edge="clamp")
        return rows[:max(r - 1, 0)] if self.drop_last else rows

    def positions(self, rows, req):
        x = np.asarray(rows, np.int64) * self.src_rate
        return x // self.dst_rate, -(-x // self.dst_rate)


@dataclass(frozen=True)
class Every:
    """Every ``k``-th feature row (``[::k]``, DINet's 25 fps logits)."""

    k: int

    def rows(self, req, step) -> int:
        return -(-step.rows(req) // self.k)

    def apply(self, values, req):
        return values[::self.k]

    def positions(self, rows, req):
        r = self.k * np.asarray(rows, np.int64)
        return r, r


@dataclass(frozen=True)
class Truncate:
    """The first ``count(req)`` feature rows (MuseTalk v1.5 trims to ``floor(d * 50)``)."""

    count: Callable

    def rows(self, req, step) -> int:
        return int(self.count(req))

    def apply(self, values, req):
        return values[:int(self.count(req))]

    def positions(self, rows, req):
        r = np.asarray(rows, np.int64)
        return r, r


@dataclass(frozen=True)
class MirrorTail:
    """The feature rows followed by their last ``k`` rows in reverse (row ``T + j`` = row ``T - 1 - j``):
    the ``torch.flip`` extension InfiniteTalk / MultiTalk append before their last clip."""

    k: int

    def rows(self, req, step) -> int:
        return step.rows(req) + self.k

    def apply(self, values, req):
        return np.concatenate([values, values[::-1][:self.k]], axis=0)

    def positions(self, rows, req):
        # the native row count is not known here: the windows' sources are clipped by the step
        r = np.asarray(rows, np.int64)
        return r, r


@dataclass(frozen=True)
class Pick:
    """One entry of axis 1 of every row (a hidden state out of the stack), after ``inner`` (or of the rows
    themselves): Sonic's motion-bucket window reads the last Whisper state only."""

    index: int
    inner: object | None = None

    def rows(self, req, step) -> int:
        return step.rows(req) if self.inner is None else self.inner.rows(req, step)

    def apply(self, values, req):
        rows = values if self.inner is None else self.inner.apply(values, req)
        return rows[:, self.index]

    def positions(self, rows, req):
        if self.inner is None:
            r = np.asarray(rows, np.int64)
            return r, r
        return self.inner.positions(rows, req)


@dataclass(frozen=True)
class Windows:
    """Row ``r`` = ``size`` rows from ``start(req)[r] + anchor`` (default start: ``r`` itself).

    ``edge``: ``zeros``, ``clamp``, ``reflect`` or ``shift`` (a window that
    overruns is moved back inside). ``view``: None (``(N, size, ...)``),
    ``channels`` (``(N, feature, size)``), ``squeeze`` (``size == 1``: ``(N, ...)``)
    or ``flat`` (``(N, -1, width)``, ``width`` default the last axis).
    """

    start: Callable | None = None
    size: int = 1
    anchor: int = 0
    edge: str = "zeros"
    view: str | None = None
    width: int | None = None
    before: object | None = None

    def starts(self, req, n_rows: int) -> np.ndarray:
        """First row of every window, int64 ``(N,)`` (moved inside for ``shift``)."""
        s = np.arange(req.rows, dtype=np.int64) if self.start is None else np.asarray(self.start(req), np.int64)
        s = s + self.anchor
        if self.edge == "shift":
            s = np.clip(s, 0, max(n_rows - self.size, 0))
        return s

    def apply(self, values: np.ndarray, req) -> np.ndarray:
        rows = values if self.before is None else self.before.apply(values, req)
        s = self.starts(req, rows.shape[0])
        if self.view == "channels" and rows.ndim == 2:  # one gather + transpose per block, in cache
            return windows_swapped(rows, s, size=self.size, edge=self.edge)
        if s.shape[0] == 0:
            out = np.zeros((0, self.size) + rows.shape[1:], rows.dtype)
        else:
            out = take(rows, s[:, None] + np.arange(self.size, dtype=np.int64)[None, :], edge=self.edge)
        if self.view == "channels":
            return np.ascontiguousarray(out.transpose(0, 2, 1))
        if self.view == "squeeze":
            return out[:, 0]
        if self.view == "flat":
            width = self.width or out.shape[-1]
            return out.reshape(out.shape[0], int(np.prod(out.shape[1:])) // width, width)
        return out

    def sources(self, req, step) -> tuple[np.ndarray, np.ndarray]:
        """First and last native feature frame behind each row (unclipped where the system pads)."""
        n_rows = step.rows(req) if self.before is None else self.before.rows(req, step)
        first = self.starts(req, n_rows)
        last = first + self.size - 1
        if self.before is not None:
            first, last = self.before.positions(first, req)[0], self.before.positions(last, req)[1]
        return step.positions(first, req)[0], step.positions(last, req)[1]


@dataclass(frozen=True)
class ByOption:
    """The layout named by the value of option ``option`` (DINet's ``layout=features|windows``)."""

    option: str
    layouts: dict

    def pick(self, req):
        return self.layouts[getattr(req.options, self.option)]

    def apply(self, values, req):
        return self.pick(req).apply(values, req)

    def sources(self, req, step):
        return self.pick(req).sources(req, step)


__all__ = ["ByOption", "Every", "MirrorTail", "Pick", "TimeInterp", "Truncate", "Windows"]
