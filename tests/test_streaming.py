"""Streams: rows equal to offline over random packetisations, exact counts and release points, bad input."""

from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import avalign
from avalign.errors import InputError
from avalign.media import Audio, resample
from avalign.streaming import read_chunks, write_chunk
from avalign.streaming.chunks import read_all
from avalign.timing import num_frames_for_duration
from helpers.streams import feed, packets as packet_bounds

RNG = np.random.default_rng(7)
SPEECH = (RNG.standard_normal(16000 * 2) * 0.1).astype(np.float32)
FPS = [25, "30000/1001", 60]


def offline(x, preset=None, **kw):
    return avalign.extract(Audio(x, 16000), preset, **kw).values


packets = st.lists(st.integers(1, 1500), min_size=1, max_size=6)
lengths = st.integers(3000, 16000 * 2)
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(n=lengths, sizes=packets, fps=st.sampled_from(FPS))
def test_wav2lip_stream_equals_offline(n, sizes, fps):
    x = SPEECH[:n]
    got = feed(avalign.stream("wav2lip", fps=fps), x, sizes)
    want = offline(x, "wav2lip", fps=fps)
    assert got.shape == want.shape and np.array_equal(got, want)


@FAST
@given(n=lengths, sizes=packets, name=st.sampled_from(["sadtalker", "syncnet", "synctalk-mel"]))
def test_fixed_rate_presets_stream_equal_offline(n, sizes, name):
    x = SPEECH[:max(n, 3840)]  # syncnet's first window needs 6 frames of 25 fps audio
    got = feed(avalign.stream(name), x, sizes)
    want = offline(x, name)
    assert got.shape == want.shape and np.array_equal(got, want)


@FAST
@given(n=st.integers(401, 16000 * 2), sizes=packets, fps=st.sampled_from(FPS),
       kind=st.sampled_from([dict(feature="mel"), dict(feature="mfcc"), dict(feature="mel", method="index", window=16),
                             dict(feature="mel", method="nearest"), dict(feature="mel", n_fft=800, hop_length=200,
                                                                         preemphasis=0.97, pad_mode="reflect"),
                             dict(feature="mel", method="index", window=5, anchor="centre", edge="clamp")]))
def test_feature_stream_equals_offline(n, sizes, fps, kind):
    x = SPEECH[:n]
    s = avalign.stream(fps=fps, **kind)
    got = feed(s, x, sizes)
    want = offline(x, fps=fps, **kind)
    assert got.shape == want.shape and np.array_equal(got, want)
    # the count is the offline formula: floor(duration * fps)
    assert s.frames_emitted == num_frames_for_duration(Fraction(n, 16000), fps, "floor") == s.grid.num_frames


def test_one_sample_packets_and_int16():
    x16 = np.round(SPEECH[:6000] * 20000).astype(np.int16)
    s = avalign.stream("wav2lip", fps=25)
    got = np.concatenate([s.push(x16[i:i + 1]) for i in range(len(x16))] + [s.flush()])
    assert np.array_equal(got, offline(x16.astype(np.float32) / 32768, "wav2lip", fps=25))


@pytest.mark.parametrize("rate", [48000, 22050, 8000])
def test_resampled_stream_equals_offline_soxr(rate):
    """soxr's stream gives the offline soxr result bit for bit, so the rows are offline's on the resampled audio."""
    x = (RNG.standard_normal(rate * 2) * 0.1).astype(np.float32)
    got = feed(avalign.stream(feature="mel", fps=25, sample_rate_in=rate), x, [317, 2000, 1])
    y = resample(x, orig_sr=rate, target_sr=16000)
    assert np.array_equal(got, offline(y, feature="mel", fps=25))


@pytest.mark.parametrize("kw", [dict(preset="wav2lip", fps=25), dict(preset="syncnet"),
                                dict(feature="mel", fps="30000/1001", method="index", window=16),
                                dict(feature="mfcc", fps=60)])
