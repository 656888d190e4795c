"""DeepSpeech v0.1.0 without TensorFlow: graph reading, cache, network, inputs, errors.

The fixture graph (tests/helpers/deepspeech_graph.py) has the real node names
and layer structure at small sizes with seeded random weights. The network is
checked against an independent NumPy forward pass written here (TensorFlow's
BasicLSTMCell equations, float64); the inputs against python_speech_features
plus the lineage's steps re-implemented here.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers.deepspeech_graph import graph_bytes, node_def, random_weights, tensor_proto, write_graph

from avalign.errors import ModelError
from avalign.features import create
from avalign.features.deepspeech import input_vectors, lineage_int16, load_weights, logits, num_steps, read_wav
from avalign.features.deepspeech.weights import NAMES, cache_dir

psf = pytest.importorskip("python_speech_features")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AVALIGN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "output_graph.pb"
    weights = write_graph(path, n_hidden=24, n_cell=12, n_hidden_3=20, seed=7)
    return path, weights


# -- independent reference ---------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_forward(w: dict, x: np.ndarray) -> np.ndarray:
    """DeepSpeech v0.1.0 BiRNN in float64 NumPy, step by step (TF BasicLSTMCell, gates i, j, f, o)."""
    w = {k: v.astype(np.float64) for k, v in w.items()}

    def clip(v):
        return np.minimum(np.maximum(v, 0.0), 20.0)

    def lstm(seq, kernel, bias):
        cell = bias.shape[0] // 4
        h, c, out = np.zeros(cell), np.zeros(cell), []
        for xt in seq:
            i, j, f, o = np.split(np.concatenate([xt, h]) @ kernel + bias, 4)
            c = c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
            h = np.tanh(c) * _sigmoid(o)
            out.append(h)
        return np.array(out)

    a = clip(x @ w["h1"] + w["b1"])
    a = clip(a @ w["h2"] + w["b2"])
    a = clip(a @ w["h3"] + w["b3"])
    fw = lstm(a, w["bidirectional_rnn/fw/basic_lstm_cell/kernel"], w["bidirectional_rnn/fw/basic_lstm_cell/bias"])
    bw = lstm(a[::-1], w["bidirectional_rnn/bw/basic_lstm_cell/kernel"],
              w["bidirectional_rnn/bw/basic_lstm_cell/bias"])[::-1]
    a = clip(np.concatenate([fw, bw], axis=1) @ w["h5"] + w["b5"])
    return a @ w["h6"] + w["b6"]


def lineage_input_vector(audio_int16: np.ndarray) -> np.ndarray:
    """conv_audio_to_deepspeech_input_vector as the scripts compute it (python_speech_features, as_strided)."""
    feats = psf.mfcc(audio_int16, samplerate=16000, numcep=26)[::2]
    n = len(feats)
    ctx = np.zeros((9, 26), dtype=feats.dtype)
    feats = np.concatenate((ctx, feats, ctx))
    win = np.lib.stride_tricks.as_strided(feats, shape=(n, 19, 26),
                                          strides=(feats.strides[0], feats.strides[0], feats.strides[1]),
                                          writeable=False)
    x = np.copy(np.reshape(win, [n, -1]))
    return (x - np.mean(x)) / np.std(x)


def speech(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 6000 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + rng.standard_normal(n) * 800
    return np.clip(x, -32768, 32767).astype(np.int16)


# -- graph reading and cache -------------------------------------------------


def test_fixture_graph_round_trips(graph):
    path, weights = graph
    got, info = load_weights(path)
    assert set(got) == set(NAMES)
    for name in NAMES:
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name], weights[name])  # b6 travels as float_val, the rest as content
    assert (info["n_hidden"], info["n_hidden_3"], info["n_cell"]) == (24, 20, 12)


def test_cache_written_once_and_reused(tmp_path):
    path = tmp_path / "g.pb"
    weights = write_graph(path, seed=3)
    first, info1 = load_weights(path)
    assert info1["cached"] is False
    cached = list(cache_dir().glob(f"*{info1['sha256']}.safetensors"))
    assert len(cached) == 1
    assert cached[0].read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    second, info2 = load_weights(path)
    assert info2["cached"] is True and info2["sha256"] == info1["sha256"]
    for name in NAMES:
        np.testing.assert_array_equal(second[name], weights[name])
    # another file with other weights gets its own entry
    other = tmp_path / "h.pb"
    write_graph(other, seed=4)
    assert load_weights(other)[1]["sha256"] != info1["sha256"]


def test_damaged_cache_is_rebuilt(tmp_path):
    path = tmp_path / "g.pb"
    weights = write_graph(path, seed=9)
    _, info = load_weights(path)
    cached = cache_dir() / f"v1-{info['sha256']}.safetensors"
    cached.write_bytes(cached.read_bytes()[:100])
    got, info2 = load_weights(path)
    assert info2["cached"] is False
    np.testing.assert_array_equal(got["h2"], weights["h2"])
    assert load_weights(path)[1]["cached"] is True


def test_splat_float_val(tmp_path):
    from helpers.deepspeech_graph import _bytes

    w = random_weights(seed=5)
    w["b1"] = np.full_like(w["b1"], 0.25)
    parts = [node_def("input_node", "Placeholder"), node_def("input_lengths", "Placeholder"),
             node_def("logits", "Identity")]
    for name, arr in w.items():
        if name == "b1":  # one float_val for the whole tensor: TensorFlow's splat
            t = tensor_proto(np.float32([0.25]), as_float_val=True, shape=arr.shape)
        else:
            t = tensor_proto(arr)
        parts.append(node_def(name, "Const", tensor=t))
    path = tmp_path / "splat.pb"
    path.write_bytes(b"".join(_bytes(1, p) for p in parts))
    got, _ = load_weights(path, use_cache=False)
    np.testing.assert_array_equal(got["b1"], w["b1"])
    np.testing.assert_array_equal(got["h1"], w["h1"])


# -- network -------------------------------------------------------------------


def test_network_matches_numpy_reference(graph):
    path, weights = graph
    x = speech(16000 * 2 + 123)
    got = logits([x], model=path)[0]
    ref = numpy_forward(weights, input_vectors(x).astype(np.float64))
    assert got.shape == (num_steps(x.shape[0]), 29) == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    assert np.abs(ref).max() > 1.0  # the fixture exercises the clip and the LSTM, not a near-zero net


def test_relu_clip_reached(graph):
    path, weights = graph
    x = input_vectors(speech(8000)).astype(np.float64)
    a1 = x @ weights["h1"] + weights["b1"]
    assert (a1 > 20).any() and (a1 < 0).any()  # both ends of the clipped ReLU are used by this fixture


def test_batch_of_clips_equals_one_by_one(graph):
    path, _ = graph
    clips = [speech(n, seed=n) for n in (3000, 16000, 401, 9000)]
    together = logits(clips, model=path, batch_size=3)
    for clip, out in zip(clips, together):
        alone = logits([clip], model=path)[0]
        assert out.shape == alone.shape == (num_steps(clip.shape[0]), 29)
        np.testing.assert_allclose(out, alone, atol=1e-5, rtol=1e-5)


def test_cuda_matches_cpu(graph):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    path, _ = graph
    clips = [speech(20000, seed=1), speech(7000, seed=2)]
    cpu = logits(clips, model=path, device="cpu")
    gpu = logits(clips, model=path, device="cuda")
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


# -- inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [400, 401, 561, 16000, 33333])
def test_input_vectors_equal_lineage(n):
    x = speech(n, seed=n)
    ref = lineage_input_vector(x)
    got = input_vectors(x)
    assert got.shape == ref.shape == (num_steps(n), 494)
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=0)


def test_real_16k_file_inputs(real):
    import scipy.io.wavfile

    sr, audio = scipy.io.wavfile.read(real / "carlini_sample.wav")
    assert sr == 16000 and audio.dtype == np.int16
    x, sr2, n = read_wav(real / "carlini_sample.wav")
    np.testing.assert_array_equal(x, audio if audio.ndim == 1 else audio[:, 0])
    np.testing.assert_allclose(input_vectors(x), lineage_input_vector(x), atol=2e-5, rtol=0)
    # the library's decoder gives the same int16 samples for a 16 kHz WAV
    from avalign.media import load_audio

    a = load_audio(real / "carlini_sample.wav", 16000, scale="int16")
    np.testing.assert_array_equal(a.samples.astype(np.int16), x)


@pytest.mark.parametrize("name", ["voca_test_sentence.wav", "imitator_audio1.wav"])
def test_real_22k_file_resampled_as_lineage(real, name):
    import resampy
    import scipy.io.wavfile

    sr, audio = scipy.io.wavfile.read(real / name)
    assert sr != 16000
    if audio.ndim != 1:
        audio = audio[:, 0]
    ref = resampy.resample(x=audio.astype(float), sr_orig=sr, sr_new=16000).astype(np.int16)
    x, sr2, n = read_wav(real / name)
    assert (sr2, n) == (sr, audio.shape[0])
    np.testing.assert_array_equal(x, ref)
    np.testing.assert_array_equal(lineage_int16(audio, sr), ref)
    np.testing.assert_allclose(input_vectors(x), lineage_input_vector(ref), atol=2e-5, rtol=0)
    # the generic decoder (float resampling, rounding, ceil length) stays within 1 LSB of it
    from avalign.media import load_audio

    a = load_audio(real / name, 16000, resampler="kaiser_best", scale="int16")
    assert abs(a.num_samples - x.shape[0]) <= 1
    assert np.abs(a.samples[: x.shape[0]] - x).max() <= 1


# -- counts --------------------------------------------------------------------------


@given(st.integers(1, 200_000))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_num_steps_equals_psf_frames(n):
    frames = psf.sigproc.framesig(np.zeros(n), 400, 160).shape[0]
    assert num_steps(n) == len(range(frames)[::2])


@given(st.integers(1, 40_000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_extractor_count_and_grid(graph, n):
    path, _ = graph
    ex = create("deepspeech", model=str(path))
    from avalign.media import Audio

    feats = ex.extract(Audio.from_array(speech(n, seed=n).astype(np.float32), 16000, scale="int16"))
    assert feats.values.shape == (num_steps(n), 29)
    assert float(feats.grid.t0) == 0.0125 and feats.grid.rate == 50


# -- errors ----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such DeepSpeech model file"):
        load_weights(tmp_path / "nope.pb")


def test_truncated_file(tmp_path, graph):
    data = (graph[0]).read_bytes()
    bad = tmp_path / "cut.pb"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        load_weights(bad)


def test_other_graph_refused(tmp_path):
    # a later DeepSpeech graph names its weights layer_1/weights ...; any other .pb lacks h1 ... b6
    w = {"layer_1/weights": np.zeros((494, 8), np.float32), "layer_1/bias": np.zeros(8, np.float32)}
    other = tmp_path / "other.pb"
    other.write_bytes(graph_bytes(w))
    with pytest.raises(ModelError, match="another version"):
        load_weights(other)
    plain = tmp_path / "plain.pb"
    plain.write_bytes(graph_bytes(w, io_nodes=False))
    with pytest.raises(ModelError, match="not a DeepSpeech graph"):
        load_weights(plain)


def test_wrong_shapes_refused(tmp_path):
    w = random_weights(seed=1)
    w["h6"] = np.zeros((16, 30), np.float32)
    path = tmp_path / "shape.pb"
    path.write_bytes(graph_bytes(w))
    with pytest.raises(ModelError, match="h6 has shape"):
        load_weights(path)


def test_not_a_graph_refused(tmp_path, real):
    wav = real / "carlini_sample.wav"
    with pytest.raises(ModelError):
        load_weights(wav)
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        load_weights(empty)


def _bad_model(tmp_path, graph, case):
    model = tmp_path / f"{case}.pb"
    if case == "truncated":
        model.write_bytes(graph[0].read_bytes()[:1000])
    elif case == "other":
        model.write_bytes(graph_bytes({"w": np.zeros(3, np.float32)}, io_nodes=False))
    return model


@pytest.mark.parametrize("case", ["missing", "truncated", "other"])
@pytest.mark.parametrize("kind", [["--feature", "deepspeech"], ["--preset", "ad-nerf"], ["--preset", "dinet"]])
def test_cli_exit_2_one_line(tmp_path, real, graph, capsys, case, kind):
    from avalign.cli import main

    model = _bad_model(tmp_path, graph, case)
    out = tmp_path / "out.npy"
    code = main(["extract", str(real / "carlini_sample.wav"), "-o", str(out), *kind, "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and model.name in lines[0] and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_cli_process_exit_code(tmp_path, real, graph):
    model = _bad_model(tmp_path, graph, "truncated")
    out = tmp_path / "out.npy"
    proc = subprocess.run([sys.executable, "-c", "from avalign.cli import run; run()", "extract",
                           str(real / "carlini_sample.wav"), "-o", str(out), "--preset", "voca", "--model", str(model)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()
