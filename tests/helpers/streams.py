"""Feeding a stream in test packetisations."""

from __future__ import annotations

import numpy as np


def packets(n: int, sizes):
    """``(start, end)`` of each packet covering ``n`` samples in packets of ``sizes`` samples (cycled)."""
    a, k = 0, 0
    while a < n:
        b = min(n, a + sizes[k % len(sizes)])
        yield a, b
        a, k = b, k + 1


def feed(stream, x: np.ndarray, sizes) -> np.ndarray:
    """All rows of ``stream`` for ``x`` pushed in packets of ``sizes`` samples (cycled), then flushed."""
    out = [stream.push(x[a:b]) for a, b in packets(len(x), sizes)]
    out.append(stream.flush())
    return np.concatenate(out)
