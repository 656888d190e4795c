"""What audio does each output row receive? A preset's or a feature's rule, made visible.

:func:`explain` turns a recipe (a preset, or a feature kind plus an alignment
rule) and a length (seconds, samples or a media file) into an
:class:`Explanation`: the rule in one sentence, the exact row count, and the
``[start, end)`` sample span that every row receives, so that a user sees
centred versus start-anchored windows and the padding at the edges before
training.

Presets describe their spans themselves (:meth:`Preset.sources`). For a
feature, the spans come from the feature's :class:`~avalign.timing.FrameGrid`
(each feature frame's analysis window) combined with the alignment rule: the
alignment is run on the frame indices themselves (a ``(T, 1)`` array holding
``1..T``), so the mapping shown is exactly the one :func:`avalign.align`
applies, zeros marking padded rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import budget
from .align import DEFAULT_METHOD
from .errors import InputError
from .timing import FrameGrid, fraction_str, num_frames_for_duration, parse_fps

#: Rows shown by default: the first three and the last two.
DEFAULT_ROWS = (0, 1, 2, -2, -1)


@dataclass(frozen=True)
class SpanRow:
    """One line of the span table. Samples count from the first audio sample; seconds likewise."""

    row: int
    frame_time: float
    start: int
    end: int
    pad_before: int
    pad_after: int
    zero_rows: int = 0

    def seconds(self, sample_rate: int) -> tuple[float, float]:
        return self.start / sample_rate, self.end / sample_rate


@dataclass
class Explanation:
    """A recipe's rule, row count and per-row sample spans.

    Attributes
    ----------
    subject : str
        ``preset wav2lip (Wav2Lip ...)`` or ``feature mel``.
    rule : str
        The per-row rule in one sentence.
    shape : str
        Output shape rule (``[K, 80, 16]``) or the aligned shape.
    rows : int
        Exact number of output rows.
    n_samples, sample_rate : int
        The audio length in samples at ``sample_rate`` Hz.
    fps : Fraction
        Video frame rate; row ``i`` belongs to the video frame shown at ``i / fps`` s.
    video_frames : int
        Video frames the audio covers.
    spans : np.ndarray, shape ``(rows, 2)``, int64
        ``[start, end)`` samples each row receives; may reach outside ``[0, n_samples)``.
    zero_rows : np.ndarray or None, shape ``(rows,)``
        For features: how many of the feature rows a video frame receives are zero padding.
    """

    subject: str
    rule: str
    shape: str
    rows: int
    n_samples: int
    sample_rate: int
    fps: Fraction
    video_frames: int
    spans: np.ndarray
    zero_rows: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    times: np.ndarray | None = None
    #: The decoded audio on the video clock when a media file was explained (for plot; not part of the answer).
    audio: object = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        """Audio seconds."""
        return self.n_samples / self.sample_rate

    def frame_times(self) -> np.ndarray:
        """Seconds at which the video frame of each row starts, shape ``(rows,)``: ``i / fps``, or the
        video's actual timestamps (variable frame rate, feature path)."""
        if self.times is not None:
            return np.asarray(self.times, dtype=np.float64)
        return np.arange(self.rows, dtype=np.float64) * (self.fps.denominator / self.fps.numerator)

    def row(self, i: int) -> SpanRow:
        """The span row ``i`` (negative counts from the end)."""
        if not -self.rows <= i < self.rows:
            raise InputError(f"row {i} is outside the {self.rows} rows")
        i = i % self.rows
        s, e = (int(x) for x in self.spans[i])
        z = int(self.zero_rows[i]) if self.zero_rows is not None else 0
        return SpanRow(i, float(self.frame_times()[i]), s, e, max(0, -s), max(0, e - self.n_samples), z)

    def table(self, rows=DEFAULT_ROWS) -> list[SpanRow]:
        """Span rows for ``rows`` (default the first three and last two), duplicates dropped, in order."""
        seen: list[int] = []
        for i in rows:
            if -self.rows <= i < self.rows and (i % self.rows) not in seen:
                seen.append(i % self.rows)
        return [self.row(i) for i in sorted(seen)]

    def anchoring(self) -> tuple[float, float, str]:
        """Median over rows of (span start - frame time, span centre - frame time) in ms, and a word for it.

        ``centred`` when the span's centre is within a quarter of its length of
        the frame's time, ``interval-centred`` when it is that close to the
        middle of the frame's display interval, ``start-anchored`` when its
        start is (and its centre lies later), else ``shifted``.
        """
        if self.rows == 0:
            return 0.0, 0.0, "empty"
        t = self.frame_times()
        s = self.spans[:, 0] / self.sample_rate
        e = self.spans[:, 1] / self.sample_rate
        start_off = float(np.median(s - t)) * 1000
        centre_off = float(np.median((s + e) / 2 - t)) * 1000
        if abs(centre_off) < 1000 / self.sample_rate:  # within a sample: rounding of the frame's time
            centre_off = 0.0
        length = float(np.median(e - s)) * 1000
        half_frame = 500 / float(self.fps)
        if abs(centre_off) <= length / 4 and abs(centre_off) < abs(centre_off - half_frame):
            word = "centred"
        elif abs(centre_off - half_frame) <= length / 4:
            word = "interval-centred"  # on the middle of the frame's display interval (the default rule)
        elif abs(start_off) <= length / 4 and centre_off > 0:
            word = "start-anchored"
        else:
            word = "shifted"
        return round(start_off, 3) + 0.0, round(centre_off, 3) + 0.0, word

    def padded_rows(self) -> int:
        """Rows whose span reaches outside the audio or that receive zero feature rows."""
        out = (self.spans[:, 0] < 0) | (self.spans[:, 1] > self.n_samples)
        if self.zero_rows is not None:
            out |= self.zero_rows > 0
        return int(out.sum())

    def text(self, rows=DEFAULT_ROWS) -> str:
        """The explanation as a few lines and a table."""
        sr = self.sample_rate
        lines = [
            f"{self.subject}",
            f"audio {self.duration:.6g} s = {self.n_samples} samples at {sr / 1000:g} kHz; "
            f"{self.video_frames} video frames at {fraction_str(self.fps)} fps -> {self.rows} rows {self.shape}".rstrip(),
            f"rule: {self.rule}",
        ]
        if self.rows:
            a, c, word = self.anchoring()
            lines.append(f"windows: {word} (median start {a:+.1f} ms, centre {c:+.1f} ms from the frame's time); "
                         f"{self.padded_rows()} of {self.rows} rows reach outside the audio")
        lines.extend(self.notes)
        lines.append("")
        head = ("row", "frame time", "samples [start, end)", "seconds [start, end)", "outside the audio")
        body = []
        for r in self.table(rows):
            s0, s1 = r.seconds(sr)
            pad = []
            if r.pad_before:
                pad.append(f"{r.pad_before} before the start")
            if r.pad_after:
                pad.append(f"{r.pad_after} after the end")
            if r.zero_rows:
                pad.append(f"{r.zero_rows} zero feature row{'s' if r.zero_rows != 1 else ''}")
            body.append((str(r.row), f"{r.frame_time:.4f} s", f"[{r.start}, {r.end})",
                         f"[{s0:.4f}, {s1:.4f})", ", ".join(pad) or "-"))
        widths = [max(len(x[k]) for x in (head, *body)) for k in range(len(head))]
        for cells in (head, *body):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        return "\n".join(lines)

    def to_dict(self, rows=DEFAULT_ROWS) -> dict:
        """JSON-able summary with the table rows."""
        a, c, word = self.anchoring()
        return {
            "subject": self.subject, "rule": self.rule, "shape": self.shape, "rows": self.rows,
            "n_samples": self.n_samples, "sample_rate": self.sample_rate, "fps": fraction_str(self.fps),
            "video_frames": self.video_frames, "anchoring": word, "start_offset_ms": a, "centre_offset_ms": c,
            "table": [{"row": r.row, "frame_time": r.frame_time, "start": r.start, "end": r.end,
                       "pad_before": r.pad_before, "pad_after": r.pad_after, "zero_rows": r.zero_rows}
                      for r in self.table(rows)],
        }


