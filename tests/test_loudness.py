"""Loudness normalisation (reader option): equality with pyloudnorm on the real media, the sidecar, the errors."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

from avalign import pipeline, systems
from avalign.errors import AudioTooShortError, InputError, MissingDependencyError
from avalign.media import Audio, load_audio
from helpers.real import real_file

pyln = pytest.importorskip("pyloudnorm")
import pyloudnorm.normalize  # noqa: E402,F401

FILES = ["musetalk_eng.wav", "latentsync_demo1.mp4", "sadtalker_RD_Radio31_000.wav"]


def reference(path, target, sr=16000):
    """InfiniteTalk's audio_prepare_single: librosa.load(sr=16000) (soxr, channel mean), then loudness_norm."""
    x = load_audio(path, sr).samples
    loudness = pyln.Meter(sr).integrated_loudness(x)
    if abs(loudness) > 100:
        return x, loudness
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = pyln.normalize.loudness(x, loudness, target)
    return y.astype(np.float32), loudness


@pytest.mark.parametrize("name", FILES)
def test_reader_equals_pyloudnorm_on_real_media(name):
    path = real_file(name)
    for target in (-23.0, -16.0):
        ref, measured = reference(path, target)
        got = pipeline.read_audio(path, pipeline.make_recipe(feature="mel"),
                                  loudness=target)
        np.testing.assert_array_equal(got.samples, ref)
        rec = got.meta["loudness"]
        assert rec["target_lufs"] == target and rec["measured_lufs"] == measured and rec["sample_rate"] == 16000
        assert rec["applied"] and abs(rec["gain_db"] - (target - measured)) < 1e-12
        # the output measures at the target (what the systems want), and the input did not
        assert abs(pyln.Meter(16000).integrated_loudness(got.samples.astype(np.float64)) - target) < 0.01
        assert abs(measured - target) > 0.5


def test_presets_that_normalise_do_it_by_default_and_can_be_overridden():
    path = real_file("musetalk_eng.wav")
    for name in ("infinitetalk", "multitalk", "echomimic-v3"):
        p = systems.get(name)
        assert p.reader.loudness == -23.0
        a = p.read_audio(path)
        np.testing.assert_array_equal(a.samples, reference(path, -23.0)[0])
    p = systems.get("infinitetalk")
    assert "loudness" not in p.read_audio(path, loudness="off").meta
    assert p.read_audio(path, loudness=-20).meta["loudness"]["target_lufs"] == -20.0
    assert "loudness" not in systems.get("hallo2").read_audio(path).meta  # Hallo2 does not normalise
    # an Audio already normalised is not normalised twice (batch decodes, then extracts)
    once = p.read_audio(path)
    assert p.reader.convert(once) is once


def test_silence_is_left_unchanged_and_short_audio_is_refused():
    silent = Audio.from_array(np.zeros(16000, np.float32), 16000)
    out = pipeline.read_audio(silent, pipeline.make_recipe(feature="mel"), loudness=-23)
    assert out.meta["loudness"]["applied"] is False and out.meta["loudness"]["measured_lufs"] is None
    assert not out.samples.any()
    short = Audio.from_array(np.ones(6000, np.float32) * 0.1, 16000)
    with pytest.raises(AudioTooShortError, match="400 ms"):
        pipeline.read_audio(short, pipeline.make_recipe(feature="mel"), loudness=-23)
    for bad in ("loud", 5, float("nan")):
        with pytest.raises(InputError):
            pipeline.read_audio(silent, pipeline.make_recipe(feature="mel"), loudness=bad)


def test_sidecar_records_target_and_measured(tmp_path):
    from avalign.cli import main

    path = real_file("musetalk_eng.wav")
    out = tmp_path / "m.npy"
    assert main(["extract", str(path), "-o", str(out), "--feature", "mel", "--fps", "25", "--loudness", "-20",
                 "-q"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    _, measured = reference(path, -20.0)
    assert side["audio"]["loudness"]["target_lufs"] == -20.0
    assert side["audio"]["loudness"]["measured_lufs"] == pytest.approx(measured, abs=1e-9)


def test_missing_extra_is_one_clear_line_exit_2(tmp_path, monkeypatch, capsys):
    from avalign.cli import main

    monkeypatch.setitem(sys.modules, "pyloudnorm", None)  # import pyloudnorm -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'avalign\[loudness\]'"):
        pipeline.read_audio(real_file("musetalk_eng.wav"), pipeline.make_recipe(feature="mel"), loudness=-23)
    out = tmp_path / "m.npy"
    assert main(["extract", str(real_file("musetalk_eng.wav")), "-o", str(out), "--loudness", "-23"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "avalign[loudness]" in err[0] and "Traceback" not in err[0]
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_batch_spec_carries_loudness():
    from avalign.batch import RecipeSpec

    plain = RecipeSpec.from_kwargs({"feature": "mel"})
    loud = RecipeSpec.from_kwargs({"feature": "mel", "loudness": "-23"})
    assert loud.loudness == -23.0 and "loudness" not in plain.identity()
    assert loud.identity()["loudness"] == -23.0
    with pytest.raises(InputError):
        RecipeSpec.from_kwargs({"feature": "mel", "loudness": "x"})
