"""Video frames decoded with PyAV, each with its own timestamp on the video clock.

Times are seconds from the first frame (the clock of ``probe(...).video.grid()``
and of audio read with ``load_audio(..., clock="video")``), taken from each
decoded frame's ``pts``, so variable-rate files keep their real frame times.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, MediaError, NoVideoError
from ..media import MediaInfo, probe


@dataclass(frozen=True)
class Crop:
    """A rectangle in pixels of the decoded frame: left ``x``, top ``y``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text) -> "Crop":
        """``"x,y,w,h"`` (or a 4-sequence) -> Crop; InputError when malformed."""
        parts = text.split(",") if isinstance(text, str) else list(text)
        try:
            x, y, w, h = (int(p) for p in parts)
        except (TypeError, ValueError):
            raise InputError(f"bad crop {text!r}: expected x,y,w,h in pixels") from None
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            raise InputError(f"bad crop {text!r}: x and y must be >= 0, w and h > 0")
        return cls(x, y, w, h)

    def check(self, width: int, height: int) -> None:
        if self.x + self.w > width or self.y + self.h > height:
            raise InputError(f"crop {self.x},{self.y},{self.w},{self.h} reaches outside the {width}x{height} frame")


def video_info(path, info: MediaInfo | None = None) -> MediaInfo:
    """``probe(path)``, refusing a file without a video stream (NoVideoError)."""
    info = info if info is not None else probe(path)
    if info.video is None or info.video.num_frames == 0:
        raise NoVideoError(f"{os.fspath(path)}: no video stream")
    return info


def iter_frames(path, *, info: MediaInfo | None = None, crop: Crop | None = None, size: int | None = None,
                pix_fmt: str = "gray") -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, image)`` for every decoded frame, in presentation order.

    ``time``: seconds from the first frame. ``image``: uint8 ``(H, W)`` for
    ``gray``, ``(H, W, 3)`` for ``bgr24`` / ``rgb24``; cut to ``crop`` first,
    then scaled to ``size x size`` (bilinear) when ``size`` is given.
    """
    import av

    info = video_info(path, info)
    v = info.video
    if crop is not None:
        crop.check(v.width, v.height)
    t0 = float(v.start_time)
    try:
        container = av.open(os.fspath(path))
    except av.error.FFmpegError as exc:  # probe read it: unlikely
        raise MediaError(f"{os.fspath(path)}: cannot open ({exc})") from None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if crop is not None or size is None:
                img = frame.to_ndarray(format=pix_fmt)
                if crop is not None:
                    img = np.ascontiguousarray(img[crop.y:crop.y + crop.h, crop.x:crop.x + crop.w])
                if size is not None and img.shape[:2] != (size, size):
                    img = _resize(img, size, pix_fmt)
            else:
                img = frame.reformat(width=size, height=size, format=pix_fmt,
                                     interpolation="BILINEAR").to_ndarray()
            yield float(frame.time) - t0, img
    except av.error.FFmpegError as exc:
        raise MediaError(f"{os.fspath(path)}: corrupt video stream ({exc})") from None
    finally:
        container.close()


def _resize(img: np.ndarray, size: int, pix_fmt: str) -> np.ndarray:
    """Bilinear ``size x size`` scaling of a uint8 image with FFmpeg's scaler (through PyAV)."""
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=pix_fmt)
    return frame.reformat(width=size, height=size, interpolation="BILINEAR").to_ndarray()


def nearest_frames(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the frame whose timestamp is nearest to each time in ``at`` (ties: the earlier), int64."""
    times = np.asarray(times, dtype=np.float64)
    at = np.asarray(at, dtype=np.float64)
    right = np.clip(np.searchsorted(times, at, side="left"), 0, times.shape[0] - 1)
    left = np.clip(right - 1, 0, times.shape[0] - 1)
    take_left = np.abs(at - times[left]) <= np.abs(times[right] - at) + 1e-9
    return np.where(take_left, left, right).astype(np.int64)