# ---------------------------------------------------------------------------
# Spans of the generic feature path
# ---------------------------------------------------------------------------


def frame_sample_spans(grid: FrameGrid) -> np.ndarray:
    """``[start, end)`` samples of every feature frame's analysis window, shape ``(T, 2)``, int64.

    Frame ``j`` is centred at ``t0 * sr + j * hop`` samples; its window is
    ``window`` samples around that centre (as :meth:`FrameGrid.sample_span`).
    """
    if grid.window is None or grid.hop is None or not grid.sample_rate:
        raise InputError("this feature's grid has no window and hop in samples; its spans are unknown")
    j = np.arange(grid.num_frames, dtype=np.int64)
    first = grid.sample_span(0) if grid.num_frames else (0, grid.window)
    starts = first[0] + j * grid.hop
    return np.stack([starts, starts + grid.window], axis=1)


def aligned_sources(grid: FrameGrid, *, fps, num_frames: int, method: str = DEFAULT_METHOD, window: int | None = None,
                    anchor="start", edge: str | None = None, k: int | None = None, video: FrameGrid | None = None):
    """Which feature frames each of ``num_frames`` video frames receives under an alignment rule.

    Runs :func:`avalign.align` on the indices ``1..T`` themselves, so the answer
    is the engine's own mapping. Returns ``(lo, hi, zeros)``, each shape
    ``(num_frames,)``: the first and last feature frame used (``-1`` when
    only padding), and how many of the received rows are zero padding.
    ``video``: the video's frame grid (its actual timestamps when variable-rate).
    """
    from .align import align
    from .features.base import Features

    t = grid.num_frames
    idx = Features(np.arange(1, t + 1, dtype=np.float64)[:, None], grid, {"feature": "index"})
    if method == "pool":
        method = "stack"  # same sources, kept separate
    out = align(idx, fps=fps, num_frames=num_frames, method=method, window=window, anchor=anchor, edge=edge,
                k=k, video=video).values.reshape(num_frames, -1)
    zeros = (out == 0).sum(axis=1)
    used = np.where(out == 0, np.nan, np.round(out - 1, 6))  # a weight of 1e-6 is float noise, not a source
    with np.errstate(invalid="ignore"):
        lo = np.floor(np.nanmin(np.where(np.isnan(used), np.inf, used), axis=1))
        hi = np.ceil(np.nanmax(np.where(np.isnan(used), -np.inf, used), axis=1))
    empty = ~np.isfinite(lo)
    lo = np.where(empty, -1, lo).astype(np.int64)
    hi = np.where(empty, -1, hi).astype(np.int64)
    return lo, hi, zeros.astype(np.int64)


