"""Spectral presets against straightforward re-implementations of each system's loop.

The references below are written the way the systems wrote them (librosa for
the mel, python_speech_features for the MFCC, Python ``int()`` on floats for
the indices, list-building loops) so that a preset that drifts from its
system fails here.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avalign
from avalign.systems.steps import Wav2LipMel
from avalign import systems
from avalign.cli import main as cli_main
from avalign.errors import AudioTooShortError, InputError
from avalign.media import Audio, load_audio
from avalign.synth import speech_like
from helpers.system_refs import ref_melspectrogram, ref_sadtalker, ref_syncnet, ref_wav2lip_chunks

librosa = pytest.importorskip("librosa")
psf = pytest.importorskip("python_speech_features")

FPS = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60)]
MEL_PRESETS = ["wav2lip", "wav2lip-syncnet", "sadtalker", "synctalk-mel"]


# ---------------------------------------------------------------------------
# The systems' code paths, re-written plainly (reference implementations)
# ---------------------------------------------------------------------------


def ref_syncnet_train_windows(orig_mel, num_video_frames):
    """color_syncnet_train.py: every (frame, mel) window the dataset can return; ``orig_mel`` is ``(M, 80)``."""
    if num_video_frames <= 3 * 5:
        return []
    out = []
    for frame_id in range(num_video_frames):
        if any(f >= num_video_frames for f in range(frame_id, frame_id + 5)):
            continue  # get_window: a frame file is missing
        start_idx = int(80. * (frame_id / float(25)))
        mel = orig_mel[start_idx: start_idx + 16, :]
        if mel.shape[0] != 16:
            continue
        out.append(mel.T)
    return out


def ref_synctalk(orig_mel):
    """AudDataset over the mel ``(M, 80)``, then provider.py's repeats of the first and last item."""
    data_len = int((orig_mel.shape[0] - 16) / 80. * float(25)) + 2
    items = []
    for idx in range(data_len):
        start_idx = int(80. * (idx / float(25)))
        end_idx = start_idx + 16
        if end_idx > orig_mel.shape[0]:
            end_idx = orig_mel.shape[0]
            start_idx = end_idx - 16
        items.append(orig_mel[start_idx:end_idx, :].T)
    return [items[0], items[0]] + items + [items[-1], items[-1]]


def coded_mel(m):
    """A fake mel ``(M, 80)`` whose value names its frame and band: ``1000 t + b``."""
    return (np.arange(m)[:, None] * 1000 + np.arange(80)[None, :]).astype(np.float32)


def reference_windows(name, m, fps, video_frames):
    """The reference loop of preset ``name`` on the coded mel of ``m`` frames."""
    mel = coded_mel(m)
    if name == "wav2lip":
        return ref_wav2lip_chunks(mel.T, float(fps))
    if name == "wav2lip-syncnet":
        return ref_syncnet_train_windows(mel, video_frames)
    if name == "synctalk-mel":
        return ref_synctalk(mel)
    raise AssertionError(name)


# ---------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------


def test_counts_for_ten_seconds_at_25_fps():
    n = 160000
    got = {name: systems.get(name).num_frames(n, Fraction(25)) for name in MEL_PRESETS + ["syncnet"]}
    assert got == {"wav2lip": 247, "wav2lip-syncnet": 246, "sadtalker": 250, "syncnet": 245, "synctalk-mel": 251}
    x = speech_like(10.0)
    for name, rows in got.items():
        p = systems.get(name)
        audio = Audio.from_array(x if p.scale == "float" else np.round(x * 32767), 16000, scale=p.scale)
        assert p.apply(audio, fps=25).values.shape[0] == rows


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=3000, max_value=1_600_000), fps=st.sampled_from(FPS),
       extra=st.integers(min_value=-30, max_value=30))
