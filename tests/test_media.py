"""probe() and load_audio() on every real file, on containers written here, and on broken input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import avalign
from avalign import synth
from avalign.errors import InputError, MediaError, NoAudioError
from avalign.media import Audio, load_audio, probe, resample
from helpers.media_files import remux, write_audio as _write_audio

REAL_FILES = [
    "carlini_sample.wav", "echomimic_a.mp4", "faceformer_test.wav", "imitator_audio1.wav", "latentsync_demo1.mp4",
    "latentsync_demo1.wav", "musetalk_eng.wav", "retalking_face1.mp4", "sadtalker_RD_Radio31_000.wav",
    "sadtalker_WDA_AOC.mp4", "synctalk_short_demo.mp4", "voca_test_sentence.wav",
]
REAL_WAVS = [f for f in REAL_FILES if f.endswith(".wav")]
RETALKING_VIDEO_START = Fraction(169, 5120)  # 507 ticks of 1/15360 s = 33.0078125 ms


def test_real_folder_is_complete(real):
    """Every media file in the folder is covered by the tests below."""
    present = sorted(p.name for p in real.iterdir() if p.suffix in (".wav", ".mp4"))
    assert present == sorted(REAL_FILES)


def _decode_all(path: Path) -> dict:
    """Ground truth by a full decode with PyAV: every video frame's pts, every audio sample."""
    import av

    out: dict = {}
    with av.open(str(path)) as c:
        if c.streams.video:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            tb = Fraction(vs.time_base)
            pts = sorted(f.pts for f in c.decode(vs))
            out["video"] = {"pts": pts, "tb": tb}
    with av.open(str(path)) as c:
        if c.streams.audio:
            st = c.streams.audio[0]
            frames = list(c.decode(st))
            out["audio"] = {"first_pts": Fraction(frames[0].pts) * Fraction(st.time_base),
                            "num_samples": sum(f.samples for f in frames),
                            "sample_rate": frames[0].sample_rate,
                            "channels": len(frames[0].layout.channels)}
    return out


@pytest.mark.parametrize("name", REAL_FILES)
def test_probe_matches_full_decode(real, name):
    path = real / name
    info = probe(path)
    truth = _decode_all(path)
    if "video" in truth:
        pts, tb = truth["video"]["pts"], truth["video"]["tb"]
        v = info.video
        assert v.num_frames == len(pts)
        assert v.start_time == Fraction(pts[0]) * tb
        assert isinstance(v.fps, Fraction)
        d = np.diff(pts)
        if d.max() - d.min() <= 1:  # constant rate: fps is exactly one over the frame interval
            assert not v.vfr
            assert v.fps == 1 / (Fraction(int(np.median(d))) * tb)
        else:  # variable rate: fps is the average (frames over the stream's span)
            assert v.vfr
            assert 1 / (int(d.max()) * tb) < v.fps < 1 / (int(d.min()) * tb)
        np.testing.assert_allclose(v.timestamps, [float(p * tb) for p in pts])
        # the grid's times sit on the video clock: frame 0 at 0 s
        g = v.grid()
        assert g.num_frames == len(pts)
        np.testing.assert_allclose(g.times(), [float((p - pts[0]) * tb) for p in pts], atol=1e-9)
    else:
        assert info.video is None
    if "audio" in truth:
        a = info.audio
        assert a.sample_rate == truth["audio"]["sample_rate"]
        assert a.channels == truth["audio"]["channels"]
        assert a.start_time == truth["audio"]["first_pts"]
        # the declared length and the decoded length agree within one codec frame
        assert abs(a.num_samples - truth["audio"]["num_samples"]) < 1024
    else:
        assert info.audio is None


def test_real_file_facts(real):
    """The README's facts, read independently."""
    facts = {
        "synctalk_short_demo.mp4": (Fraction(25), 331), "sadtalker_WDA_AOC.mp4": (Fraction(25), 200),
        "latentsync_demo1.mp4": (Fraction(25), 250), "echomimic_a.mp4": (Fraction(24), 288),
        "retalking_face1.mp4": (Fraction(1350, 61), 135),
    }
    for name, (fps, frames) in facts.items():
        v = probe(real / name).video
        assert (v.fps, v.num_frames) == (fps, frames), name
        assert v.vfr == (name == "retalking_face1.mp4")
        assert v.base_fps == (30 if name == "retalking_face1.mp4" else fps)


def test_retalking_video_start_offset(real):
    path = real / "retalking_face1.mp4"
    info = probe(path)
    assert info.video.start_time == RETALKING_VIDEO_START
    assert info.audio.start_time == 0
    assert info.audio_offset == -RETALKING_VIDEO_START  # audio starts 33 ms before the first frame
    assert info.to_dict()["audio_offset"] == pytest.approx(-0.0330078125)

    a = load_audio(path, 16000)
    assert a.start == -RETALKING_VIDEO_START
    assert load_audio(path, 16000, clock="audio").start == 0
    # on the video clock, sample 0 is at the first video frame: the first 528 samples (33 ms) go
    skip = round(RETALKING_VIDEO_START * 16000)
    assert skip == 528
    on = a.on_clock(0)
    np.testing.assert_array_equal(on.samples, a.samples[skip:])
    assert on.meta["clock"]["trimmed_start"] == 528

    # extract honours it: its audio begins at video frame 0
    out = avalign.extract(path, feature="mel")
    assert out.meta["audio"]["clock"]["trimmed_start"] == 528
    assert out.meta["audio"]["num_samples"] == a.num_samples - 528
    assert out.meta["offsets"]["audio_start_on_video_clock"] == pytest.approx(-0.0330078125)
    assert out.values.shape[0] == 135
    assert out.meta["video"]["vfr"] is True


