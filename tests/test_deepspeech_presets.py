"""VOCA / AD-NeRF / RAD-NeRF-ER-NeRF (DeepSpeech) / DINet presets against the published scripts' steps.

The scripts' post-processing is re-implemented here from their source
(interpolate_features with np.interp per column, zero-pad concatenation,
``range``-loop windows, DINet's edge pad and ``range(5, pad_length)`` loop)
and fed the same logits, so each preset must give the same array.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers.deepspeech_graph import write_graph

import avalign
from avalign import systems
from avalign.features.deepspeech import logits, num_steps, read_wav
from avalign.media import Audio
from avalign.errors import AudioTooShortError
from avalign.systems.deepspeech import lineage_audio
from avalign.systems.steps import DeepSpeechLogits


def Voca(**o):
    return systems.get("voca", **o)


def ADNeRF(**o):
    return systems.get("ad-nerf", **o)


def NeRFDeepSpeech(**o):
    return systems.get("nerf-deepspeech", **o)


def DINet(**o):
    return systems.get("dinet", **o)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AVALIGN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("dsp") / "deepspeech-0_1_0-b90017e8.pb"
    write_graph(path, n_hidden=16, n_cell=8, seed=11)
    return path


# -- the scripts' post-processing, re-implemented from their source -------------------


def interpolate_features(features, input_rate, output_rate, output_len):
    out = np.zeros((output_len, features.shape[1]))
    ti = np.arange(features.shape[0]) / float(input_rate)
    to = np.arange(output_len) / float(output_rate)
    for f in range(features.shape[1]):
        out[:, f] = np.interp(to, ti, features[:, f])
    return out


def make_windows(net, size, stride):
    zero_pad = np.zeros((int(size / 2), net.shape[1]))
    net = np.concatenate((zero_pad, net, zero_pad), axis=0)
    return np.array([net[i:i + size] for i in range(0, net.shape[0] - size, stride)])


def voca_ref(z, n_samples, sr=16000):
    n = int(round(float(n_samples) / sr * 60))
    return make_windows(interpolate_features(z, 50, 60, n), 16, 1)


def adnerf_ref(z, n_samples, sr=16000):
    r = int(round(float(n_samples) / sr * 50))
    first = make_windows(interpolate_features(z, 50, 50, r), 1, 1)  # audio_window_size=1 pass
    return make_windows(np.asarray(first).reshape(-1, 29), 16, 2)


def dinet_ref(z):
    ds = z[::2]
    pad = np.pad(ds, ((2, 2), (0, 0)), mode="edge")
    return ds, np.array([pad[e - 5:e, :].T for e in range(5, pad.shape[0], 1)])


def fake_logits(n_samples):
    t = num_steps(n_samples)
    return (np.sin(np.arange(t * 29).reshape(t, 29) * 0.37) * 5).astype(np.float32)


@pytest.fixture
def fake_net(monkeypatch):
    """Replace the network by a deterministic function of the length (for counts over many durations)."""
    monkeypatch.setattr(DeepSpeechLogits, "compute",
                        lambda self, audio, req, model=None, device=None: fake_logits(audio.num_samples))


def _audio(n, seed=0):
    rng = np.random.default_rng(seed)
    return Audio.from_array(np.round(rng.standard_normal(n) * 3000).astype(np.float32), 16000, scale="int16")


# -- registry and attributes -------------------------------------------------------------


def test_registered_and_described():
    for name in ("voca", "ad-nerf", "dinet"):
        p = systems.get(name)
        assert isinstance(p, systems.Preset) and p.needs_model and p.scale == "int16" and p.family == "deepspeech"
    assert ADNeRF().file_name == "aud.npy" and NeRFDeepSpeech().file_name == "aud_ds.npy"
    assert (Voca().fixed_fps, ADNeRF().fixed_fps, DINet().fixed_fps) == (60, 25, 25)


# -- counts ----------------------------------------------------------------------------------


def test_ten_seconds():
    n = 160000
    assert ADNeRF().num_frames(n, 25) == 250
    assert NeRFDeepSpeech().num_frames(n, 25) == 250
    assert Voca().num_frames(n, 60) == 600
    assert DINet().num_frames(n, 25) == 250 and DINet(layout="windows").num_frames(n, 25) == 249


@given(st.integers(1, 400_000))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_counts_equal_scripts(n):
    z = fake_logits(n)
    assert Voca().num_frames(n, 60) == voca_ref(z, n).shape[0]
    assert ADNeRF().num_frames(n, 25) == adnerf_ref(z, n).shape[0]
    feats, wins = dinet_ref(z)
    assert DINet().num_frames(n, 25) == feats.shape[0]
    assert DINet(layout="windows").num_frames(n, 25) == wins.shape[0]


@given(st.integers(400, 120_000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arrays_equal_scripts_over_durations(fake_net, n):
    z = fake_logits(n)
    audio = _audio(n)
    v = Voca().apply(audio).values
    ref = voca_ref(z, n)
    assert v.shape == ref.shape and (v.shape[0] == 0 or v.shape[1:] == (16, 29))
    np.testing.assert_allclose(v, ref, rtol=0, atol=1e-12)
    ref = adnerf_ref(z, n)
    if ref.shape[0] == 0:  # the script makes an empty array; avalign says the audio is too short
        with pytest.raises(AudioTooShortError):
            ADNeRF().apply(audio)
    else:
        np.testing.assert_array_equal(ADNeRF().apply(audio).values, ref)
    feats, wins = dinet_ref(z)
    np.testing.assert_array_equal(DINet().apply(audio).values, feats)
    if wins.shape[0] == 0:
        with pytest.raises(AudioTooShortError):
            DINet(layout="windows").apply(audio)
    else:
        np.testing.assert_array_equal(DINet(layout="windows").apply(audio).values, wins)


def test_sources_cover_rows(fake_net):
    n = 48000
    for p in (Voca(), ADNeRF(), DINet(), DINet(layout="windows")):
        s = p.sources(n, p.fixed_fps)
        assert s.dtype == np.int64 and s.shape == (p.num_frames(n, p.fixed_fps), 2)
        assert (s[:, 1] > s[:, 0]).all() and (np.diff(s[:, 0]) >= 0).all()
    # AD-NeRF frame 50 sees logits 92..107, i.e. samples from 320*(92-9)
    assert tuple(ADNeRF().sources(n, 25)[50]) == (320 * 83, 320 * 116 + 400)


def test_dinet_bad_layout():
    from avalign.errors import InputError

    with pytest.raises(InputError, match="layout"):
        systems.get("dinet", layout="rows")


# -- with the network, on real files -----------------------------------------------------------


def test_real_16k_file_end_to_end(real, model):
    import scipy.io.wavfile

    path = real / "carlini_sample.wav"
    sr, audio = scipy.io.wavfile.read(path)
    assert sr == 16000
    z = logits([audio.astype(np.float64).astype(np.int16)], model=model)[0]
    a = avalign.extract(path, preset="ad-nerf", model=model)
    np.testing.assert_array_equal(a.values, adnerf_ref(z, audio.shape[0]))
    assert a.values.shape == (int(round(audio.shape[0] / 16000 * 50)) // 2, 16, 29)
    v = avalign.extract(path, preset="voca", model=model)
    np.testing.assert_allclose(v.values, voca_ref(z, audio.shape[0]), rtol=0, atol=1e-12)
    d = avalign.extract(path, preset="dinet", model=model)
    np.testing.assert_array_equal(d.values, dinet_ref(z)[0])


def test_real_22k_file_lineage_reader(real, model):
    import resampy
    import scipy.io.wavfile

    path = real / "voca_test_sentence.wav"
    sr, audio = scipy.io.wavfile.read(path)
    assert sr != 16000
    x = resampy.resample(audio.astype(float), sr, 16000).astype(np.int16)
    z = logits([x], model=model)[0]
    la = lineage_audio(path)
    np.testing.assert_array_equal(la.samples.astype(np.int16), x)
    v = avalign.extract(la, preset="voca", model=model).values
    np.testing.assert_allclose(v, voca_ref(z, x.shape[0]), rtol=0, atol=1e-12)
    # the VOCA script counts rows from the 22 kHz length; here they agree
    assert v.shape[0] == int(round(float(audio.shape[0]) / sr * 60))
    a = avalign.extract(la, preset="ad-nerf", model=model).values
    np.testing.assert_array_equal(a, adnerf_ref(z, x.shape[0]))
    # a plain path reads the WAV the same way (the preset's own reader): identical arrays
    np.testing.assert_array_equal(avalign.extract(path, preset="ad-nerf", model=model).values, a)
    np.testing.assert_array_equal(avalign.extract(path, preset="voca", model=model).values, v)
    # the generic decoder (an explicit resampler opts out of the lineage reader) gives the same counts
    g = avalign.extract(path, preset="ad-nerf", model=model, resampler="kaiser_best").values
    assert g.shape == a.shape


def test_generic_feature_aligned_to_fps(real, model):
    path = real / "carlini_sample.wav"
    x, _, n = read_wav(path)
    r = avalign.extract(path, feature="deepspeech", model=model, fps=30)
    assert r.values.shape == (int(n * 30 // 16000), 29)
    native = avalign.extract(path, feature="deepspeech", model=model)
    assert native.values.shape == (num_steps(n), 29)
    np.testing.assert_allclose(native.values, logits([x], model=model)[0], atol=1e-6)
    lin = avalign.extract(path, feature="deepspeech", model=model, timing="lineage")
    assert lin.grid.t0 == 0 and native.grid.t0 * 1000 == 12.5
