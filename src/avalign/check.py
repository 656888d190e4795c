"""Does a feature file match a video? Counts, rates and per-frame time error, in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .media import probe
from .store import load
from .timing import FrameGrid, fraction_str


@dataclass
class CheckReport:
    """Result of :func:`check`: ``ok``, the explanation ``lines``, and the per-frame time error (seconds)."""

    ok: bool
    lines: list[str] = field(default_factory=list)
    rows: int = 0
    video_frames: int = 0
    max_time_error: float | None = None

    def text(self) -> str:
        return "\n".join(self.lines)


def _khz(sr: int) -> str:
    return f"{sr / 1000:g} kHz"


def check(video_path, features_path) -> CheckReport:
    """Compare a feature file (with its sidecar) against a video's frames."""
    info = probe(video_path)
    values, meta = load(features_path)
    rows = int(values.shape[0]) if values.ndim else 0
    if info.video is None:
        return CheckReport(False, [f"{video_path}: no video stream to check against"], rows, 0)
    v = info.video
    vgrid = v.grid()
    lines = []
    if meta is None:
        ok = rows == v.num_frames
        lines.append(f"{rows} rows (no sidecar) for {v.num_frames} video frames at {fraction_str(v.fps)} fps: "
                     + ("match" if ok else f"MISMATCH by {rows - v.num_frames:+d}"))
        return CheckReport(ok, lines, rows, v.num_frames)
    audio = meta.get("audio") or {}
    sr, n = audio.get("sample_rate"), audio.get("num_samples")
    head = []
    if sr and n is not None:
        head.append(f"audio {n / sr:.6g} s = {n} samples at {_khz(sr)}")
    if meta.get("source_grid"):
        head.append(f"{FrameGrid.from_dict(meta['source_grid']).describe().replace('frames', 'feature frames', 1)}")
    grid = FrameGrid.from_dict(meta["grid"]) if meta.get("grid") else None
    target = f"{rows} rows for {v.num_frames} video frames at {fraction_str(v.fps)} fps"
    lines.append("; ".join(head) + (" -> " if head else "") + target)
    expected = v.num_frames
    preset = meta.get("preset")
    if preset:
        from . import systems

        p = systems.get(preset)
        fps = Fraction(meta["fps"]) if meta.get("fps") else v.fps
        expected = p.num_frames(int(n), fps, v.num_frames)
        if expected != v.num_frames:
            lines.append(f"preset {preset}: its rule gives {expected} rows for this audio ({p.shape}); "
                         f"the video has {v.num_frames} frames")
    ok = rows == expected
    max_err = None
    if grid is not None and rows and grid.num_frames == rows:
        m = min(rows, v.num_frames)
        err = np.abs(grid.times()[:m] - vgrid.times()[:m])
        max_err = float(err.max()) if m else 0.0
        lines.append(f"time error per frame: max {max_err * 1000:.3f} ms over {m} frames")
        if max_err > 0.5 / float(v.fps):
            ok = False
    if meta.get("offsets"):
        off = meta["offsets"].get("audio_start_on_video_clock", 0.0)
        if off:
            lines.append(f"audio starts {off * 1000:+.1f} ms from the first video frame (honoured)")
    lines.append("OK: features match the video" if ok else
                 f"MISMATCH: {rows} rows, expected {expected} ({rows - expected:+d})")
    return CheckReport(ok, lines, rows, v.num_frames, max_err)