def test_echomimic_has_no_audio(real):
    path = real / "echomimic_a.mp4"
    info = probe(path)
    assert info.audio is None and info.video.num_frames == 288 and info.video.fps == 24
    with pytest.raises(NoAudioError, match="no audio stream"):
        load_audio(path)
    with pytest.raises(NoAudioError):
        avalign.extract(path, feature="mel")


def test_imitator_resampled_length(real):
    path = real / "imitator_audio1.wav"
    assert probe(path).audio.num_samples == 84333 and probe(path).audio.sample_rate == 22000
    a = load_audio(path, 16000)
    assert a.num_samples == 61334 == -(-84333 * 16000 // 22000)
    assert a.duration == Fraction(61334, 16000) == Fraction("3.833375")
    import soxr

    raw = load_audio(path, None).samples
    assert raw.shape == (84333,)
    assert soxr.resample(raw, 22000, 16000, quality="HQ").shape == (61333,)  # soxr alone: one fewer
    assert resample(raw, orig_sr=22000, target_sr=16000).shape == (61334,)


@pytest.mark.parametrize("name", REAL_WAVS)
def test_load_audio_equals_librosa(real, name):
    import librosa

    path = real / name
    ref, sr = librosa.load(path, sr=16000)
    got = load_audio(path, 16000)
    assert got.samples.dtype == np.float32 and got.sample_rate == sr == 16000
    assert got.samples.shape == ref.shape
    np.testing.assert_allclose(got.samples, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["imitator_audio1.wav", "faceformer_test.wav", "sadtalker_RD_Radio31_000.wav"])
def test_load_audio_kaiser_best_equals_librosa(real, name):
    import librosa

    path = real / name
    ref, _ = librosa.load(path, sr=16000, res_type="kaiser_best")
    got = load_audio(path, 16000, resampler="kaiser_best")
    assert got.samples.shape == ref.shape
    np.testing.assert_allclose(got.samples, ref, atol=1e-6, rtol=0)
    assert got.meta["resampler"] == ("kaiser_best" if probe(path).audio.sample_rate != 16000 else None)


def test_channels_mixdown_pick_and_int16(real):
    from scipy.io import wavfile

    path = real / "sadtalker_RD_Radio31_000.wav"  # 16 kHz stereo, int16
    sr, raw = wavfile.read(path)
    assert sr == 16000 and raw.ndim == 2 and raw.shape[1] == 2
    assert not np.array_equal(raw[:, 0], raw[:, 1])
    f = raw.astype(np.float32) / 32768
    np.testing.assert_allclose(load_audio(path).samples, f.mean(axis=1), atol=1e-7, rtol=0)
    np.testing.assert_array_equal(load_audio(path, channel=0).samples, f[:, 0])
    np.testing.assert_array_equal(load_audio(path, channel=1).samples, f[:, 1])
    mono = real / "carlini_sample.wav"
    _, ints = wavfile.read(mono)
    got = load_audio(mono, scale="int16")
    assert got.scale == "int16"
    np.testing.assert_array_equal(got.samples, ints.astype(np.float32))
    with pytest.raises(InputError, match="channel"):
        load_audio(path, channel=2)
    with pytest.raises(InputError):
        load_audio(path, scale="int8")
    with pytest.raises(InputError):
        load_audio(path, resampler="best")
    for bad in (0, -16000, 16000.5):
        with pytest.raises(InputError):
            load_audio(path, bad)


# ---------------------------------------------------------------------------
# Containers written here
# ---------------------------------------------------------------------------


def _test_signal(sr: int, seconds: float = 2.0) -> np.ndarray:
    """A chirp plus noise from the very first sample: a lag or a priming leak shows up in a correlation."""
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * 300 * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _lag(y: np.ndarray, x: np.ndarray, n: int = 8000) -> int:
    c = np.correlate(y[:n], x[:n], "full")
    return int(np.argmax(c)) - (n - 1)


CONTAINERS = [  # file name, audio codec, container format, video codec, lossless
    ("a.flac", "flac", None, None, True),
    ("a.mp3", "libmp3lame", None, None, False),
    ("a.ogg", "libopus", "ogg", None, False),
    ("a.opus", "libopus", "opus", None, False),
    ("a.m4a", "aac", "ipod", None, False),
    ("a.mkv", "flac", "matroska", "libx264", True),
    ("a.webm", "libopus", "webm", "libvpx-vp9", False),
    ("a.mov", "pcm_s16le", "mov", "libx264", True),
]


@pytest.mark.parametrize("name,codec,container,video_codec,lossless", CONTAINERS)
def test_containers_load_with_right_length_and_start(tmp_path, name, codec, container, video_codec, lossless):
    sr = 48000
    x = _test_signal(sr)
    path = tmp_path / name
    _write_audio(path, x, sr, codec, container=container, video_codec=video_codec)
    info = probe(path)
    assert info.audio is not None and (info.video is not None) == bool(video_codec)
    a = load_audio(path, None)
    assert a.sample_rate == sr
    assert a.num_samples == x.size  # encoder priming and padding trimmed
    assert a.start == 0
    assert _lag(a.samples, x) == 0
    if lossless:
        np.testing.assert_allclose(a.samples, x, atol=1 / 32767 + 1e-6)
    else:
        assert np.corrcoef(a.samples, x)[0, 1] > 0.9
    b = load_audio(path, 16000)
    assert b.num_samples == x.size // 3


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_aac_priming_does_not_leak(tmp_path, sample_rate):
    """AAC in MP4 (synth.write_clip): the decoded signal starts with the known signal, not encoder priming."""
    x = _test_signal(sample_rate, 2.0)
    n = x.size
    path = tmp_path / "clip.mp4"
    facts = synth.write_clip(path, fps="30000/1001", num_frames=59, bright_frames=(), sample_rate=sample_rate,
                             audio=x)
    assert facts["num_frames"] == 59
    a = load_audio(path, None)
    assert a.start == 0
    assert a.num_samples == n
    assert _lag(a.samples, x) == 0
    head = slice(0, 2048)  # the first two AAC frames: priming would show here
    assert np.corrcoef(a.samples[head], x[head])[0, 1] > 0.9
    assert np.corrcoef(a.samples, x)[0, 1] > 0.95


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def _truncated(real: Path, tmp_path: Path, name: str, frac: float = 0.5) -> Path:
    data = (real / name).read_bytes()
    out = tmp_path / f"cut_{name}"
    out.write_bytes(data[: int(len(data) * frac)])
    return out


def test_bad_files_raise_media_error(real, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    cases = [empty, text, folder, tmp_path / "missing.wav", _truncated(real, tmp_path, "synctalk_short_demo.mp4"),
             _truncated(real, tmp_path, "musetalk_eng.wav", 0.9)]
    # an MP4 with its index first, cut: it opens, but its packets end early
    fs = tmp_path / "faststart.mp4"
    remux(real / "synctalk_short_demo.mp4", fs)
    assert probe(fs).video.num_frames == 331
    for frac in (0.3, 0.9):
        cut = tmp_path / f"faststart_cut{frac}.mp4"
        cut.write_bytes(fs.read_bytes()[: int(fs.stat().st_size * frac)])
        cases.append(cut)
    # audio only: an M4A with its index first, cut
    m4a, m4a_fs = tmp_path / "plain.m4a", tmp_path / "fs.m4a"
    _write_audio(m4a, _test_signal(44100, 4.0), 44100, "aac", container="ipod")
    remux(m4a, m4a_fs)
    assert load_audio(m4a_fs, None).num_samples == 4 * 44100
    cut = tmp_path / "fs_cut.m4a"
    cut.write_bytes(m4a_fs.read_bytes()[: int(m4a_fs.stat().st_size * 0.7)])
    cases.append(cut)
    for path in cases:
        with pytest.raises(MediaError):
            probe(path)
        with pytest.raises(MediaError):
            load_audio(path)


def test_audio_helpers():
    a = Audio.from_array(np.arange(10, dtype=np.float64), 10, start=Fraction(1, 5))
    assert a.samples.dtype == np.float32 and a.duration == 1
    b = a.on_clock(0)  # audio starting at 0.2 s: two zeros in front
    np.testing.assert_array_equal(b.samples[:3], [0, 0, 0])
    assert b.num_samples == 12 and b.start == 0 and b.meta["clock"]["padded_start"] == 2
    c = a.shifted(Fraction(-3, 10)).on_clock(0, num_samples=5)  # starts at -0.1 s: one sample trimmed
    np.testing.assert_array_equal(c.samples, [1, 2, 3, 4, 5])
    with pytest.raises(InputError):
        Audio.from_array(np.zeros((2, 5)), 16000)
    with pytest.raises(InputError):
        Audio.from_array(np.array([0.0, np.nan]), 16000)


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 30000), rates=st.sampled_from([(22000, 16000), (44100, 16000), (48000, 16000),
                                                         (16000, 22050), (8000, 16000)]))
def test_resample_equals_librosa(n, rates):
    """The streaming resampler gives librosa.resample's samples and length (ceil rule) at any length."""
    import librosa

    sr_in, sr_out = rates
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    ref = librosa.resample(x, orig_sr=sr_in, target_sr=sr_out, res_type="soxr_hq")
    got = resample(x, orig_sr=sr_in, target_sr=sr_out)
    assert got.shape == ref.shape == (-(-n * sr_out // sr_in),)
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
