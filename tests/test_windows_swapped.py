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


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 90), f=st.integers(1, 5), size=st.integers(1, 20), n=st.integers(1, 80),
       edge=st.sampled_from(EDGES), layout=st.sampled_from(["c", "fortran", "sliced", "extra"]),
       seed=st.integers(0, 2**16))
def test_windows_inside_the_rows_take_the_direct_gather(t, f, size, n, edge, layout, seed):
    """Every window inside (the Wav2Lip case): the strided-view gather, for any memory layout of the rows."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((t, 2 * f, 2) if layout == "extra" else (t, 2 * f)).astype(np.float32)
    values = {"c": base[:, :f].copy(), "fortran": np.asfortranarray(base[:, :f]), "sliced": base[:, ::2],
              "extra": base[:, :f]}[layout]
    if t < size:
        return
    starts = rng.integers(0, t - size + 1, n)
    want = take(values, starts[:, None] + np.arange(size)[None, :], edge=edge).swapaxes(1, 2)
    got = windows_swapped(values, starts, size=size, edge=edge)
    assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata is not None
    assert got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()
    got[...] = 0  # a copy: writing it leaves the rows alone
    assert np.array_equal(values, {"c": values, "fortran": base[:, :f], "sliced": base[:, ::2],
                                   "extra": base[:, :f]}[layout])


@settings(max_examples=60, deadline=None)
@given(t=st.integers(20, 120), f=st.integers(1, 5), size=st.integers(1, 16), n=st.integers(16, 200),
       edge=st.sampled_from(EDGES), fortran=st.booleans(), dtype=st.sampled_from(["float32", "float64", "int16"]),
       seed=st.integers(0, 2**16))
def test_a_few_windows_over_the_edges_are_rewritten_after_the_direct_gather(t, f, size, n, edge, fortran, dtype,
                                                                             seed):
    """SadTalker's case: most windows inside, the first and last few overrunning (at most n // 8)."""
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal((t, f)) * 100).astype(dtype)
    if fortran:
        values = np.asfortranarray(values)
    starts = rng.integers(0, t - size + 1, n)
    k = int(rng.integers(1, n // 8 + 1))
    where = rng.choice(n, k, replace=False)
    starts[where] = rng.choice([-size - 2, -1, t - size + 1, t + 2], k)
    want = take(values, starts[:, None] + np.arange(size)[None, :], edge=edge).swapaxes(1, 2)
    got = windows_swapped(values, starts, size=size, edge=edge)
    assert got.flags.c_contiguous and got.shape == want.shape and got.dtype == want.dtype
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
