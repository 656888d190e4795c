"""Every frame-count formula in avalign.timing equals the length of the array actually computed.

References: librosa.stft, avalign.features.dsp.stft, python_speech_features'
framesig, a real stack of torch Conv1d layers, openai-whisper's log-mel.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from avalign.errors import InputError
from avalign.features import dsp
from avalign.timing import (
    FrameGrid,
    conv_num_frames,
    conv_receptive_field,
    frames_to_samples,
    frames_to_time,
    num_frames_for_duration,
    parse_fps,
    psf_num_frames,
    round_number,
    samples_to_frames,
    samples_to_time,
    stft_num_frames,
    time_to_frames,
    time_to_samples,
    whisper_num_frames,
)

FAST = settings(max_examples=150, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

W2V_KERNELS = (10, 3, 3, 3, 3, 2, 2)
W2V_STRIDES = (5, 2, 2, 2, 2, 2, 2)

#: (n_fft, hop) pairs: even and odd n_fft, hops of common rates (16 kHz 10/12.5/20 ms, 22.05 kHz 256, odd hops)
STFT_SHAPES = [(800, 200), (400, 160), (512, 128), (1024, 256), (2048, 512), (401, 160), (255, 100),
               (1023, 441), (640, 320), (7, 3), (8, 8), (9, 1)]


# ---------------------------------------------------------------------------
# STFT
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_fft,hop", STFT_SHAPES)
def test_stft_formula_equals_dsp_stft_sweep(n_fft, hop, center):
    """A sweep of consecutive lengths around every boundary of the formula (thousands in all)."""
    lengths = sorted(set(range(0, 3 * n_fft + 3 * hop, max(1, hop // 7))) | {n_fft - 1, n_fft, n_fft + 1})
    for n in lengths:
        expected = stft_num_frames(n, n_fft=n_fft, hop=hop, center=center)
        x = np.zeros(n)
        if expected == 0:
            with pytest.raises(InputError):
                dsp.stft(x, n_fft=n_fft, hop=hop, center=center)
            continue
        assert dsp.stft(x, n_fft=n_fft, hop=hop, center=center).shape[0] == expected, n


@FAST
@given(n=st.integers(1, 60_000), shape=st.sampled_from(STFT_SHAPES), center=st.booleans())
def test_stft_formula_equals_librosa(n, shape, center):
    import librosa

    n_fft, hop = shape
    expected = stft_num_frames(n, n_fft=n_fft, hop=hop, center=center)
    y = np.zeros(n, np.float32)
    if expected == 0:
        with pytest.raises(Exception):
            librosa.stft(y, n_fft=n_fft, hop_length=hop, center=center)
        return
    s = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=center, pad_mode="constant")
    assert s.shape[-1] == expected
    assert dsp.stft(y, n_fft=n_fft, hop=hop, center=center).shape[0] == expected


def test_stft_formula_closed_forms():
    for n in range(0, 5000, 7):
        # even n_fft, centred: 1 + n // hop
        assert stft_num_frames(n, n_fft=800, hop=200, center=True) == 1 + n // 200
        # not centred: 1 + (n - n_fft) // hop, 0 when shorter than the window
        assert stft_num_frames(n, n_fft=800, hop=200, center=False) == (0 if n < 800 else 1 + (n - 800) // 200)
    # the example: 61334 samples, 16 kHz, hop 200 -> 307 centred frames (80 Hz)
    assert stft_num_frames(61334, n_fft=800, hop=200) == 307


# ---------------------------------------------------------------------------
# python_speech_features framing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("frame_len,step", [(400, 160), (320, 160), (512, 256), (551, 220), (25, 10), (10, 10)])
def test_psf_formula_equals_framesig(frame_len, step):
    from python_speech_features import sigproc

    for n in range(0, 4 * frame_len + 3 * step, max(1, step // 9)):
        got = sigproc.framesig(np.zeros(n), frame_len, step).shape[0]
        assert psf_num_frames(n, frame_len=frame_len, step=step) == got, n


@FAST
@given(n=st.integers(0, 200_000), sr=st.sampled_from([16000, 22050, 44100, 8000]))
def test_psf_formula_equals_framesig_hypothesis(n, sr):
    from python_speech_features import sigproc

    frame_len, step = int(round(0.025 * sr)), int(round(0.01 * sr))  # psf's own winlen/winstep rounding
    got = sigproc.framesig(np.zeros(n), frame_len, step).shape[0]
    assert psf_num_frames(n, frame_len=frame_len, step=step) == got


# ---------------------------------------------------------------------------
# Conv stacks (wav2vec2 / HuBERT / WavLM feature encoders)
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny convolutions: one thread avoids thread start-up costs on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _conv_stack(kernels, strides):
    import torch

    torch.manual_seed(0)
    layers = [torch.nn.Conv1d(1, 1, k, s, bias=False) for k, s in zip(kernels, strides)]
    return torch.nn.Sequential(*layers).double().eval()


def _conv_len(stack, n: int) -> int:
    import torch

    with torch.no_grad():
        try:
            return stack(torch.zeros(1, 1, n, dtype=torch.float64)).shape[-1]
        except RuntimeError:  # input shorter than a kernel
            return 0


def test_conv_wav2vec2_known_counts():
    assert conv_num_frames(16000, kernels=W2V_KERNELS, strides=W2V_STRIDES) == 49
    assert conv_num_frames(61334, kernels=W2V_KERNELS, strides=W2V_STRIDES) == 191
    assert conv_num_frames(400, kernels=W2V_KERNELS, strides=W2V_STRIDES) == 1
    assert conv_num_frames(399, kernels=W2V_KERNELS, strides=W2V_STRIDES) == 0
    assert conv_receptive_field(W2V_KERNELS, W2V_STRIDES) == (400, 320)
    stack = _conv_stack(W2V_KERNELS, W2V_STRIDES)
    for n, want in ((16000, 49), (61334, 191), (400, 1), (399, 0)):
        assert _conv_len(stack, n) == want


def test_conv_wav2vec2_sweep():
    stack = _conv_stack(W2V_KERNELS, W2V_STRIDES)
    for n in list(range(300, 2400, 5)) + list(range(16000, 16700, 11)):
        assert conv_num_frames(n, kernels=W2V_KERNELS, strides=W2V_STRIDES) == _conv_len(stack, n), n


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 4)), min_size=1, max_size=5),
       n=st.integers(0, 3000))
def test_conv_formula_equals_torch_random_stacks(layers, n):
    kernels, strides = zip(*layers)
    assert conv_num_frames(n, kernels=kernels, strides=strides) == _conv_len(_conv_stack(kernels, strides), n)


def _positive(stack):
    """Positive weights: every sample inside the field moves the output, none outside can."""
    import torch

    with torch.no_grad():
        for i, layer in enumerate(stack):
            layer.weight.copy_(torch.linspace(0.5, 1.5, layer.weight.numel()).reshape(layer.weight.shape) + i)
    return stack


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=4), data=st.data())
def test_conv_receptive_field_random_stacks(layers, data):
    """Frame k depends exactly on samples [k*hop, k*hop + window)."""
    import torch

    kernels, strides = zip(*layers)
    window, hop = conv_receptive_field(kernels, strides)
    stack = _positive(_conv_stack(kernels, strides))
    n = window + 4 * hop + 5
    frames = conv_num_frames(n, kernels=kernels, strides=strides)
    k = data.draw(st.integers(0, frames - 1))
    with torch.no_grad():
        x = torch.eye(n, dtype=torch.float64)[:, None, :]  # one impulse per batch row
        response = stack(x)[:, 0, k]
    touched = np.flatnonzero(response.numpy() != 0)
    # the field's first and last samples are seen and nothing outside it is
    assert touched.min() == k * hop and touched.max() == k * hop + window - 1
    if all(s <= kk for kk, s in layers):  # no layer skips samples: the whole span is seen
        assert touched.size == window


def test_conv_receptive_field_wav2vec2():
    """Perturbing a sample outside [320k, 320k + 400) leaves frame k unchanged; inside changes it."""
    import torch

    stack = _positive(_conv_stack(W2V_KERNELS, W2V_STRIDES))
    torch.manual_seed(1)
    n = 16000
    x = torch.randn(1, 1, n, dtype=torch.float64)
    with torch.no_grad():
        ref = stack(x)[0, 0]
        for k in (0, 1, 7, 48):
            lo, hi = 320 * k, 320 * k + 400
            for s in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, hi + 320):
                if not 0 <= s < n:
                    continue
                y = x.clone()
                y[0, 0, s] += 10.0
                changed = not torch.equal(stack(y)[0, 0, k], ref[k])
                assert changed == (lo <= s < hi), (k, s)


# ---------------------------------------------------------------------------
# Whisper
# ---------------------------------------------------------------------------


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(400, 100_000))
def test_whisper_formula_equals_log_mel(n):
    whisper = pytest.importorskip("whisper")

    mel = whisper.audio.log_mel_spectrogram(np.zeros(n, np.float32))
    counts = whisper_num_frames(n)
    assert mel.shape[-1] == counts["mel"]
    assert counts["encoder"] == counts["mel"] // 2
    # 30 s segment: 3000 mel frames, 1500 encoder frames
    assert whisper_num_frames(480000) == {"mel": 3000, "encoder": 1500}


def test_whisper_formula_sweep_around_hops():
    whisper = pytest.importorskip("whisper")

    for n in list(range(300, 1300, 13)) + [159 * 160 + d for d in range(-2, 3)]:
        assert whisper.audio.log_mel_spectrogram(np.zeros(n, np.float32)).shape[-1] == whisper_num_frames(n)["mel"]


# ---------------------------------------------------------------------------
# FrameGrid
# ---------------------------------------------------------------------------

RATES = [Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(60), Fraction(50), Fraction(80)]


@FAST
@given(rate=st.sampled_from(RATES), n=st.integers(0, 10_000),
       t0=st.fractions(min_value=-1, max_value=1, max_denominator=44100),
       hop=st.one_of(st.none(), st.integers(1, 1024)), sr=st.sampled_from([16000, 22050, 44100]))
def test_grid_dict_round_trip(rate, n, t0, hop, sr):
    g = FrameGrid(rate, n, t0, hop, None if hop is None else 2 * hop, sr if hop else None)
    d = json.loads(json.dumps(g.to_dict()))
    back = FrameGrid.from_dict(d)
    assert back == g
    assert back.rate == rate and back.t0 == t0  # exact, not via floats


def test_grid_dict_round_trip_with_timestamps():
    g = FrameGrid.from_video("1350/61", 3, timestamps=[0.0, 1 / 30, 0.1])
    back = FrameGrid.from_dict(json.loads(json.dumps(g.to_dict())))
    assert back.timestamps == g.timestamps and back.variable
    np.testing.assert_array_equal(back.times(), [0.0, 1 / 30, 0.1])


def test_grid_times_span_index():
    g = FrameGrid.from_stft(61334, sample_rate=16000, hop=320, n_fft=400)
    assert g.num_frames == stft_num_frames(61334, n_fft=400, hop=320) == 1 + 61334 // 320
    assert g.rate == 50 and g.t0 == 0
    t = g.times()
    assert t.shape == (g.num_frames,)
    np.testing.assert_allclose(t, np.arange(g.num_frames) / 50)
    assert g.span(3) == pytest.approx((0.06 - 0.0125, 0.06 + 0.0125))
    # index_at inverts times for every frame (exact centres)
    np.testing.assert_array_equal(g.index_at(t), np.arange(g.num_frames))
    # half-way between frames: floor / ceil / round-half-even
    assert int(g.index_at(0.03, "floor")) == 1 and int(g.index_at(0.03, "ceil")) == 2
    assert int(g.index_at(0.03, "round")) == 2 and int(g.index_at(0.05, "round")) == 2

    conv = FrameGrid.from_conv(61334, sample_rate=16000, kernels=W2V_KERNELS, strides=W2V_STRIDES)
    assert conv.num_frames == 191 and conv.hop == 320 and conv.window == 400
    assert conv.t0 == Fraction(400, 32000)  # first window centre: 12.5 ms
    assert conv.describe() == "191 frames at 50 Hz (hop 20 ms, window 25 ms, first centre 12.5 ms)"
    assert conv.span(0) == pytest.approx((0.0, 0.025))
    assert conv.sample_span(5) == (1600, 2000)

    psf = FrameGrid.from_framing(61334, sample_rate=16000, frame_len=400, step=160)
    assert psf.num_frames == psf_num_frames(61334, frame_len=400, step=160)
    assert psf.sample_span(2) == (320, 720)

    uncentred = FrameGrid.from_stft(1000, sample_rate=16000, hop=160, n_fft=400, center=False)
    assert uncentred.t0 == Fraction(200, 16000)

    video = FrameGrid.from_video("30000/1001", 5)
    assert video.span(1) == pytest.approx((1001 / 30000, 2002 / 30000))
    assert video.time(30000) == 1001  # exact: 30000 frames are 1001 s
    vfr = FrameGrid.from_video("1350/61", 3, timestamps=[0.0, 0.05, 0.2])
    assert vfr.span(1) == (0.05, 0.2) and vfr.span(2) == pytest.approx((0.2, 0.2 + 61 / 1350))
    with pytest.raises(InputError):
        FrameGrid.from_video(25, 2, timestamps=[0.0])
    with pytest.raises(InputError):
        FrameGrid(25, -1)


@FAST
@given(frames=st.lists(st.integers(0, 10**6), min_size=1, max_size=50), rate=st.sampled_from(RATES),
       t0=st.floats(-1, 1))
def test_converters_symmetric(frames, rate, t0):
    f = np.asarray(frames)
    t = frames_to_time(f, rate=rate, t0=t0)
    np.testing.assert_array_equal(time_to_frames(t, rate=rate, t0=t0, rounding="round"), f)
    hop, off = 160, 200
    s = frames_to_samples(f, hop=hop, offset=off)
    np.testing.assert_array_equal(samples_to_frames(s, hop=hop, offset=off), f)
    np.testing.assert_array_equal(samples_to_frames(s + hop - 1, hop=hop, offset=off), f)
    np.testing.assert_array_equal(time_to_samples(samples_to_time(s, sr=16000) + 1e-9, sr=16000), s)


def test_round_number_rules():
    assert [round_number(x, "truncate") for x in (2.5, -2.5, 3.7)] == [2, -2, 3]
    assert [round_number(x, "floor") for x in (2.5, -2.5)] == [2, -3]
    assert [round_number(x, "ceil") for x in (2.5, -2.5)] == [3, -2]
    assert [round_number(x, "round") for x in (2.5, 3.5, Fraction(5, 2))] == [2, 4, 2]
    with pytest.raises(InputError):
        round_number(1.0, "up")
    # 3.833375 s at 25 fps = 95.834 frames
    d = Fraction(61334, 16000)
    assert [num_frames_for_duration(d, 25, r) for r in ("truncate", "floor", "ceil", "round")] == [95, 95, 96, 96]
    assert num_frames_for_duration(Fraction(1001), "30000/1001") == 30000


# ---------------------------------------------------------------------------
# parse_fps
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text,want", [
    ("29.97", Fraction(30000, 1001)), ("30000/1001", Fraction(30000, 1001)), (25, Fraction(25)),
    ("25", Fraction(25)), (23.976, Fraction(24000, 1001)), ("23.976", Fraction(24000, 1001)),
    (29.97, Fraction(30000, 1001)), ("59.94", Fraction(60000, 1001)), (Fraction(24000, 1001), Fraction(24000, 1001)),
    ("12.5", Fraction(25, 2)), (" 60 ", Fraction(60)), (24.0, Fraction(24)),
])
def test_parse_fps_good(text, want):
    got = parse_fps(text)
    assert isinstance(got, Fraction) and got == want


@pytest.mark.parametrize("bad", [0, -1, "0", "-1", "abc", "", "1/0", "0/1", float("nan"), float("inf"), "nan",
                                 "inf", "-inf", True, None, "25fps", -0.5])
def test_parse_fps_bad(bad):
    with pytest.raises(InputError):
        parse_fps(bad)
