"""Streaming presets of real-time systems: each system's own loop, run as the packets arrive.

The LiveTalking and Ditto loops (``livetalking-wav2lip``, ``livetalking-hubert``,
``livetalking-whisper``, ``ditto-online``) are in :mod:`.loops`; :data:`REALTIME` registers all.

``rad-nerf-stream`` -- RAD-NeRF / SyncTalk ``nerf/asr.py``: the audio is cut
into 20 ms chunks (320 samples) after 10 zero chunks; whenever 10 + 50 + 10
chunks are buffered, wav2vec2's CTC logits of the buffer (normalised on its
own) give 50 new 50 Hz rows (``logits[10:60]``), and the last 20 chunks are
kept; at the end the buffer runs once more, uncut. The logits go into a ring
buffer read as windows of 16 rows at stride 2 (video frame ``j`` gets logits
``[2j - 8, 2j + 8)``, zeros before the start): rows ``[16, C]``, the
``aud_eo.npy`` layout that :func:`avalign.extract` gives for ``rad-nerf``, bit
for bit. Look-ahead: frame ``j`` needs logit ``2j + 7``, which arrives with
the call whose buffer ends 60 chunks after the start of its 50: at worst
20,480 samples (1.28 s) past the end of the frame, 1.32 s from its start
(the live GUI warms up 74 chunks, 1.48 s, and stacks 8 such windows,
frames ``j-4 .. j+3``, for its attention net: 3 frames, 120 ms, more).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..align import windows
from .core import Stream
from .loops import LOOPS
from .sources import _Store

#: RAD-NeRF's chunk (samples at 16 kHz) and its left / mid / right chunk counts (``-l 10 -m 50 -r 10``).
CHUNK, LEFT, MID, RIGHT = 320, 10, 50, 10


class RadNerfLogits(_Store):
    """CTC logits made by RAD-NeRF's buffer loop, 50 at a time (see the module docstring)."""

    def __init__(self, preset, extractor):
        super().__init__()
        self.preset, self.extractor = preset, extractor
        self.left, self.mid, self.right = preset.feature.left, preset.feature.mid, preset.feature.right
        self.calls = 0  # non-terminal calls made
        self._frame_shape = None

    sample_rate = 16000

    @property
    def frame_shape(self) -> tuple:
        if self._frame_shape is None:
            self._frame_shape = self.extractor.infer([np.zeros(400, np.float32)])[0].shape[1:]
        return self._frame_shape

    def grid(self, n_samples: int):
        from ..timing import FrameGrid

        return FrameGrid(Fraction(self.sample_rate, CHUNK), 0)

    def num_frames(self, n_samples: int) -> int:
        return self.preset.feature.frames(n_samples, self.preset.opts)

    def need(self, g):
        """Audio samples after which logit(s) ``g`` are made: the end of their call's buffer."""
        c = np.asarray(g, dtype=np.int64) // self.mid
        return (self.mid * c + self.mid + self.right) * CHUNK

    def _run(self, start: int, stop: int, terminal: bool) -> None:
        """One call on samples ``[start, stop)`` of the stream (``left`` zero chunks + audio)."""
        pad = self.left * CHUNK
        a, b = start - pad, stop - pad
        x = self.segment(max(a, 0), b)
        if a < 0:
            x = np.concatenate([np.zeros(-a, np.float32), x])
        y = self.extractor.infer([self.extractor.normalise(x)])[0]
        end = y.shape[0] if terminal else min(y.shape[0], y.shape[0] - self.right + 1)
        self.append_frames(y[self.left:end])

    def push(self, x: np.ndarray) -> None:
        self.append_samples(x)
        size = (self.left + self.mid + self.right) * CHUNK
        while (self.calls * self.mid + self.mid + self.right) * CHUNK <= self.n:
            start = self.calls * self.mid * CHUNK
            self._run(start, start + size, False)
            self.calls += 1

    def finish(self) -> None:
        from ..systems.ssl import rad_nerf_windows

        plan = rad_nerf_windows(self.n, chunk=CHUNK, left=self.left, mid=self.mid, right=self.right)
        for start, stop, terminal in plan[self.calls:]:
            self._run(start, stop, terminal)

    def keep_from(self, frame: int) -> None:
        start = self.calls * self.mid * CHUNK - self.left * CHUNK
        self.drop(frames_before=frame, samples_before=start)


class RadNerfRows:
    """Video frame ``j``: logits ``[2j - 8, 2j + 8)`` (zeros outside), ``[16, C]``; ``M // 2 + 1`` rows."""

    size = 16
    quantum = 1

    def __init__(self, preset, source):
        self.preset, self.source = preset, source
        self.frame_rate = Fraction(50)

    def span(self, j):
        j = np.asarray(j, dtype=np.int64)
        return np.maximum(2 * j - 8, 0), 2 * j + 8

    def min_samples(self, j):
        return np.zeros(np.shape(j), np.int64)

    def final_count(self, n: int) -> int:
        return self.preset.num_frames(n) if self.preset.feature.frames(n, self.preset.opts) > 0 else 0

    def empty(self) -> np.ndarray:
        return np.zeros((0, self.size) + tuple(self.source.frame_shape), np.float32)

    def rows(self, j0: int, j1: int, total) -> np.ndarray:
        j = np.arange(j0, j1, dtype=np.int64)
        vals = self.source.values
        if total is not None:  # logits past the last are zeros (the unfold's padding)
            vals = vals[:total - self.source.base]
        return windows(vals, 2 * j - self.source.base, size=self.size, anchor=-8, edge="zeros")


def rad_nerf_stream(*, fps=None, model=None, device=None, sample_rate_in: int = 16000, **options) -> Stream:
    """RAD-NeRF's ``asr.py`` loop as a stream (rows of the ``rad-nerf`` preset; 25 fps)."""
    from .. import preset as get_preset

    p = get_preset("rad-nerf", **options)
    f = p.resolve_fps(fps)
    source = RadNerfLogits(p, p.feature.extractor(model if model is not None else p.default_model, device))
    return Stream(source, RadNerfRows(p, source), fps=f, sample_rate_in=sample_rate_in, name="rad-nerf-stream",
                  period=MID)


#: name -> factory(fps=, model=, device=, sample_rate_in=, **options) -> Stream
REALTIME: dict = {"rad-nerf-stream": rad_nerf_stream, **LOOPS}