def test_count_formulas_equal_the_reference_loops(n, fps, extra):
    m = 1 + n // 200
    video = max(n // 640 + extra, 0)
    assert systems.get("wav2lip").num_frames(n, fps) == len(ref_wav2lip_chunks(np.zeros((1, m)), float(fps)))
    assert systems.get("wav2lip-syncnet").num_frames(n, Fraction(25), video) == sum(
        1 for i in range(video - 4) if int(80. * (i / 25.)) + 16 <= m) * (video > 15)
    assert systems.get("sadtalker").num_frames(n, Fraction(25)) == int(n / (16000 / 25))
    assert systems.get("syncnet").num_frames(n, Fraction(25), video) == max(min(video, math.floor(n / 640)) - 5, 0)
    assert systems.get("synctalk-mel").num_frames(n, Fraction(25)) == int((m - 16) / 80. * 25.) + 2 + 4


def test_wav2lip_reproduces_float_index_arithmetic_at_23_976_fps():
    """At 24000/1001 fps, int(i * (80./fps)) is one below the exact index at i = 300, 600, ..."""
    fps = Fraction(24000, 1001)
    n = 200 * 1200
    p = systems.get("wav2lip")
    starts = p.layout.starts(p.request(n, fps), n_rows=1 + n // 200)
    assert starts[300] == int(300 * (80. / float(fps))) == 1000  # exactly 1001 in rational arithmetic
    assert starts.shape[0] == len(ref_wav2lip_chunks(np.zeros((1, 1 + n // 200)), float(fps)))


# ---------------------------------------------------------------------------
# Windowing rules on a coded mel, over many lengths and rates
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=3000, max_value=400_000), fps=st.sampled_from(FPS),
       extra=st.integers(min_value=-20, max_value=20), name=st.sampled_from(["wav2lip", "wav2lip-syncnet",
                                                                           "synctalk-mel"]))
def test_windows_equal_the_reference_loops(n, fps, extra, name, monkeypatch_module):
    preset = systems.get(name)
    m = 1 + n // 200
    video = max(n // 640 + extra, 0)
    ref = reference_windows(name, m, fps, video)
    fps = fps if preset.fixed_fps is None else None  # a fixed-rate system runs at its own rate
    audio = Audio.from_array(np.zeros(n, np.float32), 16000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Wav2LipMel, "compute", lambda self, audio, req, **kw: coded_mel(m))
        if not ref:
            with pytest.raises(AudioTooShortError):
                preset.apply(audio, fps=fps, video_frames=video)
            return
        out = preset.apply(audio, fps=fps, video_frames=video).values
    assert out.shape == (len(ref), 80, 16)
    assert np.array_equal(out, np.asarray(ref))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=640, max_value=200_000))
def test_sadtalker_windows_equal_the_reference_loop(n, monkeypatch_module):
    preset = systems.get("sadtalker")
    ref = ref_sadtalker(np.zeros(n), lambda wav: coded_mel(1 + len(wav) // 200).T)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Wav2LipMel, "compute", lambda self, audio, req, **kw: coded_mel(1 + self.length(req.n_samples) // 200))
        out = preset.apply(Audio.from_array(np.zeros(n, np.float32), 16000)).values
    assert np.array_equal(out, np.asarray(ref))
    if n >= 3000:  # frames 0 and 1 start at -6 and -3 (clamped to mel row 0), frame 3 at int(3.2) = 3
        assert out[0, 0, 0] == 0 and out[1, 0, 6] == 3000 and out[3, 0, 0] == 3000


@settings(max_examples=15, deadline=None)
@given(n=st.integers(min_value=3200, max_value=60_000), extra=st.integers(min_value=-10, max_value=10))
def test_syncnet_windows_equal_the_reference_loop(n, extra):
    audio = np.random.default_rng(n).integers(-8000, 8000, n).astype(np.int16)
    video = max(n // 640 + extra, 0)
    ref = ref_syncnet(audio, video)
    preset = systems.get("syncnet")
    src = Audio.from_array(audio.astype(np.float32), 16000, scale="int16")
    if not ref:
        with pytest.raises(AudioTooShortError):
            preset.apply(src, video_frames=video)
        return
    out = preset.apply(src, video_frames=video).values
    assert out.shape == (len(ref), 13, 20)
    assert _rel(out, np.asarray(ref)) <= 1e-4


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


# ---------------------------------------------------------------------------
# Full presets on real files against the systems' code paths
# ---------------------------------------------------------------------------


def _reference_audio(path, preset):
    """What the system's loader gives: librosa.load for WAV, avalign's decoder (on the video clock) for MP4."""
    if path.suffix == ".wav":
        res_type = "kaiser_best" if preset.resampler == "kaiser_best" else "soxr_hq"
        return librosa.load(path, sr=16000, res_type=res_type)[0]
    return load_audio(path, 16000, resampler=preset.resampler).on_clock(0).samples


@pytest.mark.parametrize("file, fps", [("imitator_audio1.wav", "25"), ("faceformer_test.wav", "30000/1001"),
                                       ("sadtalker_RD_Radio31_000.wav", "24"), ("synctalk_short_demo.mp4", None)])
def test_wav2lip_on_real_files(real, file, fps):
    path = real / file
    preset = systems.get("wav2lip")
    got = avalign.extract(path, "wav2lip", fps=fps)
    f = float(Fraction(fps)) if fps else 25.0
    ref = np.asarray(ref_wav2lip_chunks(ref_melspectrogram(_reference_audio(path, preset), pad_mode="reflect"), f))
    assert got.values.shape == ref.shape
    assert np.abs(got.values - ref).max() <= 1e-4


@pytest.mark.parametrize("file", ["sadtalker_RD_Radio31_000.wav", "voca_test_sentence.wav", "synctalk_short_demo.mp4"])
def test_sadtalker_on_real_files(real, file):
    path = real / file
    got = avalign.extract(path, "sadtalker")
    ref = np.asarray(ref_sadtalker(_reference_audio(path, systems.get("sadtalker")),
                                   lambda wav: ref_melspectrogram(wav, pad_mode="constant")))
    assert got.values.shape == ref.shape
    assert np.abs(got.values - ref).max() <= 1e-4


@pytest.mark.parametrize("file", ["carlini_sample.wav", "synctalk_short_demo.mp4", "faceformer_test.wav"])
def test_synctalk_mel_on_real_files(real, file):
    path = real / file
    got = avalign.extract(path, "synctalk-mel")
    mel = ref_melspectrogram(_reference_audio(path, systems.get("synctalk-mel")), pad_mode="constant").T
    ref = np.asarray(ref_synctalk(mel))
    assert got.values.shape == ref.shape
    assert np.abs(got.values - ref).max() <= 1e-4


def test_wav2lip_syncnet_on_real_video(real):
    path = real / "sadtalker_WDA_AOC.mp4"
    got = avalign.extract(path, "wav2lip-syncnet")
    mel = ref_melspectrogram(_reference_audio(path, systems.get("wav2lip-syncnet")), pad_mode="reflect").T
    ref = np.asarray(ref_syncnet_train_windows(mel, 200))
    assert got.values.shape == ref.shape == (196, 80, 16)
    assert np.abs(got.values - ref).max() <= 1e-4


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def test_syncnet_on_16k_wav_reads_int16_like_wavfile(real):
    import scipy.io.wavfile

    path = real / "latentsync_demo1.wav"
    sr, audio = scipy.io.wavfile.read(path)
    assert sr == 16000 and audio.dtype == np.int16
    got = avalign.extract(path, "syncnet")
    ref = np.asarray(ref_syncnet(audio, len(audio) // 640))
    assert got.values.shape == ref.shape == (len(audio) // 640 - 5, 13, 20)
    assert _rel(got.values, ref) <= 1e-4


@pytest.mark.parametrize("file, video_frames", [("synctalk_short_demo.mp4", 331), ("sadtalker_WDA_AOC.mp4", 200),
                                                ("sadtalker_RD_Radio31_000.wav", None)])
def test_syncnet_on_real_files(real, file, video_frames):
    path = real / file
    audio = load_audio(path, 16000, scale="int16").on_clock(0).samples.astype(np.int16)
    got = avalign.extract(path, "syncnet")
    ref = np.asarray(ref_syncnet(audio, video_frames or len(audio) // 640))
    assert got.values.shape == ref.shape
    assert _rel(got.values, ref) <= 1e-4


# ---------------------------------------------------------------------------
# sources(): the samples each row sees, checked with a click
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MEL_PRESETS)
@pytest.mark.parametrize("click", [5001, 17777, 30333])
def test_sources_say_which_rows_hear_a_click(name, click):
    n = 36000
    x = np.zeros(n, np.float32)
    x[click] = 0.5
    preset = systems.get(name)
    fps = Fraction(30000, 1001) if name == "wav2lip" else Fraction(25)
    out = preset.apply(Audio.from_array(x, 16000), fps=fps).values
    spans = preset.sources(n, fps)
    assert spans.shape == (out.shape[0], 2) and spans.dtype == np.int64
    silent = np.all(out == -4.0, axis=(1, 2))
    outside = (click + 1 < spans[:, 0]) | (click >= spans[:, 1])
    well_inside = (click >= spans[:, 0] + 100) & (click < spans[:, 1] - 100)
    assert np.all(silent[outside])
    assert not np.any(silent[well_inside])
    assert well_inside.sum() >= 2


def test_syncnet_sources_say_which_rows_hear_a_click():
    n, click = 32000, 11111
    x = np.zeros(n, np.float32)
    x[click] = 8000
    preset = systems.get("syncnet")
    out = preset.apply(Audio.from_array(x, 16000, scale="int16")).values
    spans = preset.sources(n, Fraction(25))
    assert spans.shape == (out.shape[0], 2)
    silent_column = out[0, :, 0]
    silent = np.all(out == silent_column[None, :, None], axis=(1, 2))
    hears = (click + 1 >= spans[:, 0]) & (click < spans[:, 1])
    assert np.array_equal(~silent, hears)


# ---------------------------------------------------------------------------
# Options, errors and the command line
# ---------------------------------------------------------------------------


def test_wav2lip_pad_mode_option_gives_the_newer_librosa_result():
    x = speech_like(2.0)
    preset = systems.get("wav2lip", pad_mode="constant")
    got = preset.apply(Audio.from_array(x, 16000), fps=25).values
    ref = np.asarray(ref_wav2lip_chunks(ref_melspectrogram(x, pad_mode="constant"), 25.0))
    assert np.abs(got - ref).max() <= 1e-4
    with pytest.raises(InputError, match="unknown option"):
        systems.get("wav2lip", n_mels=40)
    with pytest.raises(InputError, match="bad value"):
        systems.get("sadtalker", pad_mode="edge")


@pytest.mark.parametrize("name", MEL_PRESETS + ["syncnet"])
def test_too_short_audio_is_a_clear_error(name):
    with pytest.raises(AudioTooShortError, match=name):
        systems.get(name).apply(Audio.from_array(np.zeros(600, np.float32), 16000), fps=25)


def test_presets_describe_their_rule():
    for name in MEL_PRESETS + ["syncnet"]:
        p = systems.get(name)
        d = p.describe()
        assert d["shape"].startswith("[") and d["system"] and d["rule"]
        assert p.file_name and " = " in p.shape  # the count formula is part of the shape rule


def test_cli_extract_wav2lip_preset(real, tmp_path, capsys):
    out = tmp_path / "out.npy"
    assert cli_main(["extract", str(real / "carlini_sample.wav"), "--preset", "wav2lip", "--fps", "25",
                     "-o", str(out)]) == 0
    values = np.load(out)
    m = 1 + 51072 // 200
    assert values.shape == (math.ceil((m - 15) * 25 / 80) + 1, 80, 16)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["preset"] == "wav2lip"
    assert cli_main(["presets"]) == 0
    assert "wav2lip" in capsys.readouterr().out


def test_cli_extract_too_short_exits_2_without_output(tmp_path):
    from avalign.synth import write_wav

    src = tmp_path / "short.wav"
    write_wav(src, np.zeros(1000, np.float32), 16000)
    out = tmp_path / "o.npy"
    assert cli_main(["extract", str(src), "--preset", "wav2lip", "--fps", "25", "-o", str(out)]) == 2
    assert not out.exists() and not out.with_suffix(".json").exists()