def feature_spans(grid: FrameGrid, *, fps, num_frames: int, **rule) -> tuple[np.ndarray, np.ndarray]:
    """``[start, end)`` samples each video frame receives from the features on ``grid``, and zero-row counts.

    Rows that receive only padding get an empty span at the frame's time.
    """
    frames = frame_sample_spans(grid)
    lo, hi, zeros = aligned_sources(grid, fps=fps, num_frames=num_frames, **rule)
    spans = np.empty((num_frames, 2), np.int64)
    ok = lo >= 0
    spans[ok, 0] = frames[lo[ok], 0]
    spans[ok, 1] = frames[hi[ok], 1]
    f = parse_fps(fps)
    at = (np.arange(num_frames, dtype=np.int64) * grid.sample_rate * f.denominator) // f.numerator
    if rule.get("video") is not None and rule["video"].timestamps is not None:
        at = np.floor(np.asarray(rule["video"].times()) * grid.sample_rate).astype(np.int64)
    spans[~ok, 0] = at[~ok]
    spans[~ok, 1] = at[~ok]
    return spans, zeros


def alignment_rule(*, method: str, fps, rate, window=None, anchor="start", edge=None, k=None) -> str:
    """The alignment rule in words."""
    fps_s, rate_s = fraction_str(parse_fps(fps)), f"{float(rate):g}"
    if "/" in fps_s:
        fps_s = f"({fps_s})"
    edge = edge or ("clamp" if method in ("interval", "linear") else "zeros")
    if method == "interval":
        text = (f"video frame i takes the feature linearly interpolated at the middle of its display interval "
                f"[t_i, t_i+1) (t_i = i/{fps_s} s, or the frame's timestamp)")
    elif method == "linear":
        text = f"video frame i takes the feature linearly interpolated at its start time i/{fps_s} s"
    elif method == "stretch":
        text = "the T feature frames are stretched to N rows (align_corners: first and last pinned)"
    elif method == "nearest":
        text = f"video frame i takes the feature frame nearest its time i/{fps_s} s"
    elif method == "index":
        text = f"video frame i takes feature frame int(i*{rate_s}/{fps_s})"
    elif method in ("stack", "pool"):
        ratio = Fraction(rate) / parse_fps(fps)
        g = k if k is not None else (int(ratio) if ratio.denominator == 1 else f"{rate_s}/{fps_s}")
        text = (f"video frame i takes feature frames [{g}*i, {g}*i+{g}) "
                + ("stacked" if method == "stack" else "averaged"))
    else:
        raise InputError(f"unknown alignment method {method!r}")
    if window:
        where = {"start": "starting at", "centre": "centred on", "center": "centred on"}.get(
            anchor, f"offset {anchor} from")
        text += f", then a window of {window} rows {where} that row"
    return text + f"; {edge} beyond the ends"


