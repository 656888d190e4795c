"""One pipeline for every command: extract, check, explain and plot agree on samples and rows; presets as data.

The files are real media at 22 kHz, 44.1 kHz (WAV) and 44.1 kHz AAC in an MP4
with a container offset, so the readers (resampy for the DeepSpeech lineage and
Wav2Lip, soxr elsewhere) and the video clock are all exercised.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import avalign
from avalign import pipeline, synth
from avalign.check import check
from avalign.cli import main
from avalign.explain import explain
from avalign.store import save

WAVS = ["imitator_audio1.wav", "voca_test_sentence.wav", "faceformer_test.wav"]  # 22 kHz, 22 kHz, 44.1 kHz
VIDEOS = ["retalking_face1.mp4", "latentsync_demo1.mp4"]  # 44.1 kHz AAC; the first starts 33 ms before its video
SPECTRAL = [n for n in avalign.presets() if avalign.preset(n).family in ("mel", "mfcc")]


def _fps(p):
    return p.fixed_fps or Fraction(25)


@pytest.mark.parametrize("name", avalign.presets())
@pytest.mark.parametrize("file", WAVS)
def test_explain_counts_what_the_pipeline_decodes(real, name, file):
    p = avalign.preset(name)
    audio, _ = pipeline.decode(real / file, p)
    ex = explain(name, source=real / file, fps=_fps(p))
    assert ex.sample_rate == p.sample_rate and ex.n_samples == audio.num_samples
    assert ex.rows == p.num_frames(audio.num_samples, _fps(p), ex.video_frames)
    if p.reader.lineage:  # the DeepSpeech lineage reads the WAV with its own reader (resampy, int16 cast)
        assert audio.meta["reader"].startswith("scipy.io.wavfile")


@pytest.mark.parametrize("name", SPECTRAL)
@pytest.mark.parametrize("file", WAVS)
def test_extract_rows_and_samples_equal_explain(real, name, file):
    p = avalign.preset(name)
    out = avalign.extract(real / file, name, fps=None if p.fixed_fps else 25)
    ex = explain(name, source=real / file, fps=_fps(p))
    assert out.meta["audio"]["num_samples"] == ex.n_samples and out.values.shape[0] == ex.rows
    np.testing.assert_array_equal(out.spans, ex.spans)  # explain's table is the spans that built the array


@pytest.mark.parametrize("name", avalign.presets())
@pytest.mark.parametrize("video", VIDEOS)
def test_check_plot_and_explain_agree_on_a_video(real, tmp_path, name, video):
    """check (no sidecar) expects exactly explain's rows; plot shows the same rows and samples."""
    p = avalign.preset(name)
    path = real / video
    ex = explain(name, source=path)
    info = avalign.probe(path)
    audio, _ = pipeline.decode(path, p, info=info)
    assert ex.n_samples == audio.num_samples
    shape = (ex.rows, 2) if ex.rows else (1, 2)
    npy = tmp_path / "plain.npy"
    np.save(npy, np.zeros(shape, np.float32))
    report = check(path, npy, preset=name)
    assert report.expected == ex.rows
    if p.family in ("mel", "mfcc"):
        from avalign.plot import plot_data

        d = plot_data(path, name)
        assert d["rows"] == ex.rows and d["n_samples"] == ex.n_samples


