"""Plans for running a conv-front-end encoder on long audio in overlapping segments.

A conv stack with receptive field ``window`` and hop ``hop`` (samples) turns
``n`` samples into ``T`` frames; frame ``k`` sees samples
``[k*hop, k*hop + window)``. A :class:`Segment` asks the model for global
frames ``[first, last)`` by feeding it the samples of those frames only, and
keeps the interior ``[keep_start, keep_stop)``: the frames it owns, with
``context`` frames of left and right context around them (fewer at the edges
of the clip). Kept ranges tile ``[0, T)`` exactly, so the output has the
same length as a full-context run; with a layer-norm front end every kept
frame's conv features are the full-context ones bit for bit and only the
transformer sees less context.

Pure integer arithmetic: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """One model call: frames ``[first, last)`` from samples ``[start, stop)``; keep ``[keep_start, keep_stop)``.

    All frame indices are global (frames of the whole clip); ``start``/``stop`` are samples.
    """

    first: int
    last: int
    keep_start: int
    keep_stop: int
    start: int
    stop: int

    @property
    def num_frames(self) -> int:
        """Frames the model returns for this segment."""
        return self.last - self.first

    @property
    def keep(self) -> slice:
        """Rows of this segment's output that are kept."""
        return slice(self.keep_start - self.first, self.keep_stop - self.first)


def plan(num_frames: int, *, n_samples: int, hop: int, window: int, chunk: int, context: int) -> list[Segment]:
    """Segments that cover ``num_frames`` frames in chunks of ``chunk`` frames with ``context`` frames each side.

    Parameters
    ----------
    num_frames : int
        Frames of the whole clip (``T``).
    n_samples : int
        Samples of the whole clip; the last segment runs to its end (as a full-context call does).
    hop, window : int
        Hop and receptive field of the conv stack, in samples.
    chunk : int
        Frames owned by each segment; ``chunk <= 0`` or ``chunk >= num_frames`` gives one segment
        (full context).
    context : int
        Frames of context on each side of a chunk (clipped at the clip's edges).

    Returns
    -------
    list of Segment
        Kept ranges tile ``[0, num_frames)`` in order.
    """
    if num_frames <= 0:
        return []
    if chunk <= 0 or chunk >= num_frames:
        return [Segment(0, num_frames, 0, num_frames, 0, int(n_samples))]
    context = max(int(context), 0)
    out = []
    for a in range(0, num_frames, chunk):
        b = min(a + chunk, num_frames)
        first = max(a - context, 0)
        last = min(b + context, num_frames)
        stop = int(n_samples) if last == num_frames else (last - 1) * hop + window
        out.append(Segment(first, last, a, b, first * hop, stop))
    return out


def buckets(lengths, *, batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, sorted by length (longest first).

    Sorting by length keeps the padding within a batch small (length bucketing).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    size = max(int(batch_size), 1)
    return [order[i:i + size] for i in range(0, len(order), size)]