# ---------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------


def _length(source, duration, n_samples, recipe):
    """``(n_samples, fps, video_frames, video_grid, audio)`` from a media file (decoded by the shared
    pipeline stage, as extract reads it), a duration or a sample count (the last four None without a file)."""
    if source is not None:
        from .pipeline import decode

        audio, info = decode(source, recipe)
        v = info.video
        return (audio.num_samples, (v.fps if v else None), (v.num_frames if v else None), (v.grid() if v else None),
                audio)
    sample_rate = recipe.sample_rate
    if n_samples is not None:
        if int(n_samples) <= 0:
            raise InputError(f"bad number of samples {n_samples}: must be positive")
        return int(n_samples), None, None, None, None
    if duration is None:
        raise InputError("explain needs a duration (--duration), a number of samples or a media file")
    try:
        d = Fraction(str(duration))
    except (ValueError, ZeroDivisionError):
        raise InputError(f"bad duration {duration!r}: expected seconds, e.g. 10 or 3.833375") from None
    if d <= 0:
        raise InputError(f"bad duration {duration!r}: must be greater than 0")
    return round(d * sample_rate), None, None, None, None


@budget.keyword
def explain(preset=None, *, feature: str | None = None, source=None, duration=None, n_samples: int | None = None,
            fps=None, video_frames: int | None = None, method: str = DEFAULT_METHOD, window: int | None = None,
            anchor="start", edge: str | None = None, k: int | None = None, rounding: str = "floor",
            **options) -> Explanation:
    """Explain what audio each output row of a preset or an aligned feature receives.

    Parameters
    ----------
    preset : str or Preset, optional
        A preset name (``avalign.presets()``) or a :class:`~avalign.systems.Preset` instance.
    feature : str, optional
        A feature kind (``mel``, ``mfcc``, ...) for the generic path; ``options`` go to its config.
    source : path, optional
        A media file: its audio length, fps and video frame count are used.
    duration : float or str, optional
        Seconds of audio (``n_samples = round(duration * sample_rate)``).
    n_samples : int, optional
        Samples of audio at the recipe's sample rate.
    fps : optional
        Video frame rate (default: the file's; presets with a fixed rate use theirs).
    video_frames : int, optional
        Video frames (default: the file's, else ``rounding(duration * fps)``).
    method, window, anchor, edge, k :
        The alignment rule of the feature path (see :func:`avalign.align`).
    memory_budget : str or int, optional
        Memory budget for this call (``"2G"``, bytes); see :mod:`avalign.budget`.

    Returns
    -------
    Explanation
    """
    from .systems import Preset

    if preset is not None and feature is not None:
        raise InputError("give either a preset or a feature, not both")
    if preset is None and feature is None:
        feature = "mel"
    if preset is not None:
        from . import systems

        p = preset if isinstance(preset, Preset) else systems.get(preset, **options)
        n, file_fps, file_frames, _, audio = _length(source, duration, n_samples, p)
        # a fixed-rate system runs at its rate whatever the file's (an explicit other fps is refused)
        f = p.resolve_fps(fps if (fps is not None or p.fixed_fps is not None) else file_fps)
        vf = _video_frames(video_frames, file_frames, file_fps, n, p.sample_rate, f, rounding, fps)
        rows = p.num_frames(n, f, vf)
        spans = p.sources(n, f, vf)  # the spans of the layout that builds the array
        if spans.shape[0] != rows:
            raise AssertionError(f"preset {p.name}: sources() gives {spans.shape[0]} rows, num_frames {rows}")
        notes = []
        if p.fixed_fps is not None and file_fps is not None and Fraction(file_fps) != Fraction(p.fixed_fps):
            notes.append(f"note: {p.name} assumes {fraction_str(p.fixed_fps)} fps; the file is "
                         f"{fraction_str(file_fps)} fps")
        subject = f"preset {p.name}" + (f" ({p.system})" if p.system else "")
        return Explanation(subject, p.rule, p.shape, rows, n, p.sample_rate, f, vf, spans, None, notes, audio=audio)

    from . import features as _features

    ext = _features.create(feature, **options)
    n, file_fps, file_frames, file_grid, audio = _length(source, duration, n_samples, ext)
    if fps is None and file_fps is None:
        raise InputError("explain needs a frame rate: pass --fps or a video file")
    f = parse_fps(fps if fps is not None else file_fps)
    vf = _video_frames(video_frames, file_frames, file_fps, n, ext.sample_rate, f, rounding, fps)
    grid = ext.grid(n)
    # the engine maps an index per feature frame onto the video frames: float64 indices, int64 spans, masks
    budget.check(budget.nbytes(grid.num_frames, itemsize=EXPLAIN_BYTES) + budget.nbytes(vf, window or 1, itemsize=
                 EXPLAIN_BYTES), f"{grid.num_frames} feature frames and {vf} video frames x {EXPLAIN_BYTES} bytes")
    vgrid = file_grid if (file_grid is not None and f == file_fps and vf == file_frames) else None
    spans, zeros = feature_spans(grid, fps=f, num_frames=vf, method=method, window=window, anchor=anchor,
                                 edge=edge, k=k, video=vgrid)
    rule = (f"{feature}: {grid.describe().replace('frames', 'feature frames', 1)}; "
            + alignment_rule(method=method, fps=f, rate=grid.rate, window=window, anchor=anchor, edge=edge, k=k))
    shape = f"[{vf}{', ' + str(window) if window else ''}, ...]"
    times = vgrid.times() if vgrid is not None and vgrid.timestamps is not None else None
    notes = ["note: variable frame rate: rows sit at the video's actual frame times"] if times is not None else []
    return Explanation(f"feature {feature}", rule, shape, vf, n, ext.sample_rate, f, vf, spans, zeros, notes, times,
                       audio=audio)


#: Bytes per feature frame and per video frame of the index arrays that explain builds for a feature.
EXPLAIN_BYTES = 64


def _video_frames(video_frames, file_frames, file_fps, n, sr, fps, rounding, explicit=None) -> int:
    """Video frames to explain: given, else the file's as extract counts them (at an ``explicit`` other rate:
    the same span at that rate), else ``rounding(duration * fps)``."""
    if video_frames is not None:
        if int(video_frames) <= 0:
            raise InputError(f"bad number of frames {video_frames}: must be positive")
        return int(video_frames)
    if file_frames is not None and file_fps is not None:
        from .pipeline import video_frame_count

        return video_frame_count(file_frames, file_fps, explicit, rounding)
    return num_frames_for_duration(Fraction(n, sr), fps, rounding)


__all__ = ["Explanation", "SpanRow", "aligned_sources", "alignment_rule", "explain", "feature_spans",
           "frame_sample_spans"]
