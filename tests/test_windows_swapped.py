"""framed.windows_swapped (the blocked gather of channel-first windows) equals take + transpose, byte for byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from avalign.framed import EDGES, take, windows_swapped


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 90), f=st.integers(1, 5), size=st.integers(1, 20), n=st.integers(0, 80),
       edge=st.sampled_from(EDGES), extra=st.booleans(), seed=st.integers(0, 2**16))
def test_windows_swapped_equals_take_then_transpose(t, f, size, n, edge, extra, seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((t, f, 2) if extra else (t, f)).astype(np.float32)
    starts = rng.integers(-size - 3, t + 3, n)  # windows inside, overlapping both edges, and outside
    want = take(values, starts[:, None] + np.arange(size)[None, :], edge=edge).swapaxes(1, 2)
    got = windows_swapped(values, starts, size=size, edge=edge)
    assert got.flags.c_contiguous and got.shape == want.shape and got.dtype == want.dtype
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