@pytest.mark.parametrize("name", avalign.presets())
def test_unknown_option_is_refused_naming_the_known_ones(real, tmp_path, capsys, name):
    out = tmp_path / "x.npy"
    assert main(["extract", str(real / "carlini_sample.wav"), "--preset", name, "--option", "foo=1",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    known = ", ".join(sorted(avalign.preset(name).options_spec)) or "none"
    assert err == [f"avalign: error: unknown option(s) for preset {name!r}: foo; known: {known}"]
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("name", [n for n in avalign.presets() if avalign.preset(n).fixed_fps is not None])
def test_fixed_rate_preset_refuses_another_fps(real, tmp_path, capsys, name):
    p = avalign.preset(name)
    other = "30" if p.fixed_fps != 30 else "25"
    out = tmp_path / "x.npy"
    assert main(["extract", str(real / "carlini_sample.wav"), "--preset", name, "--fps", other, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"runs at {p.fixed_fps} fps only" in err and not out.exists()


@pytest.mark.parametrize("name", ["wav2lip", "sadtalker"])
def test_check_reports_per_frame_time_error_for_a_preset(real, tmp_path, name):
    video = real / "sadtalker_WDA_AOC.mp4"
    a = avalign.extract(video, name)
    out = tmp_path / "p.npy"
    save(out, a.values, a.meta)
    r = check(video, out)
    assert r.ok and r.max_time_error is not None
    line = next(x for x in r.lines if x.startswith("time error per frame"))
    # Wav2Lip's 0.2 s windows start at the frame: their centres sit 68.75 ms after the frames' centres (median);
    # the last chunk, shifted back inside the mel, is the largest departure (22.5 ms)
    if name == "wav2lip":
        assert "+68.750 ms" in line and r.max_time_error == pytest.approx(0.0225)
    assert r.max_time_error <= 0.0225 + 1e-9


def test_check_reports_per_frame_time_error_for_er_nerf(real, tmp_path):
    """er-nerf-hubert rows (HuBERT frames 2k, 2k+1 = samples [640k, 640k+720)) sit 2.5 ms after their frames."""
    p = avalign.preset("er-nerf-hubert")
    video = real / "sadtalker_WDA_AOC.mp4"
    audio, info = pipeline.decode(video, p)
    rows = p.num_frames(audio.num_samples)
    values = np.zeros((rows, 2, 1024), np.float32)
    meta = {"avalign": "feature file", "preset": "er-nerf-hubert", "fps": "25",
            "audio": {"sample_rate": 16000, "num_samples": audio.num_samples},
            "grid": avalign.FrameGrid.from_video(25, rows).to_dict(), "offsets": {"audio_start_on_video_clock": 0.0}}
    out = tmp_path / "aud_hu.npy"
    save(out, values, meta)
    r = check(video, out)
    line = next(x for x in r.lines if x.startswith("time error per frame"))
    assert "+2.500 ms" in line and r.max_time_error == pytest.approx(0.0)


@pytest.mark.parametrize("fps", ["30000/1001", "24000/1001"])
def test_click_inside_a_frame_lands_on_its_row_at_ntsc_rates(tmp_path, fps):
    clip = tmp_path / "clip.mp4"
    bright = (20, 45, 71)
    synth.write_clip(clip, fps=fps, num_frames=90, bright_frames=bright, click_phase=0.35)
    out = avalign.extract(clip, feature="mel")
    energy = np.exp(out.values).sum(axis=1)
    assert sorted(int(i) for i in np.argsort(energy)[-3:]) == list(bright)


def test_click_inside_a_long_frame_of_a_variable_rate_clip(tmp_path):
    """Frames of 30 ms and 45 ms; a click 30-40 % into a 45 ms frame lands on that frame's row (default feature).

    The start-instant rule (method='linear') reads the 45 ms frame at its first instant, 13.5-18 ms before the
    click, and misses it; the default reads the display interval's middle.
    """
    times = np.cumsum([0.0] + [0.030 if i % 2 == 0 else 0.045 for i in range(59)])
    long_frames = [11, 31, 51]  # odd frames last 45 ms
    for phase in (0.30, 0.35, 0.40):
        clip = tmp_path / f"vfr{phase}.mp4"
        synth.write_clip(clip, fps=Fraction(400, 15), num_frames=60, bright_frames=long_frames, frame_times=times,
                         click_phase=phase)
        info = avalign.probe(clip)
        assert info.video.vfr and info.video.num_frames == 60
        out = avalign.extract(clip, feature="mel")
        energy = np.exp(out.values).sum(axis=1)
        assert sorted(int(i) for i in np.argsort(energy)[-3:]) == long_frames
