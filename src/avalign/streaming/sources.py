"""Feature frames as samples arrive: each frame once, when no later sample can change it.

A source holds the samples it still needs and the final frames not yet
consumed. :meth:`need` says, for frame ``k``, how many samples must have
arrived before it is final; :meth:`push` appends samples and computes the
frames that became final; :meth:`finish` ends the signal and computes the
rest (the frames that see the end padding).

:class:`SpectralFrames` (Mel, MFCC) computes a run of final frames by calling
the extractor's own :meth:`~avalign.features.Extractor.compute` on a segment
that starts on a hop boundary early enough that no kept frame sees the
segment's start (its padding or its pre-emphasis state); every frame is the
same arithmetic on the same samples as offline, so the values are equal bit
for bit. :class:`ChunkedFrames` runs a neural encoder on chunks of frames with
a declared left context and look-ahead (see :func:`chunk_segments`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..timing import FrameGrid


class _Store:
    """Final frames ``[base, base + len)`` kept for the rows still to come, plus the samples still needed."""

    def __init__(self):
        self.values: np.ndarray | None = None
        self.base = 0  # global index of values[0]
        self.samples = np.zeros(0, np.float32)
        self.sample_base = 0  # global index of samples[0]
        self.n = 0  # samples received
        self.final = 0  # frames [0, final) are final

    def append_samples(self, x: np.ndarray) -> None:
        self.samples = np.concatenate([self.samples, x]) if self.samples.size else x.copy()
        self.n += x.shape[0]

    def segment(self, start: int, stop: int) -> np.ndarray:
        if start < self.sample_base:
            raise AssertionError(f"stream: samples from {start} were dropped (kept from {self.sample_base})")
        return self.samples[start - self.sample_base:stop - self.sample_base]

    def append_frames(self, v: np.ndarray) -> None:
        self.values = v if self.values is None else np.concatenate([self.values, v])
        self.final += v.shape[0]

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """Final frames ``[lo, hi)`` (global indices)."""
        if lo < self.base or hi > self.final:
            raise AssertionError(f"stream: frames [{lo}, {hi}) not held (held [{self.base}, {self.final}))")
        return self.values[lo - self.base:hi - self.base]

    def drop(self, *, frames_before: int, samples_before: int) -> None:
        """Forget frames and samples no later row or frame needs."""
        if self.values is not None and frames_before > self.base:
            cut = min(frames_before, self.final) - self.base
            self.values = self.values[cut:]
            self.base += cut
        if samples_before > self.sample_base:
            cut = min(samples_before, self.n) - self.sample_base
            self.samples = self.samples[cut:]
            self.sample_base += cut


class SpectralFrames(_Store):
    """Frames of a :class:`~avalign.features.spectral.Mel` or :class:`~avalign.features.spectral.MFCC`.

    Frame ``k`` sees samples ``[hop k - left, hop k - left + width)`` (``left =
    n_fft // 2`` when centred) and, with pre-emphasis, the sample before.
    Refuses ``top_db`` (a clip-wide maximum: no frame is final before the end).
    """

    def __init__(self, extractor):
        super().__init__()
        from ..features.spectral import MFCC, Mel

        c = extractor.config
        if isinstance(extractor, Mel):
            if c.level == "db" and c.top_db is not None:
                raise InputError("mel with top_db depends on the clip's maximum and cannot stream; "
                                 "pass top_db=None")
            self.hop, self.width = int(c.hop_length), int(c.n_fft)
            self.left = self.width // 2 if c.center else 0
            self.reflect = bool(c.center and c.pad_mode == "reflect")
            self.pre = 1 if c.preemphasis else 0
        elif isinstance(extractor, MFCC):
            self.hop, self.width, self.left = int(c.frame_step), int(c.frame_len), 0
            self.reflect, self.pre = False, 1 if c.preemph else 0
        else:
            raise InputError(f"feature {extractor.name!r} is not spectral")
        self.extractor = extractor
        self.int16 = getattr(c, "input_scale", "float") == "int16"
        self.ended = False

    # -- timing ----------------------------------------------------------------

    @property
    def frame_shape(self) -> tuple:
        """Shape of one frame: ``(n_mels,)``, ``(n_mfcc,)`` or ``(numcep,)``."""
        c = self.extractor.config
        return (getattr(c, "numcep", None) or c.n_mfcc or c.n_mels,)

    @property
    def sample_rate(self) -> int:
        return self.extractor.sample_rate

    def grid(self, n_samples: int) -> FrameGrid:
        return self.extractor.grid(n_samples)

    def num_frames(self, n_samples: int) -> int:
        return self.extractor.num_frames(n_samples)

    def need(self, k):
        """Samples that must have arrived for frame(s) ``k`` to be final (int64, same shape)."""
        k = np.asarray(k, dtype=np.int64)
        own = self.hop * k - self.left + self.width
        if self.reflect:  # frames reaching before 0 mirror samples up to left - hop k
            own = np.maximum(own, np.where(self.hop * k < self.left, self.left - self.hop * k + 1, 0))
        return np.maximum(own, 1)

    def _final_count(self, n: int) -> int:
        k = (n - self.width + self.left) // self.hop + 1  # frames whose window ends by n
        if self.reflect and n < self.left + 1:
            k = 0
        return max(k, 0)

    # -- computing -------------------------------------------------------------

    def _start(self, a: int, end: int | None) -> int:
        """Hop-aligned first sample of a segment whose frames ``>= a`` do not see its start."""
        first = self.hop * a - self.left - self.pre
        if end is not None:
            first = min(first, end - 2 * self.width - self.pre)
        return self.hop * max(0, first // self.hop)

    def _compute(self, a: int, b: int, end: int | None) -> None:
        s = self._start(a, end)
        k0 = s // self.hop
        stop = end if end is not None else self.hop * (b - 1) - self.left + self.width
        x = self.segment(s, stop)
        if self.int16:
            x = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.float32)
        v = self.extractor.compute(x)
        self.append_frames(v[a - k0:b - k0])

    def push(self, x: np.ndarray) -> None:
        """Append samples (float32 at :attr:`sample_rate`) and compute the frames that became final."""
        self.append_samples(x)
        b = self._final_count(self.n)
        if b > self.final:
            self._compute(self.final, b, None)

    def finish(self) -> None:
        """End the signal at the samples received: compute the frames that see its end."""
        self.ended = True
        total = self.num_frames(self.n) if self.n >= self.extractor.min_samples else 0
        if total > self.final:
            self._compute(self.final, total, self.n)

    def keep_from(self, frame: int) -> None:
        """Frames before ``frame`` will not be asked for again."""
        samples = self._start(min(frame, self.final), self.n) - self.hop
        self.drop(frames_before=frame, samples_before=samples)


def chunk_segments(k, *, chunk: int, left: int, right: int, hop: int, window: int):
    """The model call that makes frame(s) ``k`` in a chunked stream: ``(first, last, start, stop)`` arrays.

    Frames are made ``chunk`` at a time: chunk ``c`` owns frames ``[c*chunk, (c+1)*chunk)``
    and is computed from frames ``[first, last) = [max(c*chunk - left, 0), (c+1)*chunk + right)``,
    i.e. samples ``[first*hop, (last-1)*hop + window)`` (the clip's end cuts the last call short).
    """
    c = np.asarray(k, dtype=np.int64) // chunk
    first = np.maximum(c * chunk - left, 0)
    last = (c + 1) * chunk + right
    return first, last, first * hop, (last - 1) * hop + window


class ChunkedFrames(_Store):
    """Frames of a conv-front-end encoder (HuBERT, wav2vec 2.0, WavLM) made chunk by chunk.

    Each call sees ``left`` frames of context before its chunk and ``right``
    frames after it, and is normalised on its own (zero mean, unit variance,
    when the model's processor normalises), as a live system must; the result
    equals :func:`avalign.streaming.offline_chunked` on the whole signal bit for bit.
    """

    def __init__(self, extractor, *, chunk: int, left: int, right: int):
        super().__init__()
        if chunk <= 0 or left < 0 or right < 0:
            raise InputError(f"bad chunking: chunk {chunk} (> 0), left {left} and right {right} (>= 0) frames")
        self.extractor = extractor
        self.chunk, self.left, self.right = int(chunk), int(left), int(right)
        self.window, self.hop = extractor.receptive_field
        self._frame_shape = None

    @property
    def sample_rate(self) -> int:
        return self.extractor.sample_rate

    @property
    def frame_shape(self) -> tuple:
        """Shape of one frame (from one model call on silence, made once)."""
        if self._frame_shape is None:
            self._frame_shape = self.extractor.infer([np.zeros(self.window, np.float32)])[0].shape[1:]
        return self._frame_shape

    def grid(self, n_samples: int) -> FrameGrid:
        return self.extractor.grid(n_samples)

    def num_frames(self, n_samples: int) -> int:
        return self.extractor.num_frames(n_samples) if n_samples >= self.window else 0

    def need(self, k):
        return chunk_segments(k, chunk=self.chunk, left=self.left, right=self.right, hop=self.hop,
                              window=self.window)[3]

    def _call(self, a: int, b: int, first: int, start: int, stop: int) -> None:
        x = self.extractor.normalise(self.segment(start, stop))
        y = self.extractor.infer([x])[0]
        self.append_frames(y[a - first:b - first])

    def push(self, x: np.ndarray) -> None:
        self.append_samples(x)
        while True:
            first, last, start, stop = (int(v) for v in chunk_segments(
                self.final, chunk=self.chunk, left=self.left, right=self.right, hop=self.hop, window=self.window))
            if stop > self.n:
                return
            self._call(self.final, self.final + self.chunk, first, start, stop)

    def finish(self) -> None:
        total = self.num_frames(self.n)
        while self.final < total:
            first, last, start, stop = (int(v) for v in chunk_segments(
                self.final, chunk=self.chunk, left=self.left, right=self.right, hop=self.hop, window=self.window))
            b = min(self.final + self.chunk, total)
            self._call(self.final, b, first, start, min(stop, self.n) if last >= total else stop)

    def keep_from(self, frame: int) -> None:
        first = int(chunk_segments(min(frame, self.final), chunk=self.chunk, left=self.left, right=self.right,
                                   hop=self.hop, window=self.window)[0])
        self.drop(frames_before=frame, samples_before=first * self.hop)
