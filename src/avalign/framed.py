"""Framed arrays: time-major values with the grid of their rows, and the row operations on them.

The lowest layer above :mod:`avalign.timing`; :mod:`avalign.features` (which
produces framed arrays) and :mod:`avalign.align` (which maps them onto video
frames) both build on it and on nothing above it.

- :class:`Framed` holds ``values`` ``(T, ...)``, their :class:`~avalign.timing.FrameGrid`
  and a JSON-able ``meta`` dict; :class:`Features` (an extractor's output,
  ``meta`` is its recipe) and :class:`Aligned` (rows on video frames, ``meta``
  is the sidecar) are the two kinds.
- :func:`take` and :func:`windows` pick rows by index with an edge policy;
  :func:`stretch` and :func:`interpolate_linear` resample rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .threads import run_parts
from .timing import FrameGrid

#: Edge policies for rows outside ``[0, T)``.
EDGES = ("zeros", "clamp", "reflect", "shift")


@dataclass(frozen=True)
class Framed:
    """Time-major ``values`` ``(T, ...)`` on ``grid`` (``T == grid.num_frames``), with JSON-able ``meta``.

    ``spans`` (optional, int64 ``(T, 2)``) gives the audio samples ``[start, end)``
    each row was computed from, on the clock of the audio given (sample 0 at
    ``t = 0``); presets fill it from their layout.
    """

    values: np.ndarray
    grid: FrameGrid
    meta: dict = field(default_factory=dict)
    spans: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.values.shape[0] != self.grid.num_frames:
            raise AssertionError(f"{self.values.shape[0]} rows for a grid of {self.grid.num_frames} frames")
        if self.spans is not None and self.spans.shape != (self.grid.num_frames, 2):
            raise AssertionError(f"spans of shape {self.spans.shape} for {self.grid.num_frames} rows")

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def shape(self) -> tuple:
        return tuple(self.values.shape)


class Features(Framed):
    """An extractor's output: ``values`` ``(T, ...)`` at the feature's native rate; ``config`` is its recipe."""

    @property
    def config(self) -> dict:
        """The JSON-able recipe (``{"feature": name, **parameters}``)."""
        return self.meta


class Aligned(Framed):
    """Features on video frames: ``values`` ``(N, ...)`` for the ``N = grid.num_frames`` target frames;
    ``meta`` is the sidecar's content."""


# ---------------------------------------------------------------------------
# Row operations
# ---------------------------------------------------------------------------


def check_edge(edge: str) -> str:
    if edge not in EDGES:
        raise InputError(f"bad edge policy {edge!r}; expected one of {', '.join(EDGES)}")
    return edge


def take(values: np.ndarray, idx: np.ndarray, *, edge: str = "zeros") -> np.ndarray:
    """``values[idx]`` along axis 0 with out-of-range indices handled by ``edge``.

    ``idx`` may have any shape; the result has shape ``idx.shape + values.shape[1:]``.
    ``shift`` is only meaningful for windows and acts as ``clamp`` here.
    """
    t = values.shape[0]
    check_edge(edge)
    if idx.size == 0:
        return np.zeros(idx.shape + values.shape[1:], values.dtype)
    if t == 0:
        if edge == "zeros":
            return np.zeros(idx.shape + values.shape[1:], values.dtype)
        raise InputError("no feature frames to align")
    if edge in ("clamp", "shift"):
        return values[np.clip(idx, 0, t - 1)]
    if edge == "reflect":
        if t == 1:
            return values[np.zeros_like(idx)]
        period = 2 * (t - 1)
        m = np.mod(idx, period)
        return values[np.where(m >= t, period - m, m)]
    inside = (idx >= 0) & (idx < t)
    out = values[np.clip(idx, 0, t - 1)]
    out[~inside] = 0
    return out


def window_offset(anchor) -> int:
    """Offset of a window's first row from its index: ``start`` 0, ``centre`` ``-(size // 2)`` (needs size), int."""
    if anchor == "start":
        return 0
    if isinstance(anchor, (int, np.integer)) and not isinstance(anchor, bool):
        return int(anchor)
    raise InputError(f"bad window anchor {anchor!r}; expected 'start', 'centre' or an integer offset")


