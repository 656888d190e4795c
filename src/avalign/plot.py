"""A picture of the alignment: waveform, feature heatmap, video frame boundaries and one row's window.

Two halves, so that tests can check the numbers without looking at pixels:

- :func:`plot_data` computes everything the picture shows (a dict of arrays
  and numbers, all times in seconds on the video clock: frame 0 at 0 s);
- :func:`render` draws such a dict with matplotlib (Agg backend, imported
  lazily; ``pip install 'avalign[plot]'``) and writes the PNG atomically.

:func:`plot` does both.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InputError, require
from .explain import explain
from .media import Audio, probe
from .timing import fraction_str

#: Feature kinds drawn as they are; other recipes are drawn over a plain log-mel.
_DRAWABLE = ("mel", "mfcc", "whisper-mel")


def _envelope(x: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``x`` over ``bins`` equal slices (for drawing a long waveform), each ``(bins,)``."""
    n = x.shape[0]
    bins = max(1, min(bins, n))
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    return lo, hi


def plot_data(source, preset=None, *, feature: str | None = None, frame: int | None = None, fps=None,
              context: int = 5, thumbnails: int = 5, envelope_bins: int = 2000, **options) -> dict:
    """The numbers :func:`render` draws.

    Parameters
    ----------
    source : path
        A video (or audio file with ``fps``).
    preset : str or Preset, optional
        Show this preset's windows (:meth:`Preset.sources`).
    feature : str, optional
        Show this feature kind aligned by the rule in ``options`` (default ``mel``, linear).
    frame : int, optional
        The row whose window is highlighted (default: the middle row).
    fps : optional
        Frame rate (default: the video's).
    context : int
        Video frames shown on each side of ``frame`` in the zoomed panels.
    thumbnails : int
        Number of video frames shown as pictures, centred on ``frame``.

    Returns
    -------
    dict
        ``fps`` (Fraction), ``num_frames`` (video frames), ``frame`` (chosen row),
        ``frame_bounds`` ``(num_frames + 1,)`` s (frame i shown in
        ``[bounds[i], bounds[i+1])``), ``spans`` ``(rows, 2)`` s each row
        receives, ``window`` ``(2,)`` s and ``window_samples`` ``(2,)`` of the
        chosen row, ``zoom`` ``(2,)`` s, ``audio_times`` / ``audio`` (zoomed
        samples), ``envelope_times`` / ``envelope_min`` / ``envelope_max``
        (whole clip), ``heatmap`` ``(T, bins)`` with ``heatmap_times``
        ``(T,)`` s and ``heatmap_label``, ``thumb_frames`` (indices),
        ``audio_offset`` s (container), ``title``, ``rule``, ``rows``, ``duration``.
    """
    from . import features as _features

    info = probe(source)
    video = info.video
    if video is None and fps is None:
        raise InputError(f"{source}: no video stream; pass --fps to plot audio against frames")
    ex = explain(preset, feature=feature, source=source, fps=fps, **options)
    f = Fraction(ex.fps)
    sr = ex.sample_rate
    audio = ex.audio  # decoded once, by the pipeline's reader, as extract reads it
    x = np.asarray(audio.samples, np.float64)
    if audio.scale == "int16":
        x = x / 32768.0
    n = x.shape[0]
    duration = n / sr

    # video frame boundaries on the video clock (actual timestamps for a variable-rate file)
    if video is not None and f == video.fps:
        vt = video.grid().times()
        num_frames = video.num_frames
    else:
        num_frames = ex.video_frames
        vt = np.arange(num_frames) * float(1 / f)
    period = float(1 / f)
    bounds = np.append(vt, (vt[-1] + period) if num_frames else 0.0)

    rows = ex.rows
    if rows == 0:
        raise InputError("the recipe gives no rows for this audio")
    if frame is None:
        frame = rows // 2
    if not -rows <= frame < rows:
        raise InputError(f"frame {frame} is outside the {rows} rows")
    frame %= rows
    spans = ex.spans.astype(np.float64) / sr
    window = spans[frame]
    t_frame = frame * period if frame >= num_frames else float(vt[frame])
    z0 = min(t_frame - context * period, window[0] - period)
    z1 = max(t_frame + (context + 1) * period, window[1] + period)
    zoom = np.array([max(z0, -0.5 * period + min(0.0, window[0])), min(z1, max(duration, window[1]) + period)])

    s0, s1 = (int(np.clip(np.floor(v * sr), 0, n)) for v in zoom)
    lo, hi = _envelope(x.astype(np.float32), envelope_bins)
    env_t = (np.arange(lo.shape[0]) + 0.5) * (duration / lo.shape[0])

    heat_kind = feature if feature in _DRAWABLE else "mel"
    heat_opts = options if feature in _DRAWABLE else {}
    known = {k: v for k, v in heat_opts.items() if k not in ("method", "window", "anchor", "edge", "k", "rounding")}
    ext = _features.create(heat_kind, **known)
    if audio.scale != "float" and heat_kind == "mel":  # an int16 reader (syncnet, DeepSpeech): display in float
        audio = Audio(np.asarray(audio.samples, np.float32) / 32768.0, audio.sample_rate, audio.start, "float",
                      dict(audio.meta))
    feats = ext.extract(audio)
    heat = feats.values.reshape(feats.values.shape[0], -1)
    if preset is not None:
        label = f"log-mel for display ({getattr(ex, 'subject', '')} uses its own features)"
    else:
        label = f"{heat_kind} ({feats.grid.describe()})"
    k = min(thumbnails, num_frames) if video is not None else 0
    first = int(np.clip(frame - k // 2, 0, max(num_frames - k, 0)))
    return {
        "source": os.fspath(source), "title": ex.subject, "rule": ex.rule, "rows": rows,
        "fps": f, "num_frames": int(num_frames), "frame": int(frame), "frame_time": t_frame,
        "frame_bounds": bounds, "spans": spans, "window": np.asarray(window), "window_samples": ex.spans[frame].copy(),
        "zoom": zoom, "sample_rate": sr, "n_samples": n, "duration": duration,
        "audio_times": (np.arange(s0, s1) / sr), "audio": x[s0:s1],
        "envelope_times": env_t, "envelope_min": lo, "envelope_max": hi,
        "heatmap": heat, "heatmap_times": feats.grid.times(), "heatmap_period": float(1 / feats.grid.rate),
        "heatmap_label": label, "thumb_frames": np.arange(first, first + k), "audio_offset": float(info.audio_offset),
        "vfr": bool(video is not None and video.vfr and f == video.fps),
    }


def decode_thumbnails(source, indices, *, height: int = 120) -> list[np.ndarray]:
    """RGB pictures ``(height, w, 3)`` uint8 of the video frames ``indices`` (decode order = display order)."""
    import av

    want = sorted(set(int(i) for i in indices))
    out: dict[int, np.ndarray] = {}
    if not want:
        return []
    with av.open(os.fspath(source)) as c:
        st = c.streams.video[0]
        st.thread_type = "AUTO"
        for i, fr in enumerate(c.decode(st)):
            if i in want:
                w = max(2, round(fr.width * height / fr.height))
                out[i] = fr.reformat(width=w, height=height, format="rgb24").to_ndarray()
            if i >= want[-1]:
                break
    return [out[i] for i in indices if i in out]


def render(data: dict, output, *, thumbnails: list[np.ndarray] | None = None, dpi: int = 100) -> Path:
    """Draw :func:`plot_data`'s dict to a PNG at ``output`` (written atomically). Returns the path."""
    from .store import _atomic_write, check_writable

    out = check_writable(output)
    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    f = data["fps"]
    period = float(1 / f)
    frame, bounds, (w0, w1), (z0, z1) = data["frame"], data["frame_bounds"], data["window"], data["zoom"]
    thumbs = thumbnails or []
    fig = Figure(figsize=(13, 9.5 if thumbs else 8), dpi=dpi, layout="constrained")
    ratios = ([1.3] if thumbs else []) + [0.8, 1.4, 1.6]
    gs = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
    name = Path(data["source"]).name
    ws = data["window_samples"]
    shown_end = bounds[frame + 1] if frame + 1 < len(bounds) else data["frame_time"] + period
    fig.suptitle(f"{name}: {data['title']}, {data['rows']} rows at {fraction_str(f)} fps"
                 + (" (variable frame rate)" if data.get("vfr") else "") + "\n"
                 f"row {frame} (video frame shown {data['frame_time']:.3f}-{shown_end:.3f} s) "
                 f"receives samples [{ws[0]}, {ws[1]}) = {w0:.3f}-{w1:.3f} s", fontsize=12)
    win_c, frame_c = "tab:orange", "tab:blue"
    r = 0
    if thumbs:
        sub = gs[0].subgridspec(1, len(thumbs), wspace=0.05)
        for j, (img, idx) in enumerate(zip(thumbs, data["thumb_frames"])):
            ax = fig.add_subplot(sub[0, j])
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            t = bounds[idx]
            chosen = int(idx) == frame
            ax.set_title(f"frame {idx}  ({t:.3f} s)", fontsize=10, color=frame_c if chosen else "black",
                         fontweight="bold" if chosen else "normal")
            if chosen:
                for s in ax.spines.values():
                    s.set_edgecolor(frame_c)
                    s.set_linewidth(3)
        r = 1

    def frame_axis(ax, zoomed=True):
        if data.get("vfr") and zoomed:
            return  # frame numbers are written between the actual boundaries instead
        sec = ax.secondary_xaxis("top", functions=(lambda t: t * float(f), lambda i: i / float(f)))
        sec.set_xlabel("video frame" + (" (at the average rate)" if data.get("vfr") else ""), fontsize=9)
        sec.tick_params(labelsize=8)

    # whole clip
    ax = fig.add_subplot(gs[r])
    ax.fill_between(data["envelope_times"], data["envelope_min"], data["envelope_max"], color="0.35", lw=0)
    ax.axvspan(z0, z1, color="gold", alpha=0.35, label="zoomed below")
    ax.axvspan(w0, w1, color=win_c, alpha=0.6)
    ax.set_xlim(min(0.0, z0), max(data["duration"], bounds[-1]))
    ax.set_ylabel("audio")
    ax.set_yticks([])
    ax.set_title(f"whole clip ({data['duration']:.2f} s, {data['num_frames']} video frames)", fontsize=10, loc="left")
    ax.legend(loc="upper right", fontsize=8)
    frame_axis(ax, zoomed=False)

    def boundaries(ax):
        pads = [(z0, 0.0), (data["duration"], z1)]
        for k, (a, b) in enumerate(p for p in pads if p[1] > p[0]):
            ax.axvspan(a, b, facecolor="none", edgecolor="0.6", hatch="xx", lw=0, zorder=0,
                       label="no audio (padding)" if k == 0 else None)
        inside = bounds[(bounds >= z0) & (bounds <= z1)]
        for t in inside:
            ax.axvline(t, color="0.55", lw=0.8, ls=":")
        ax.axvspan(bounds[frame] if frame < len(bounds) - 1 else frame * period,
                   (bounds[frame + 1] if frame + 1 < len(bounds) else (frame + 1) * period),
                   color=frame_c, alpha=0.15, label=f"video frame {frame} on screen")
        ax.axvspan(w0, w1, facecolor=win_c, alpha=0.18, lw=0)
        ax.axvspan(w0, w1, facecolor="none", edgecolor=win_c, lw=2, label=f"audio that row {frame} receives")
        ax.axvline(0, color="black", lw=1)
        ax.axvline(data["duration"], color="black", lw=1)


    # zoomed waveform with frame boundaries
    ax = fig.add_subplot(gs[r + 1])
    ax.plot(data["audio_times"], data["audio"], color="0.2", lw=0.6)
    boundaries(ax)
    for i in range(len(bounds) - 1):
        mid = (bounds[i] + bounds[i + 1]) / 2
        if z0 <= mid <= z1:
            ax.text(mid, 0.97, str(i), transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8,
                    color=frame_c if i == frame else "0.4", fontweight="bold" if i == frame else "normal")
    ax.set_xlim(z0, z1)
    ax.set_ylabel("waveform")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"video frame boundaries (dotted) and the audio window of row {frame}", fontsize=10, loc="left")
    frame_axis(ax)

    # zoomed heatmap
    ax = fig.add_subplot(gs[r + 2])
    ht, heat, hp = data["heatmap_times"], data["heatmap"], data["heatmap_period"]
    sel = (ht >= z0 - hp) & (ht <= z1 + hp)
    if sel.any():
        h = heat[sel]
        ax.imshow(h.T, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                  extent=(ht[sel][0] - hp / 2, ht[sel][-1] + hp / 2, 0, h.shape[1]))
    ax.axvspan(w0, w1, facecolor="none", edgecolor=win_c, lw=2.5)
    for t in bounds[(bounds >= z0) & (bounds <= z1)]:
        ax.axvline(t, color="white", lw=0.8, ls=":")
    ax.set_xlim(z0, z1)
    ax.set_ylabel("feature bin")
    ax.set_xlabel("seconds (video clock: frame 0 at 0 s)")
    ax.set_title(data["heatmap_label"], fontsize=10, loc="left")
    frame_axis(ax)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    payload = buf.getvalue()
    _atomic_write(out, lambda fh: fh.write(payload))
    return out


def plot(source, output, preset=None, *, feature: str | None = None, frame: int | None = None, fps=None,
         **options) -> dict:
    """Compute :func:`plot_data` and :func:`render` it to ``output`` (PNG). Returns the data."""
    from .store import check_writable

    check_writable(output, inputs=(source,))
    data = plot_data(source, preset, feature=feature, frame=frame, fps=fps, **options)
    thumbs = decode_thumbnails(source, data["thumb_frames"]) if len(data["thumb_frames"]) else None
    render(data, output, thumbnails=thumbs)
    return data


__all__ = ["decode_thumbnails", "plot", "plot_data", "render"]
