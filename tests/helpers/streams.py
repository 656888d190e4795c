"""Feeding a stream in test packetisations."""

from __future__ import annotations

import numpy as np


def feed(stream, x: np.ndarray, sizes) -> np.ndarray:
    """All rows of ``stream`` for ``x`` pushed in packets of ``sizes`` samples (cycled), then flushed."""
    out, a, k = [], 0, 0
    while a < len(x):
        b = min(len(x), a + sizes[k % len(sizes)])
        out.append(stream.push(x[a:b]))
        a, k = b, k + 1
    out.append(stream.flush())
    return np.concatenate(out)
