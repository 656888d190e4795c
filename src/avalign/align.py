"""Map features on their grid onto video frames: exactly N rows out.

One call, two steps:

1. **Mapping** (``method``) gives, for every target frame ``i``, either a row
   resampled onto the target grid or an index into the source rows:

   - ``interval`` (the default): row ``i`` stands for the audio shown during
     video frame ``i``, its display interval ``[t_i, t_{i+1})`` on the video
     clock (the last frame lasts one period; variable-rate videos use their
     own timestamps): the features linearly interpolated at the interval's
     middle, ``(t_i + t_{i+1}) / 2``.
   - ``linear``: time-based linear interpolation at the instant each frame
     starts, ``t_i`` (VOCA, AD-NeRF; the default before avalign 0.2).
   - ``stretch``: length-based, ``align_corners=True``: position ``i*(T-1)/(N-1)``
     (FaceFormer, Hallo, AniPortrait). Ignores times.
   - ``nearest``: the source frame whose time is nearest (halves to even).
   - ``index``: index multiplier ``int(i * rate / fps)`` in exact arithmetic
     (Wav2Lip, MuseTalk, EchoMimic).
   - ``stack`` / ``pool``: rows ``[k*i, k*i + k)`` stacked to ``(N, k, ...)`` or
     averaged (ER-NeRF, GeneFace++); ``k`` defaults to ``rate / fps``.

2. **Windows** (``window=size``): each target frame receives ``size`` rows
   around its index, anchored at the ``start``, the ``centre`` or an integer
   offset (``anchor=-4`` takes ``[c-4, c+size-4)``). After ``interval``,
   ``linear`` or ``stretch`` the windows run over the resampled rows (index ``i``).

Rows outside ``[0, T)`` follow ``edge``: ``zeros``, ``clamp`` (replicate),
``reflect``, or ``shift`` (move the window back inside, Wav2Lip's last chunk).

The number of target frames comes from, in order: ``video`` (a grid with the
video's frames and timestamps), ``num_frames``, or ``rounding(duration * fps)``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import budget
from .errors import InputError
from .framed import EDGES, Aligned, Features, interpolate_linear, stretch, take, windows
from .timing import FrameGrid, num_frames_for_duration, parse_fps, round_number

METHODS = ("interval", "linear", "stretch", "nearest", "index", "stack", "pool")
#: The default alignment method of extract, explain, plot and batch.
DEFAULT_METHOD = "interval"
ANCHORS = ("start", "centre", "center")


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


def display_intervals(grid: FrameGrid) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` seconds of each video frame's display interval ``[t_i, t_{i+1})``, shapes ``(N,)``.

    The last frame (and every frame of a constant-rate grid) lasts one period.
    """
    start = grid.times()
    end = start + float(grid.period)
    if grid.timestamps is not None and grid.num_frames > 1:
        end[:-1] = start[1:]
    return start, end


def interval_rows(values: np.ndarray, src: FrameGrid, dst: FrameGrid, *, edge: str = "clamp") -> np.ndarray:
    """Rows of the ``interval`` method, ``(N, ...)``: the features linearly interpolated at the middle of
    each target frame's display interval (:func:`display_intervals`); beyond the features' span the edge
    rows are held (``zeros``: zero rows)."""
    start, end = display_intervals(dst)
    return interpolate_linear(values, src.times(), 0.5 * (start + end), edge="zeros" if edge == "zeros" else "clamp")


def _group_size(src: FrameGrid, dst: FrameGrid, k: int | None) -> int:
    if k is not None:
        return int(k)
    ratio = src.rate / dst.rate
    if ratio.denominator != 1:
        raise InputError(f"stack/pool needs an integer ratio of rates, got {src.rate}/{dst.rate}; pass k")
    return int(ratio)


def _check_budget(vals: np.ndarray, n: int, *, method: str, group: int, window: int | None) -> None:
    """Refuse (BudgetError) an alignment whose output and temporaries, estimated from the shapes, exceed the
    memory budget: ``N x group x window`` rows of ``vals``' row size, and int64 indices of as many rows."""
    w = int(window) if window else 1
    rows = int(n) * max(int(group), 1) * w
    # the rows (twice: a gather then its contiguous copy), their int64 indices, the float64 times of N frames
    needed = 2 * budget.nbytes(rows, *vals.shape[1:], itemsize=vals.dtype.itemsize) \
        + budget.nbytes(rows, itemsize=8) + budget.nbytes(n, itemsize=32)
    shape = " x ".join(str(x) for x in (*([group] if group > 1 else []), *([w] if window else []), *vals.shape[1:]))
    budget.check(needed, f"{n} video frames x {shape or 1} {vals.dtype}, method {method}")


def align(features: Features, *, fps=None, num_frames: int | None = None, method: str = DEFAULT_METHOD,
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
        One of ``interval`` (default: the mean over each frame's display interval),
        ``linear`` (interpolation at each frame's start), ``stretch``, ``nearest``,
        ``index``, ``stack``, ``pool``.
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
        ``interval`` and ``linear``, ``zeros`` otherwise.
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
        edge = "clamp" if method in ("interval", "linear") else "zeros"
    n = dst.num_frames
    g = _group_size(src, dst, k) if method in ("stack", "pool") else 1
    _check_budget(vals, n, method=method, group=g, window=window)
    centres: np.ndarray
    if method == "interval":
        if vals.shape[0] == 0:
            raise InputError("no feature frames to align")
        rows = interval_rows(vals, src, dst, edge=edge)
        centres = np.arange(n, dtype=np.int64)
    elif method == "linear":
        rows = interpolate_linear(vals, src.times(), dst.times(), edge=edge)
        centres = np.arange(n, dtype=np.int64)
    elif method == "stretch":
        if vals.shape[0] == 0:
            raise InputError("no feature frames to stretch")
        rows = stretch(vals, n)
        centres = np.arange(n, dtype=np.int64)
    elif method in ("stack", "pool"):
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


__all__ = ["Aligned", "DEFAULT_METHOD", "METHODS", "align", "display_intervals", "index_map", "interpolate_linear",
           "interval_rows", "stretch", "take", "target_grid", "windows", "round_number"]
