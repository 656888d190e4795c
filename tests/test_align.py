"""align(): exactly N rows out, each method equal to a direct reference, exact index arithmetic over an hour."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from avalign.align import EDGES, METHODS, align, index_map, interpolate_linear, stretch, take, target_grid, windows
from avalign.errors import InputError
from avalign.features.base import Features
from avalign.timing import FrameGrid, round_number

FPS = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(60)]
RATES = [Fraction(50), Fraction(80), Fraction(100), Fraction(16000, 320), Fraction(22050, 512)]
ROUNDINGS = ["truncate", "round", "floor", "ceil"]
SETTINGS = settings(max_examples=200, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _features(t: int, rate=Fraction(50), t0=Fraction(0), dims=(3,), seed=0) -> Features:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((t, *dims)).astype(np.float32)
    return Features(values, FrameGrid(rate, t, t0), {"feature": "test"})


def _edges_for(method: str):
    return ("clamp", "zeros") if method == "linear" else EDGES


# ---------------------------------------------------------------------------
# Row counts
# ---------------------------------------------------------------------------


@settings(SETTINGS, max_examples=150)
@given(t=st.integers(1, 1500), fps=st.sampled_from(FPS), rate=st.sampled_from(RATES),
       method=st.sampled_from(METHODS), data=st.data())
def test_row_count_is_the_requested_count(t, fps, rate, method, data):
    edge = data.draw(st.sampled_from(_edges_for(method)))
    window = data.draw(st.one_of(st.none(), st.integers(1, 20)))
    anchor = data.draw(st.sampled_from(["start", "centre", -3, 2]))
    k = data.draw(st.integers(1, 5)) if method in ("stack", "pool") else None
    feats = _features(t, rate)
    n = data.draw(st.integers(0, 800))
    out = align(feats, fps=fps, num_frames=n, method=method, edge=edge, window=window, anchor=anchor, k=k)
    assert out.values.shape[0] == n == out.grid.num_frames
    assert out.grid.rate == fps
    tail = feats.values.shape[1:]
    if method == "stack":
        tail = (k, *tail)
    if window is not None:
        tail = (window, *tail)
    assert out.values.shape[1:] == tail


@SETTINGS
@given(t=st.integers(1, 3000), fps=st.sampled_from(FPS), rate=st.sampled_from(RATES),
       rounding=st.sampled_from(ROUNDINGS), method=st.sampled_from(["linear", "stretch", "nearest", "index"]),
       duration=st.fractions(min_value=0, max_value=120, max_denominator=48000))
def test_row_count_from_duration_and_rounding(t, fps, rate, rounding, method, duration):
    out = align(_features(t, rate), fps=fps, duration=duration, rounding=rounding, method=method)
    assert out.values.shape[0] == round_number(duration * fps, rounding)
    # default duration: the features' own span T / rate
    out = align(_features(t, rate), fps=fps, rounding=rounding, method=method)
    assert out.values.shape[0] == round_number(Fraction(t) / rate * fps, rounding)


def test_row_count_from_video_grid():
    video = FrameGrid.from_video("1350/61", 4, timestamps=[0.0, 0.0333, 0.1, 0.2])
    out = align(_features(20), video=video, method="index")
    assert out.values.shape[0] == 4
    np.testing.assert_array_equal(out.values, _features(20).values[[0, 1, 5, 10]])  # floor(t * 50)
    assert target_grid(video=video, num_frames=6).num_frames == 6


def test_rounding_rules_at_a_half():
    # 2.5 frames of 25 fps in 0.1 s: truncate/floor 2, ceil 3, round-half-even 2
    f = _features(5)
    counts = [align(f, fps=25, duration=Fraction(1, 10), rounding=r).values.shape[0] for r in ROUNDINGS]
    assert counts == [2, 2, 2, 3]
    assert align(f, fps=30, duration=Fraction(1, 12), rounding="round").values.shape[0] == 2  # 2.5 -> 2
    assert align(f, fps=42, duration=Fraction(1, 12), rounding="round").values.shape[0] == 4  # 3.5 -> 4


def test_bad_arguments():
    f = _features(10)
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=5, method="cubic")
    with pytest.raises(InputError):
        align(f, fps=0, num_frames=5)
    with pytest.raises(InputError):
        align(f, num_frames=5)
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=-1)
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=5, method="index", edge="wrap")
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=5, method="index", window=0)
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=5, method="index", window=3, anchor="middle")
    with pytest.raises(InputError):
        align(f, fps=30, num_frames=5, method="stack")  # 50 / 30 is not an integer: needs k
    with pytest.raises(InputError):
        align(f, fps=25, num_frames=5, method="linear", edge="reflect")


# ---------------------------------------------------------------------------
# Each method against a direct reference
# ---------------------------------------------------------------------------


@SETTINGS
@given(t=st.integers(1, 400), n=st.integers(1, 400), fps=st.sampled_from(FPS), rate=st.sampled_from(RATES),
       t0=st.fractions(min_value=-1, max_value=1, max_denominator=16000), edge=st.sampled_from(["clamp", "zeros"]))
def test_linear_equals_np_interp(t, n, fps, rate, t0, edge):
    f = _features(t, rate, t0, dims=(4,))
    out = align(f, fps=fps, num_frames=n, method="linear", edge=edge).values
    src = float(t0) + np.arange(t) / float(rate)
    dst = np.arange(n) / float(fps)
    ref = np.stack([np.interp(dst, src, f.values[:, j].astype(np.float64)) for j in range(4)], axis=1)
    if edge == "zeros":
        ref[(dst < src[0]) | (dst > src[-1])] = 0
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(t=st.integers(1, 300), n=st.integers(1, 300), dims=st.sampled_from([(3,), (2, 5)]))
def test_stretch_equals_torch_interpolate(t, n, dims):
    import torch

    f = _features(t, dims=dims)
    out = align(f, fps=25, num_frames=n, method="stretch").values
    x = torch.from_numpy(f.values.reshape(t, -1).T[None].astype(np.float64))  # (1, C, T)
    ref = torch.nn.functional.interpolate(x, size=n, mode="linear", align_corners=True)[0].T.numpy()
    np.testing.assert_allclose(out.reshape(n, -1), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stretch(f.values, n).reshape(n, -1), ref, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(t=st.integers(1, 500), n=st.integers(0, 600), fps=st.sampled_from(FPS), rate=st.sampled_from(RATES),
       edge=st.sampled_from(EDGES))
def test_index_equals_int_i_rate_over_fps(t, n, fps, rate, edge):
    f = _features(t, rate)
    out = align(f, fps=fps, num_frames=n, method="index", edge=edge).values
    idx = [int(Fraction(i) * rate / fps) for i in range(n)]
    beyond = max(idx, default=0) - t + 1
    if t > 1:
        reflected = np.pad(f.values, ((0, max(beyond, 0)), (0, 0)), mode="reflect")
    else:
        reflected = f.values[[0] * (t + max(beyond, 0))]
    for i, j in enumerate(idx):
        if j < t:
            np.testing.assert_array_equal(out[i], f.values[j])
        elif edge == "zeros":
            assert not out[i].any()
        elif edge in ("clamp", "shift"):
            np.testing.assert_array_equal(out[i], f.values[t - 1])
        else:  # reflect, numpy's definition
            np.testing.assert_array_equal(out[i], reflected[j])


@SETTINGS
@given(t=st.integers(1, 300), n=st.integers(1, 300), fps=st.sampled_from(FPS), rate=st.sampled_from(RATES),
       t0=st.fractions(min_value=-Fraction(1, 2), max_value=Fraction(1, 2), max_denominator=997))
def test_nearest_is_the_nearest_in_time(t, n, fps, rate, t0):
    f = _features(t, rate, t0)
    idx = index_map(f.grid, target_grid(fps=fps, num_frames=n), method="nearest")
    for i in range(n):
        pos = (Fraction(i) / fps - t0) * rate  # exact position in source frames
        assert abs(pos - int(idx[i])) <= Fraction(1, 2)
    out = align(f, fps=fps, num_frames=n, method="nearest", edge="clamp").values
    np.testing.assert_array_equal(out, f.values[np.clip(idx, 0, t - 1)])


@SETTINGS
@given(n=st.integers(1, 200), k=st.integers(1, 6), extra=st.integers(0, 10), dims=st.sampled_from([(3,), (2, 4)]))
def test_stack_and_pool_equal_reshape(n, k, extra, dims):
    t = n * k + extra
    f = _features(t, dims=dims)
    ref = f.values[: n * k].reshape(n, k, *dims)
    stacked = align(f, fps=25, num_frames=n, method="stack", k=k).values
    np.testing.assert_array_equal(stacked, ref)
    pooled = align(f, fps=25, num_frames=n, method="pool", k=k).values
    np.testing.assert_allclose(pooled, ref.mean(axis=1), rtol=1e-6, atol=1e-6)


def test_stack_default_group_is_rate_over_fps():
    f = _features(100, Fraction(50))  # 50 Hz onto 25 fps: k = 2 (ER-NeRF style)
    out = align(f, fps=25, num_frames=50, method="stack").values
    np.testing.assert_array_equal(out, f.values.reshape(50, 2, 3))
    # fewer rows than N * k: the missing rows are zeros (default edge) or the last row (clamp)
    out = align(_features(7), fps=25, num_frames=4, method="stack").values
    assert out.shape == (4, 2, 3) and not out[3, 1].any()
    out = align(_features(7), fps=25, num_frames=4, method="stack", edge="clamp").values
    np.testing.assert_array_equal(out[3, 1], _features(7).values[6])


def _reference_windows(values, centres, size, anchor, edge):
    t = values.shape[0]
    offset = {"start": 0, "centre": -(size // 2)}.get(anchor, anchor)
    rows = []
    for c in centres:
        start = int(c) + offset
        if edge == "shift":
            start = min(max(start, 0), max(t - size, 0))
        win = []
        for j in range(start, start + size):
            if 0 <= j < t:
                win.append(values[j])
            elif edge == "zeros":
                win.append(np.zeros_like(values[0]))
            elif edge in ("clamp", "shift"):
                win.append(values[min(max(j, 0), t - 1)])
            else:  # reflect, numpy's definition (no repeated edge sample)
                pad = abs(j) + t + size
                padded = np.pad(values, ((pad, pad), (0, 0)), mode="reflect") if t > 1 else values[[0] * (2 * pad + t)]
                win.append(padded[j + pad])
        rows.append(np.stack(win))
    return np.stack(rows)


@SETTINGS
@given(t=st.integers(1, 60), size=st.integers(1, 20), anchor=st.sampled_from(["start", "centre", -4, -1, 3]),
       edge=st.sampled_from(EDGES), centres=st.lists(st.integers(-30, 90), min_size=1, max_size=20))
def test_windows_equal_reference(t, size, anchor, edge, centres):
    values = np.arange(t * 2, dtype=np.float32).reshape(t, 2)
    got = windows(values, np.asarray(centres), size=size, anchor=anchor, edge=edge)
    np.testing.assert_array_equal(got, _reference_windows(values, centres, size, anchor, edge))


@SETTINGS
@given(t=st.integers(1, 200), n=st.integers(1, 100), size=st.integers(1, 16),
       anchor=st.sampled_from(["start", "centre", -4]), edge=st.sampled_from(EDGES), fps=st.sampled_from(FPS))
def test_index_windows_through_align(t, n, size, anchor, edge, fps):
    """Wav2Lip / MuseTalk style: a window of rows around int(i * rate / fps)."""
    f = _features(t, Fraction(80), dims=(2,))
    out = align(f, fps=fps, num_frames=n, method="index", window=size, anchor=anchor, edge=edge).values
    centres = [int(Fraction(i) * 80 / fps) for i in range(n)]
    np.testing.assert_array_equal(out, _reference_windows(f.values, centres, size, anchor, edge))


def test_wav2lip_last_chunk_shift():
    """Wav2Lip: mel chunk of 16 at int(80 * i / fps); past the end, the last 16 rows."""
    t = 100
    f = _features(t, Fraction(80), dims=(2,))
    out = align(f, fps=25, num_frames=40, method="index", window=16, anchor="start", edge="shift").values
    for i in range(40):
        s = int(80 * i / 25)
        ref = f.values[t - 16:] if s + 16 > t else f.values[s:s + 16]
        np.testing.assert_array_equal(out[i], ref)


def test_take_edges():
    v = np.arange(4, dtype=np.float32)[:, None]
    idx = np.array([-3, -1, 0, 3, 4, 7])
    np.testing.assert_array_equal(take(v, idx, edge="zeros")[:, 0], [0, 0, 0, 3, 0, 0])
    np.testing.assert_array_equal(take(v, idx, edge="clamp")[:, 0], [0, 0, 0, 3, 3, 3])
    np.testing.assert_array_equal(take(v, idx, edge="reflect")[:, 0], [3, 1, 0, 3, 2, 1])
    with pytest.raises(InputError):
        take(v, idx, edge="wrap")


def test_interpolate_linear_single_row():
    v = np.ones((1, 3), np.float32)
    out = interpolate_linear(v, np.array([0.5]), np.array([0.0, 0.5, 2.0]))
    np.testing.assert_array_equal(out, np.ones((3, 3)))


# ---------------------------------------------------------------------------
# One hour at 30000/1001
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [Fraction(50), Fraction(80), Fraction(16000, 160)])
def test_one_hour_ntsc_index_is_exact(rate):
    fps = Fraction(30000, 1001)
    n = round_number(Fraction(3600) * fps, "round")  # 107892 frames in one hour
    assert n == 107892
    src = FrameGrid(rate, int(3600 * rate) + 1)
    dst = target_grid(fps="29.97", num_frames=n)
    assert dst.rate == fps
    idx = index_map(src, dst, method="index")
    near = index_map(src, dst, method="nearest")
    check = list(range(0, n, 97)) + list(range(n - 1000, n))
    for i in check:
        pos = Fraction(i) / fps * rate  # exact feature position of video frame i
        assert 0 <= pos - int(idx[i]) < 1  # floor: never ahead, never a whole frame behind
        assert abs(pos - int(near[i])) <= Fraction(1, 2)  # nearest: within half a feature frame, after an hour
    # float arithmetic with 29.97 drifts by more than half a frame over the hour: the exact path matters
    naive = np.floor(np.arange(n) * float(rate) / 29.97).astype(np.int64)
    assert (naive != idx).any()
    # aligned rows over the hour: exactly n, each the row at the exact index
    f = Features(np.arange(src.num_frames, dtype=np.float32)[:, None], src, {})
    out = align(f, fps="30000/1001", num_frames=n, method="index").values
    np.testing.assert_array_equal(out[:, 0], idx.astype(np.float32))
    lin = align(f, fps="30000/1001", num_frames=n, method="linear").values[:, 0]
    exact = np.array([float(Fraction(i) / fps * rate) for i in check])
    np.testing.assert_allclose(lin[check], exact, atol=1e-3)
