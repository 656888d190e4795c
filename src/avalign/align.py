"""Map features on their grid onto video frames: exactly N rows out.

One call, two steps:

1. **Mapping** (``method``) gives, for every target frame ``i``, either a row
   resampled onto the target grid or an index into the source rows:

   - ``linear``: time-based linear interpolation at each target time (VOCA, AD-NeRF).
   - ``stretch``: length-based, ``align_corners=True``: position ``i*(T-1)/(N-1)``
     (FaceFormer, Hallo, AniPortrait). Ignores times.
   - ``nearest``: the source frame whose time is nearest (halves to even).
   - ``index``: index multiplier ``int(i * rate / fps)`` in exact arithmetic
     (Wav2Lip, MuseTalk, EchoMimic).
   - ``stack`` / ``pool``: rows ``[k*i, k*i + k)`` stacked to ``(N, k, ...)`` or
     averaged (ER-NeRF, GeneFace++); ``k`` defaults to ``rate / fps``.

2. **Windows** (``window=size``): each target frame receives ``size`` rows
   around its index, anchored at the ``start``, the ``centre`` or an integer
   offset (``anchor=-4`` takes ``[c-4, c+size-4)``). After ``linear`` or
   ``stretch`` the windows run over the resampled rows (index ``i``).

Rows outside ``[0, T)`` follow ``edge``: ``zeros``, ``clamp`` (replicate),
``reflect``, or ``shift`` (move the window back inside, Wav2Lip's last chunk).

The number of target frames comes from, in order: ``video`` (a grid with the
video's frames and timestamps), ``num_frames``, or ``rounding(duration * fps)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .errors import InputError
from .features.base import Features
from .timing import FrameGrid, num_frames_for_duration, parse_fps, round_number

METHODS = ("linear", "stretch", "nearest", "index", "stack", "pool")
EDGES = ("zeros", "clamp", "reflect", "shift")
ANCHORS = ("start", "centre", "center")


@dataclass(frozen=True)
class Aligned:
    """Features on video frames.

    ``values`` has shape ``(N, ...)`` for the ``N = grid.num_frames`` target
    frames; ``meta`` is JSON-able (the sidecar's content).
    """

    values: np.ndarray
    grid: FrameGrid
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def shape(self) -> tuple:
        return tuple(self.values.shape)


def target_grid(*, fps=None, num_frames: int | None = None, duration=None, rounding: str = "round",
                video: FrameGrid | None = None) -> FrameGrid:
    """The grid of target frames (see module docstring for the precedence)."""
    if video is not None:
        if num_frames is not None and num_frames != video.num_frames:
            return video.with_frames(num_frames)
        return video
    if fps is None:
        raise InputError("aligning needs a frame rate (fps) or a video")
    fps = parse_fps(fps)
    if num_frames is None:
        if duration is None:
            raise InputError("aligning needs num_frames, a duration or a video")
        num_frames = num_frames_for_duration(duration, fps, rounding)
    if int(num_frames) < 0:
        raise InputError(f"bad number of frames {num_frames}")
    return FrameGrid.from_video(fps, int(num_frames))


def index_map(src: FrameGrid, dst: FrameGrid, *, method: str = "index") -> np.ndarray:
    """Source row index for every target frame, shape ``(N,)``, int64 (may fall outside ``[0, T)``).

    ``index``: ``floor(i * rate / fps)`` computed exactly (timestamps for a
    variable-rate target: ``floor(t_i * rate)``). ``nearest``: the source
    frame nearest in time, ``rint((t_i - t0) * rate)``.
    """
    n = dst.num_frames
    if method == "index":
        if dst.timestamps is not None:
            return np.floor(np.asarray(dst.timestamps) * float(src.rate) + 1e-9).astype(np.int64)
        i = np.arange(n, dtype=np.int64)
        r, f = src.rate, dst.rate
        return (i * (r.numerator * f.denominator)) // (r.denominator * f.numerator)
    if method == "nearest":
        return np.rint((dst.times() - float(src.t0)) * float(src.rate)).astype(np.int64)
    raise InputError(f"index_map: bad method {method!r}")


def take(values: np.ndarray, idx: np.ndarray, *, edge: str = "zeros") -> np.ndarray:
    """``values[idx]`` along axis 0 with out-of-range indices handled by ``edge``.

    ``idx`` may have any shape; the result has shape ``idx.shape + values.shape[1:]``.
    ``shift`` is only meaningful for windows and acts as ``clamp`` here.
    """
    t = values.shape[0]
    if edge not in EDGES:
        raise InputError(f"bad edge policy {edge!r}; expected one of {', '.join(EDGES)}")
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


def windows(values: np.ndarray, centres: np.ndarray, *, size: int, anchor="start", edge: str = "zeros") -> np.ndarray:
    """For each index ``c`` in ``centres``, ``size`` rows starting at ``c + offset``.

    ``anchor``: ``"start"`` (offset 0), ``"centre"`` (offset ``-(size // 2)``)
    or an integer offset. Returns shape ``(len(centres), size, ...)``.
    """
    if size <= 0:
        raise InputError(f"bad window size {size}")
    if anchor == "start":
        offset = 0
    elif anchor in ("centre", "center"):
        offset = -(size // 2)
    elif isinstance(anchor, (int, np.integer)):
        offset = int(anchor)
    else:
        raise InputError(f"bad window anchor {anchor!r}; expected 'start', 'centre' or an integer offset")
    starts = np.asarray(centres, dtype=np.int64) + offset
    if edge == "shift":
        starts = np.clip(starts, 0, max(values.shape[0] - size, 0))
    idx = starts[:, None] + np.arange(size, dtype=np.int64)[None, :]
    return take(values, idx, edge=edge)


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


def stretch(values: np.ndarray, n: int) -> np.ndarray:
    """Length-based linear stretch to ``n`` rows, ``align_corners=True`` (first and last rows pinned)."""
    t = values.shape[0]
    if n == 1 or t == 1:
        pos = np.zeros(n)
    else:
        pos = np.arange(n, dtype=np.float64) * ((t - 1) / (n - 1))
    lo = np.clip(np.floor(pos).astype(np.int64), 0, max(t - 2, 0))
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape((n,) + (1,) * (values.ndim - 1))
    out = values[lo].astype(np.float64) * (1.0 - w) + values[hi].astype(np.float64) * w
    return out.astype(values.dtype, copy=False)


def _group_size(src: FrameGrid, dst: FrameGrid, k: int | None) -> int:
    if k is not None:
        return int(k)
    ratio = src.rate / dst.rate
    if ratio.denominator != 1:
        raise InputError(f"stack/pool needs an integer ratio of rates, got {src.rate}/{dst.rate}; pass k")
    return int(ratio)


def align(features: Features, *, fps=None, num_frames: int | None = None, method: str = "linear",
          duration=None, rounding: str = "round", video: FrameGrid | None = None, window: int | None = None,
          anchor="start", edge: str | None = None, k: int | None = None) -> Aligned:
    """Map ``features`` (values ``(T, ...)`` on ``features.grid``) onto ``N`` target frames.

    Parameters
    ----------
    features : Features
    fps : int, float, str or Fraction, optional
        Target frame rate (``25``, ``"29.97"``, ``"30000/1001"``); taken from ``video`` when given.
    num_frames : int, optional
        Exact number of target frames.
    method : str
        One of ``linear``, ``stretch``, ``nearest``, ``index``, ``stack``, ``pool``.
    duration : float or Fraction, optional
        Seconds to cover when ``num_frames`` is not given (default: the
        features' own span ``T / rate``); counted with ``rounding``.
    rounding : str
        ``truncate``, ``floor``, ``ceil`` or ``round`` (halves to even).
    video : FrameGrid, optional
        The video's frames (count and, when variable-rate, timestamps).
    window : int, optional
        Rows per target frame; output ``(N, window, ...)``.
    anchor : "start", "centre" or int
        Where the window sits relative to each frame's index.
    edge : str, optional
        ``zeros``, ``clamp``, ``reflect`` or ``shift``; default ``clamp`` for
        ``linear`` and ``zeros`` otherwise.
    k : int, optional
        Group size for ``stack`` / ``pool`` (default ``rate / fps``).

    Returns
    -------
    Aligned
        ``values`` of shape ``(N, ...)`` or ``(N, window, ...)``.
    """
    if method not in METHODS:
        raise InputError(f"unknown alignment method {method!r}; expected one of {', '.join(METHODS)}")
    src = features.grid
    vals = features.values
    if duration is None and num_frames is None and video is None:
        duration = Fraction(src.num_frames) / src.rate
    dst = target_grid(fps=fps, num_frames=num_frames, duration=duration, rounding=rounding, video=video)
    if edge is None:
        edge = "clamp" if method == "linear" else "zeros"
    n = dst.num_frames
    centres: np.ndarray
    if method == "linear":
        rows = interpolate_linear(vals, src.times(), dst.times(), edge=edge)
        centres = np.arange(n, dtype=np.int64)
    elif method == "stretch":
        if vals.shape[0] == 0:
            raise InputError("no feature frames to stretch")
        rows = stretch(vals, n)
        centres = np.arange(n, dtype=np.int64)
    elif method in ("stack", "pool"):
        g = _group_size(src, dst, k)
        idx = np.arange(n, dtype=np.int64)[:, None] * g + np.arange(g)[None, :]
        stacked = take(vals, idx, edge=edge)
        rows = stacked.mean(axis=1).astype(vals.dtype) if method == "pool" else stacked
        centres = np.arange(n, dtype=np.int64)
    else:
        centres = index_map(src, dst, method=method)
        rows = None if window is not None else take(vals, centres, edge=edge)
    if window is not None:
        base = vals if method in ("index", "nearest") else rows
        out = windows(base, centres, size=int(window), anchor=anchor, edge=edge)
    else:
        out = rows
    meta = {
        "method": method, "edge": edge, "window": window,
        "anchor": anchor if window is not None else None, "k": k, "rounding": rounding,
        "source_grid": src.to_dict(), "num_frames": n,
    }
    return Aligned(np.ascontiguousarray(out), dst, meta)


__all__ = ["Aligned", "align", "index_map", "interpolate_linear", "stretch", "take", "target_grid", "windows",
           "round_number"]