def window_starts(centres, *, size: int, anchor="start", edge: str = "zeros", num_rows: int | None = None) -> np.ndarray:
    """First row of each window: ``centres + offset`` (moved back inside ``[0, num_rows - size]`` for ``shift``)."""
    if size <= 0:
        raise InputError(f"bad window size {size}")
    offset = -(size // 2) if anchor in ("centre", "center") else window_offset(anchor)
    starts = np.asarray(centres, dtype=np.int64) + offset
    if edge == "shift" and num_rows is not None:
        starts = np.clip(starts, 0, max(num_rows - size, 0))
    return starts


def windows(values: np.ndarray, centres: np.ndarray, *, size: int, anchor="start", edge: str = "zeros") -> np.ndarray:
    """For each index ``c`` in ``centres``, ``size`` rows starting at ``c + offset``.

    ``anchor``: ``"start"`` (offset 0), ``"centre"`` (offset ``-(size // 2)``)
    or an integer offset. Returns shape ``(len(centres), size, ...)``.
    """
    starts = window_starts(centres, size=size, anchor=anchor, edge=edge, num_rows=values.shape[0])
    idx = starts[:, None] + np.arange(size, dtype=np.int64)[None, :]
    return take(values, idx, edge=edge)


#: Windows gathered per block by :func:`windows_swapped` (the block's gather and transpose stay in cache)
SWAP_BLOCK = 32
#: Windows per copy when every window lies inside the rows (a 1.3 MB temporary for Wav2Lip's [80, 16])
GATHER_CHUNK = 256
#: Output elements per thread, at least, before the gather of windows inside the rows is split across threads
GATHER_PART = 1 << 21


def windows_swapped(values: np.ndarray, starts: np.ndarray, *, size: int, edge: str = "zeros") -> np.ndarray:
    """``take(values, starts[:, None] + arange(size), edge=edge).swapaxes(1, 2)``, C-contiguous.

    Shape ``(len(starts), values.shape[1], size, *values.shape[2:])``: each window's
    feature axis before its time axis (Wav2Lip's ``[80, 16]`` chunks); the same bytes
    either way it is built:

    - 2-D rows with most windows inside them (Wav2Lip, SadTalker): the rows as
      ``(F, T)`` (no copy when ``values`` is F-ordered, as the Wav2Lip mel step
      gives it), each window a strided view of that, gathered chunk by chunk on
      several threads for long inputs; the few windows that overrun the rows are
      then rewritten with the edge policy (10 minutes: about 20 ms on 2 cores);
    - otherwise block by block, so that each block's gather (with the edge policy)
      and transposition happen in cache.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if values.ndim < 2:
        raise InputError("windows_swapped needs values with a feature axis, shape (T, F, ...)")
    t = values.shape[0]
    offsets = np.arange(size, dtype=np.int64)[None, :]
    if values.ndim == 2 and starts.size and t >= size:
        outside = np.nonzero((starts < 0) | (starts > t - size))[0]
        if outside.size <= starts.size // 8:
            out = _gather_inside(values, np.clip(starts, 0, t - size), size)
            if outside.size:
                out[outside] = take(values, starts[outside, None] + offsets, edge=edge).swapaxes(1, 2)
            return out
    out = np.empty((starts.shape[0], values.shape[1], size) + values.shape[2:], values.dtype)
    for i in range(0, starts.shape[0], SWAP_BLOCK):
        block = take(values, starts[i:i + SWAP_BLOCK, None] + offsets, edge=edge)
        out[i:i + block.shape[0]] = block.swapaxes(1, 2)
    return out


def _gather_inside(values: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """:func:`windows_swapped` when ``0 <= starts <= T - size``: ``(N, F, size)`` from the rows as ``(F, T)``.

    Each window's ``size`` consecutive values of one feature are moved as one
    opaque item (a void dtype of ``size * itemsize`` bytes), which numpy copies
    faster than ``size`` separate floats.
    """
    t, f = values.shape
    if values.T.flags.c_contiguous:
        rt = values.T
    else:
        rt = np.empty((f, t), values.dtype)

        def transpose(a: int, b: int) -> None:
            rt[:, a:b] = values[a:b].T

        run_parts(transpose, t, min_part=GATHER_PART // max(f, 1))
    item = rt.itemsize
    run = np.dtype((np.void, size * item))
    # view[s, k] = rt[k, s:s + size], as one item
    view = np.ndarray((t - size + 1, f), dtype=run, buffer=rt, strides=(item, rt.strides[0]))
    out = np.empty((starts.shape[0], f, size), values.dtype)
    flat = out.view(run).reshape(starts.shape[0], f)

    def gather(a: int, b: int) -> None:
        for c in range(a, b, GATHER_CHUNK):
            d = min(c + GATHER_CHUNK, b)
            flat[c:d] = view[starts[c:d]]

    run_parts(gather, starts.shape[0], min_part=GATHER_PART // max(f * size, 1))
    return out


def interpolate_linear(values: np.ndarray, src_times: np.ndarray, dst_times: np.ndarray,
                       *, edge: str = "clamp") -> np.ndarray:
    """Linear interpolation along axis 0 from ``src_times`` to ``dst_times`` (seconds).

    Outside the source span: ``clamp`` holds the edge rows (``np.interp``), ``zeros`` gives 0.
    """
    t = values.shape[0]
    flat = values.reshape(t, -1).astype(np.float64, copy=False)
    if t == 1:
        out = np.repeat(flat, len(dst_times), axis=0)
    else:
        pos = np.interp(dst_times, src_times, np.arange(t, dtype=np.float64))
        lo = np.clip(np.floor(pos).astype(np.int64), 0, t - 2)
        w = (pos - lo)[:, None]
        out = flat[lo] * (1.0 - w) + flat[lo + 1] * w
    if edge == "zeros":
        outside = (dst_times < src_times[0]) | (dst_times > src_times[-1])
        out[outside] = 0.0
    elif edge not in ("clamp", "shift"):
        raise InputError(f"edge {edge!r} is not supported by linear interpolation; use 'clamp' or 'zeros'")
    return out.reshape((len(dst_times),) + values.shape[1:]).astype(values.dtype, copy=False)


def stretch_positions(t: int, n: int) -> np.ndarray:
    """Source positions of a length-based stretch of ``t`` rows to ``n`` (``align_corners=True``): ``i*(t-1)/(n-1)``."""
    if n == 1 or t == 1:
        return np.zeros(n)
    return np.arange(n, dtype=np.float64) * ((t - 1) / (n - 1))


def stretch(values: np.ndarray, n: int) -> np.ndarray:
    """Length-based linear stretch to ``n`` rows, ``align_corners=True`` (first and last rows pinned)."""
    t = values.shape[0]
    pos = stretch_positions(t, n)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, max(t - 2, 0))
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape((n,) + (1,) * (values.ndim - 1))
    out = values[lo].astype(np.float64) * (1.0 - w) + values[hi].astype(np.float64) * w
    return out.astype(values.dtype, copy=False)


__all__ = ["Aligned", "EDGES", "Features", "Framed", "interpolate_linear", "stretch", "stretch_positions", "take",
           "window_starts", "windows", "windows_swapped"]
