"""Measure the audio-video offset of a clip: ``avalign.sync(path, method="onset" | "syncnet")``.

Both methods work on the video clock (frame 0 at 0 s, audio placed by its
stream start) and on the frames' own timestamps. The offset has the sign of
``extract(..., offset_ms=...)``: ``offset_ms > 0`` means the sound comes
that much early, and extracting with ``offset_ms`` (which moves the audio
later) puts it in sync. syncnet_python's AV offset has the same sign.

- ``onset`` (no weights): audio onset strength against picture changes on a
  1 ms grid (:mod:`avalign.sync.onset`); confidence is a peak-to-sidelobe ratio.
- ``syncnet``: syncnet_python's network with the user's ``syncnet_v2.model``
  (:mod:`avalign.sync.syncnet`); confidence is ``evaluate``'s conf (LSE-C)
  and ``lse_d`` its minimum mean distance. At 25 fps the windows are those of
  ``evaluate``; at other rates the analysis keeps the video's frame rate
  (shifts of one video frame), picks each window's 5 frames at 25 fps spacing
  by timestamp and cuts the MFCC windows at the same instants.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..media import MediaInfo, load_audio
from ..timing import fraction_str
from .frames import Crop, iter_frames, nearest_frames, video_info

METHODS = ("onset", "syncnet")
#: syncnet_python's default search: +-15 frames.
VSHIFT = 15


class ClipTooShortError(InputError):
    """The clip is too short for the windows and the search range of a sync method."""


@dataclass(frozen=True)
class SyncResult:
    """The measured offset of one clip.

    Attributes
    ----------
    method : str
        ``onset`` or ``syncnet``.
    offset_ms : float
        Milliseconds; ``> 0``: the sound is early; pass it to ``extract(offset_ms=...)`` to fix.
    offset_frames : float
        The same in video frames (``offset_ms * fps / 1000``; an integer for ``syncnet``).
    confidence : float
        ``onset``: peak-to-sidelobe ratio; ``syncnet``: median minus minimum mean distance (LSE-C).
    fps : Fraction
        The video's rate (the average for a variable-rate file): the unit of ``offset_frames``.
    curves : dict
        ``offsets_ms`` / ``offsets_frames`` (every candidate offset, ascending),
        ``score`` (onset correlation) or ``distance`` (SyncNet mean distance) per candidate,
        and for SyncNet ``frame_confidence`` (one value per window) and ``dists`` ``(N, 2 vshift + 1)``
        in ``evaluate``'s column order (column ``s`` is offset ``vshift - s``).
    lse_d, lse_c : float or None
        SyncNet's paper metrics (minimum mean distance; confidence); None for ``onset``.
    num_windows : int
        Windows (SyncNet) or video frames (onset) analysed.
    """

    method: str
    offset_ms: float
    offset_frames: float
    confidence: float
    fps: Fraction
    curves: dict = field(repr=False, default_factory=dict)
    lse_d: float | None = None
    lse_c: float | None = None
    num_windows: int = 0

    def to_dict(self, *, curves: bool = True) -> dict:
        """JSON-able summary (arrays as lists)."""
        d = {"method": self.method, "offset_ms": self.offset_ms, "offset_frames": self.offset_frames,
             "confidence": self.confidence, "fps": fraction_str(self.fps), "lse_d": self.lse_d,
             "lse_c": self.lse_c, "num_windows": self.num_windows}
        if curves:
            d["curves"] = {k: np.asarray(v).tolist() for k, v in self.curves.items()}
        return d


def check_options(*, method: str, vshift, seconds, crop):
    """:func:`sync`'s method, ``vshift``, ``seconds`` and ``crop`` checked (InputError); the crop parsed.

    Shared with ``avalign batch --sync``, which refuses them before any clip runs.
    """
    if method not in METHODS:
        raise InputError(f"unknown sync method {method!r}; expected one of {', '.join(METHODS)}")
    if isinstance(vshift, bool) or not isinstance(vshift, int) or vshift < 1:
        raise InputError(f"bad vshift {vshift!r}: must be a positive number of frames")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not seconds > 0):
        raise InputError(f"bad duration {seconds!r}: must be positive seconds")
    return Crop.parse(crop) if crop is not None and not isinstance(crop, Crop) else crop


def sync(source, *, method: str = "onset", model=None, crop=None, vshift: int = VSHIFT, seconds: float | None = None,
         device: str | None = None, batch_size: int = 20, info: MediaInfo | None = None, net=None) -> SyncResult:
    """Measure the audio-video offset of the video ``source``.

    Parameters
    ----------
    method : ``onset`` or ``syncnet``
    model : path, optional
        ``syncnet``: the ``syncnet_v2.model`` state dict (required unless ``net`` is given).
    crop : ``"x,y,w,h"`` or Crop, optional
        Pixels of the frame to use (the face for ``syncnet``; the region that flashes for ``onset``).
    vshift : int
        Search range in video frames, each way (syncnet_python's ``--vshift``; 15).
    seconds : float, optional
        Analyse only the first ``seconds`` of the clip.
    net : optional
        ``syncnet``: a ready network (``forward_lip``, ``forward_aud``) instead of ``model``.
    """
    crop = check_options(method=method, vshift=vshift, seconds=seconds, crop=crop)
    if method == "syncnet" and model is None and net is None:
        raise InputError("the syncnet method needs the network's weights: --model syncnet_v2.model")
    info = video_info(source, info)
    if info.audio is None:
        from ..errors import NoAudioError

        raise NoAudioError(f"{os.fspath(source)}: no audio stream")
    if method == "onset":
        return _onset(source, info=info, crop=crop, vshift=vshift, seconds=seconds)
    return _syncnet(source, info=info, crop=crop, vshift=vshift, seconds=seconds, model=model, net=net,
                    device=device or "cpu", batch_size=batch_size)


def _audio(source, info, *, scale="float", seconds=None):
    """16 kHz mono samples with sample 0 at video frame 0 (trimmed to ``seconds``)."""
    from ..api import on_video_clock

    x = on_video_clock(load_audio(source, 16000, info=info, scale=scale)).samples
    return x if seconds is None else x[: int(seconds * 16000)]


def _first(frames, seconds):
    """The frames shown before ``seconds`` (all without a limit); stops decoding there."""
    import itertools

    return frames if seconds is None else itertools.takewhile(lambda f: f[0] < seconds, frames)


def _onset(source, *, info, crop, vshift, seconds) -> SyncResult:
    from . import onset

    fps = info.video.fps
    frames = _first(iter_frames(source, info=info, crop=crop, pix_fmt="gray"), seconds)
    times, energy = onset.frame_change(frames)
    if times.shape[0] <= vshift:
        raise ClipTooShortError(f"{os.fspath(source)}: too short to sync: {times.shape[0]} frames, the search "
                                f"over +-{vshift} frames needs more than {vshift}")
    samples = _audio(source, info, seconds=seconds)
    num_ms = int(math.ceil(max(times[-1] + 1 / float(fps), samples.shape[0] / 16000) * 1000))
    a = onset.audio_onsets(samples, num_ms=num_ms)
    v = onset.video_onsets(times, energy, num_ms=num_ms)
    m = onset.correlate(a, v, max_shift_ms=int(round(vshift * 1000 / fps)))
    per_ms = float(fps) / 1000
    return SyncResult("onset", m.offset_ms, m.offset_ms * per_ms, m.confidence, fps,
                      {"offsets_ms": m.offsets_ms, "offsets_frames": m.offsets_ms * per_ms, "score": m.score},
                      num_windows=int(times.shape[0]))


def syncnet_windows(times: np.ndarray, *, fps: Fraction, vfr: bool, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The analysis windows: frames of each (int64 ``(N, 5)``) and its first MFCC frame (int64 ``(N,)``).

    Window ``i`` starts at ``t_i = i / fps`` on the video clock; its frames are
    those nearest to ``t_i + j / 25`` (``j = 0..4``) and its audio the MFCC
    frames ``round(100 t_i) + 0..19``. Windows are kept while
    ``t_i + 6/25 <= min(video end, audio end)``: at 25 fps this is
    ``evaluate``'s ``min(V, n // 640) - 5`` windows, frames ``i..i+4``, MFCC ``4i..4i+19``.
    """
    frame = 1 / Fraction(fps)
    video_end = (Fraction(len(times)) * frame if not vfr
                 else Fraction(times[-1]).limit_denominator(10**6) + frame)
    end = min(video_end, Fraction(num_samples, 16000)) - Fraction(6, 25)
    n = max(int(math.floor(end / frame)) + 1, 0) if end >= 0 else 0
    starts = [Fraction(i) * frame for i in range(n)]
    mfcc_start = np.array([math.floor(100 * t + Fraction(1, 2)) for t in starts], dtype=np.int64)
    if not vfr:  # constant rate: frame k is at k / fps exactly
        times = np.arange(len(times)) * float(frame)
    at = np.array([[float(t + Fraction(j, 25)) for j in range(5)] for t in starts]).reshape(n, 5)
    return nearest_frames(times, at) if n else np.zeros((0, 5), np.int64), mfcc_start


def _syncnet(source, *, info, crop, vshift, seconds, model, net, device, batch_size) -> SyncResult:
    from ..align import windows
    from ..features.spectral import MFCC
    from . import syncnet as sn

    video = info.video
    fps = video.fps
    if net is None:
        net = sn.load(model, device=device)
    samples = _audio(source, info, scale="int16", seconds=seconds)
    times, images = [], []
    for t, img in _first(iter_frames(source, info=info, crop=crop, size=sn.SIZE, pix_fmt="bgr24"), seconds):
        times.append(t)
        images.append(img)
    times = np.asarray(times)
    lip_index, mfcc_start = syncnet_windows(times, fps=fps, vfr=video.vfr, num_samples=samples.shape[0])
    n = lip_index.shape[0]
    if n <= vshift:
        raise ClipTooShortError(
            f"{os.fspath(source)}: too short for SyncNet: {n} windows of 5 frames; the search over +-{vshift} "
            f"frames needs at least {vshift + 1} (about {vshift + 6} frames of video and audio)")
    mfcc = MFCC(input_scale="int16").compute(samples)  # (F, 13), python_speech_features on int16
    cc = windows(mfcc, mfcc_start, size=sn.MFCC_FRAMES, anchor="start", edge="zeros").transpose(0, 2, 1)
    im_feat, cc_feat = sn.embed(net, np.stack(images), cc, lip_index=lip_index, batch_size=batch_size,
                                device=device)
    dists = sn.shift_distances(im_feat, cc_feat, vshift=vshift)
    d = sn.decide(dists, vshift=vshift)
    per_frame_ms = 1000 / float(fps)
    offsets = np.arange(-vshift, vshift + 1)
    return SyncResult("syncnet", d["offset"] * per_frame_ms, float(d["offset"]), d["conf"], fps,
                      {"offsets_ms": offsets * per_frame_ms, "offsets_frames": offsets,
                       "distance": d["mean_dists"][::-1], "frame_confidence": d["frame_conf"], "dists": dists},
                      lse_d=d["min_dist"], lse_c=d["conf"], num_windows=n)


def extract_synced(source, result: SyncResult, **kwargs):
    """``avalign.extract(source, offset_ms=result.offset_ms, **kwargs)`` with the measurement in the sidecar.

    The one code path of ``avalign sync --apply`` and ``avalign batch --sync ... --apply-sync``:
    the measured offset is the offset used, and ``meta["offsets"]["sync"]``
    records the result it came from (without curves). ``kwargs`` must not
    hold an ``offset_ms`` of its own.
    """
    import dataclasses

    from ..api import extract

    if kwargs.pop("offset_ms", 0.0):
        raise InputError("an applied sync offset replaces --offset-ms: give one or the other")
    aligned = extract(source, offset_ms=result.offset_ms, **kwargs)
    meta = dict(aligned.meta)
    meta["offsets"] = {**meta["offsets"], "sync": result.to_dict(curves=False)}
    return dataclasses.replace(aligned, meta=meta)


_NETS: dict = {}


def load_net(model, *, device: str = "cpu"):
    """The SyncNet network of the weights file ``model``, loaded once per process (path, size, mtime, device)."""
    from . import syncnet as sn

    p = os.fspath(model)
    try:
        st = os.stat(p)
        key = (os.path.realpath(p), st.st_size, st.st_mtime_ns, device)
    except OSError:
        return sn.load(p, device=device)  # raises the clear ModelError
    if key not in _NETS:
        _NETS.clear()  # one network at a time
        _NETS[key] = sn.load(p, device=device)
    return _NETS[key]


__all__ = ["ClipTooShortError", "Crop", "METHODS", "SyncResult", "extract_synced", "load_net", "sync",
           "syncnet_windows"]