def test_rows_come_at_their_release_point_never_earlier_or_later(kw):
    """Row i comes with the first push whose audio reaches the end of frame i plus the stated look-ahead."""
    s = avalign.stream(**kw)
    x = SPEECH[:12000]
    sr, fps = s.sample_rate, s.fps
    for a, c in packet_bounds(len(x), [1, 37, 5, 211, 2, 640, 19]):
        before = s.frames_emitted
        s.push(x[a:c])
        for i in range(before, s.frames_emitted):  # returned now: due by c, not yet due at a
            due = math.ceil(Fraction(i + 1) * sr / fps) + s.lookahead
            assert a < due <= c
        nxt = s.frames_emitted
        assert math.ceil(Fraction(nxt + 1) * sr / fps) + s.lookahead > c  # the next row is not due yet
    # every row is final when released: its receptive field and offline existence are inside the look-ahead
    i = np.arange(2000)
    assert np.all(s.need(i) <= s.release(i))
    assert np.any(s.need(i) == s.release(i))  # and the look-ahead is tight
    assert s.latency == pytest.approx(float(1 / fps) + s.lookahead / sr)


def test_stated_latencies():
    assert avalign.stream("wav2lip", fps=25).lookahead == 2760  # mel window 16 frames + n_fft/2, minus a frame
    assert avalign.stream("sadtalker").lookahead == 1920
    assert avalign.stream("syncnet").lookahead == 3200  # the count n // 640 - 5 holds 5 frames back
    assert avalign.stream(feature="mel", fps=25, method="linear").lookahead == 0  # start instant: frames 4i, 4i+1
    # the default reads the middle of the frame's display interval: mel frames 4i+2, 4i+3, whose 400-sample
    # window ends 40 samples after the frame
    assert avalign.stream(feature="mel", fps=25).lookahead == 40


def test_one_hour_at_ntsc_is_exact():
    """Over an hour at 30000/1001 the count and the last row's time and release point are exact integers."""
    s = avalign.stream(feature="mel", fps="30000/1001", method="linear")
    n = 16000 * 3600
    rows = s.plan.final_count(n)
    assert rows == 107892 == math.floor(Fraction(n, 16000) * Fraction(30000, 1001))
    last = rows - 1
    assert s.release(last) == -(-(rows * 16000 * 1001) // 30000) + s.lookahead
    assert s.release(last) <= n < s.release(rows)  # the last row is due within the hour, the next is not
    assert FrameGrid_time(s, last) == Fraction(last * 1001, 30000)
    # positions on the mel frames: the same floats as offline interpolation over the whole hour
    pos = s.plan._positions(np.array([last]), None)
    assert pos[0] == pytest.approx(last * 1001 / 30000 * 100, abs=1e-6)


def FrameGrid_time(s, i):
    return s.grid.with_frames(i + 1).time(i)


def test_bad_input_keeps_earlier_rows_valid():
    x = SPEECH[:16000]
    s = avalign.stream("wav2lip", fps=25)
    first = s.push(x[:8000])
    for bad in (np.array([0.1, np.nan], np.float32), np.zeros(10, np.int32), np.zeros((4, 2), np.float32),
                np.array([np.inf])):
        with pytest.raises(InputError):
            s.push(bad)
    rest = s.push(x[8000:])
    tail = s.flush()
    assert np.array_equal(np.concatenate([first, rest, tail]), offline(x, "wav2lip", fps=25))
    with pytest.raises(InputError, match="after flush"):
        s.push(x[:10])
    with pytest.raises(InputError):
        s.flush()


@pytest.mark.parametrize("rate", [0, -16000, 44100.5, "fast", True, 10**7])
def test_bad_rates(rate):
    with pytest.raises(InputError):
        avalign.stream("wav2lip", fps=25, sample_rate_in=rate)


def test_refusals():
    with pytest.raises(InputError, match="cannot stream"):
        avalign.stream(feature="mel", fps=25, method="stretch")
    with pytest.raises(InputError, match="top_db"):
        avalign.stream(feature="mel", fps=25, level="db", top_db=80.0)
    with pytest.raises(InputError, match="does not stream"):
        avalign.stream("musetalk-v15", fps=25)
    with pytest.raises(InputError, match="fps"):
        avalign.stream(feature="mel")


def test_framed_npy_round_trip():
    buf = io.BytesIO()
    parts = [np.ones((2, 80, 16), np.float32), np.zeros((0, 80, 16), np.float32), np.full((3, 80, 16), 2, np.float32)]
    for p in parts:
        write_chunk(buf, p)
    got = list(read_chunks(buf.getvalue()))
    assert [g.shape[0] for g in got] == [2, 3]
    assert np.array_equal(read_all(buf.getvalue()), np.concatenate(parts))
    with pytest.raises(InputError):
        list(read_chunks(b"garbage!"))


def test_cli_stream_file_and_errors(tmp_path, capsys):
    from avalign.cli import main

    pcm = tmp_path / "in.pcm"
    x16 = np.round(SPEECH[:16000] * 20000).astype("<i2")
    x16.tofile(pcm)
    out = tmp_path / "rows.npys"
    assert main(["stream", "--preset", "wav2lip", "--fps", "25", str(pcm), "-o", str(out)]) == 0
    assert "rows at 25 fps" in capsys.readouterr().err
    assert np.array_equal(read_all(str(out)), offline(x16.astype(np.float32) / 32768, "wav2lip", fps=25))
    bad = tmp_path / "bad.npys"
    assert main(["stream", "--preset", "wav2lip", "--fps", "25", "--rate", "0", str(pcm), "-o", str(bad)]) == 2
    assert not bad.exists() and not (tmp_path / "bad.npys.part").exists()
    assert main(["stream", "--preset", "nope", str(pcm), "-o", str(bad)]) == 2


def test_rad_nerf_stream_equals_preset_and_restated_loop():
    pytest.importorskip("transformers")
    import ssl_models
    from test_presets_ssl import _rad_nerf_reference, hf

    d = str(ssl_models.model_dirs()["xlsr-53-esperanto"])
    n = 130 * 320 + 200
    x = ssl_models.speech(n / 16000, offset=7)
    s = avalign.stream("rad-nerf-stream", model=d)
    got = feed(s, x, [320, 1, 4000, 77])
    assert np.array_equal(got, offline(x, "rad-nerf", model=d))
    fe, model = hf("xlsr-53-esperanto", "AutoModelForCTC")
    np.testing.assert_allclose(got, _rad_nerf_reference(x, fe, model), rtol=0, atol=1e-4)
    assert s.lookahead == 20480  # logit 2j+7 arrives with the buffer ending 60 chunks after its 50 start


def test_chunked_hubert_stream_equals_offline_chunked():
    pytest.importorskip("transformers")
    import ssl_models
    from avalign.features import Features, create
    from avalign.streaming import offline_chunked

    d = str(ssl_models.model_dirs()["hubert-large-ls960-ft"])
    x = ssl_models.speech(1.3, offset=3)
    s = avalign.stream(feature="hubert", model=d, fps=25, chunk=10, left=20, right=5, method="linear")
    got = feed(s, x, [320, 3, 2000])
    ex = create("hubert", model=d)
    frames = offline_chunked(ex, x, chunk=10, left=20, right=5)
    want = avalign.align(Features(frames, ex.grid(len(x))), fps=25, duration=Fraction(len(x), 16000),
                         rounding="floor", method="linear").values
    assert np.array_equal(got, want)
    # worst row: i = 5c reads frame 10c, the first of chunk c, made from samples up to (10c + 14) * 320 + 400;
    # frame i ends at 640 (5c + 1): (chunk + right - 1) * 320 + 400 - 640 = 4240
    assert s.lookahead == (10 + 5 - 1) * 320 + 400 - 640
