"""Presets on wav2vec2 / HuBERT / CTC: counts, shapes and equality with re-implementations of the originals."""

from __future__ import annotations

import math
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("transformers")

import ssl_models  # noqa: E402
from avalign import systems  # noqa: E402
from avalign.align import stretch  # noqa: E402
from avalign.errors import AudioTooShortError, ModelError  # noqa: E402
from avalign.media import Audio  # noqa: E402
from avalign.systems.ssl import hubert_clips, rad_nerf_windows  # noqa: E402

ARCH = ssl_models.PRESET_ARCH
PRESETS: dict = {}


def preset(name):
    if name not in PRESETS:
        PRESETS[name] = systems.get(name)
    return PRESETS[name]


def run(name, x, **kw):
    return preset(name).apply(Audio.from_array(x, sample_rate=16000),
                              model=str(ssl_models.model_dirs()[ARCH[name]]), **kw).values


def hf(arch, cls="AutoModel"):
    import transformers as tf

    d = ssl_models.model_dirs()[arch]
    return tf.AutoFeatureExtractor.from_pretrained(d), getattr(tf, cls).from_pretrained(d).eval()


# -- counts and shapes (pure formulas, then produced arrays) ---------------------


def test_ten_second_counts_from_conventions():
    n = 160000
    assert preset("er-nerf-hubert").num_frames(n) == 249
    assert preset("geneface-hubert").num_frames(n) == 504
    assert preset("genefacepp-hubert").num_frames(n) == 496
    assert preset("rad-nerf").num_frames(n) == 250
    assert preset("hallo").num_frames(n) == 250
    assert preset("aniportrait").num_frames(n) == preset("emotalk").num_frames(n) == 300
    assert preset("faceformer").num_frames(n) == int(499 / 50 * 30) == 299
    assert preset("faceformer").num_frames(n, video_frames=301) == 301
    # the Python float expression the systems use: 4480 samples (0.28 s) at 25 fps is ceil(7.000000000000001) = 8
    assert preset("hallo").num_frames(4480) == math.ceil(4480 / 16000 * 25) == 8


def test_presets_are_registered_with_file_names():
    names = set(systems.names())
    for name in ARCH:
        assert name in names
        p = preset(name)
        assert p.needs_model and p.default_model and p.shape and p.rule
    assert preset("er-nerf-hubert").file_name == "aud_hu.npy"
    assert preset("rad-nerf").file_name == "aud_eo.npy"


SHAPES = {
    "er-nerf-hubert": lambda n: ((n - 80) // 320 // 2, 2, 1024),
    "geneface-hubert": lambda n: (-(-((n - 80) // 320) // 8) * 8, 1024),
    "genefacepp-hubert": lambda n: ((n - 80) // 320 // 8 * 8, 1024),
    "rad-nerf": lambda n: ((n - 80) // 320 // 2 + 1, 16, 44),
    "faceformer": lambda n: (int(((n - 400) // 320 + 1) / 50 * 30), 768),
    "hallo": lambda n: (math.ceil(n / 16000 * 25), 5, 1, 768),  # 1 layer in the test model (12 in the real one)
    "aniportrait": lambda n: (math.ceil(n / 16000 * 30), 768),
    "emotalk": lambda n: (math.ceil(n / 16000 * 30), 1024),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_and_count_over_many_lengths(name):
    p = preset(name)

    @settings(max_examples=3, deadline=None, derandomize=True)
    @given(st.integers(min_value=2000, max_value=14000))
    def check(n):
        if SHAPES[name](n)[0] == 0:  # the system would make an empty array: a clear error instead
            with pytest.raises(AudioTooShortError):
                run(name, ssl_models.speech(n / 16000, offset=3))
            return
        out = run(name, ssl_models.speech(n / 16000, offset=3))
        assert out.shape == SHAPES[name](n)
        assert out.shape[0] == p.num_frames(n)
        src = p.sources(n, p.fixed_fps)
        assert src.shape == (out.shape[0], 2) and src.dtype == np.int64
        assert np.all(src[:, 1] > src[:, 0])

    check()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=400, max_value=3_000_000))
def test_count_formulas_many_lengths(n):
    t = (n - 80) // 320
    assert preset("er-nerf-hubert").num_frames(n) == t // 2
    assert preset("geneface-hubert").num_frames(n) % 8 == 0
    assert 0 <= preset("geneface-hubert").num_frames(n) - t < 8
    assert 0 <= t - preset("genefacepp-hubert").num_frames(n) < 8
    # the streamed windows produce exactly (n-80)//320 logits
    frames = 0
    for start, stop, terminal in rad_nerf_windows(n):
        length = (stop - start - 400) // 320 + 1
        frames += length - 10 if terminal else min(length, length - 9) - 10
    assert frames == t
    if n % 320 == 0 or n % 320 >= 80:
        assert t == math.ceil(n / 320) - 1  # the conventions' M = ceil(n/320) - 1
    # clips tile the frames
    clips = hubert_clips(n)
    assert sum((b - a - 400) // 320 + 1 for a, b in clips) in (t, t + 1, t - 1)


def test_short_audio_and_missing_model(monkeypatch):
    with pytest.raises(AudioTooShortError):
        run("er-nerf-hubert", ssl_models.speech(0.02))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError):
        systems.get("hallo").apply(Audio.from_array(ssl_models.speech(1.0), sample_rate=16000))


# -- equality with straightforward re-implementations of the originals ---------------


def _get_hubert_from_16k_speech(speech, processor, model):
    """ER-NeRF data_utils/hubert.py, re-implemented for the test (same loop, same edge rules)."""
    import torch

    x = processor(speech, return_tensors="pt", sampling_rate=16000).input_values
    kernel, stride = 400, 320
    clip_length = stride * 1000
    num_iter = x.shape[1] // clip_length
    expected_t = (x.shape[1] - (kernel - stride)) // stride
    res = []
    with torch.no_grad():
        for i in range(num_iter):
            start = 0 if i == 0 else clip_length * i
            res.append(model(x[:, start:start + clip_length - stride + kernel]).last_hidden_state[0])
        rest = x[:, clip_length * num_iter:] if num_iter > 0 else x
        if rest.shape[1] >= kernel:
            res.append(model(rest).last_hidden_state[0])
    ret = torch.cat(res, dim=0)
    if ret.shape[0] < expected_t:
        ret = torch.nn.functional.pad(ret, (0, 0, 0, expected_t - ret.shape[0]))
    return ret[:expected_t].numpy()


def test_er_nerf_hubert_45s_crosses_its_clip_boundary_like_the_original():
    x = ssl_models.speech(45.0)
    fe, model = hf("hubert-large-ls960-ft")
    ref = _get_hubert_from_16k_speech(x, fe, model)
    assert ref.shape == (2249, 1024)
    ref = ref[:-1].reshape(-1, 2, 1024)  # odd T drops its last frame
    ours = run("er-nerf-hubert", x)
    assert ours.shape == (1124, 2, 1024)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)
    # the clips are [0, 320080), [320000, 640080), [640000, 720000): frames 999/1000 come from different runs
    assert hubert_clips(len(x)) == [(0, 320080), (320000, 640080), (640000, 720000)]


def _rad_nerf_reference(wav, processor, model, l=10, m=50, r=10):
    """RAD-NeRF nerf/asr.py in file mode with --asr_save_feats, re-implemented for the test."""
    import torch
    import torch.nn.functional as F

    chunk = 320
    frames = [np.zeros(chunk, np.float32)] * l
    feats, idx, terminated = [], 0, False
    while not terminated:
        if idx < len(wav):
            frames.append(wav[idx:idx + chunk])
            idx += chunk
            if len(frames) < l + m + r:
                continue
        else:
            terminated = True
        inputs = np.concatenate(frames)
        if not terminated:
            frames = frames[-(l + r):]
        with torch.no_grad():
            logits = model(processor(inputs, sampling_rate=16000, return_tensors="pt", padding=True)
                           .input_values).logits
        right = logits.shape[1] if terminated else min(logits.shape[1], logits.shape[1] - r + 1)
        feats.append(logits[0, l:right])
    f = torch.cat(feats, dim=0)
    c = f.shape[1]
    f = f.permute(1, 0).reshape(1, c, -1, 1)
    u = F.unfold(f, kernel_size=(16, 1), padding=(8, 0), stride=(2, 1))
    return u.view(c, 16, -1).permute(2, 1, 0).numpy()


@pytest.mark.parametrize("n", [41 * 320 + 50, 130 * 320 + 200])
def test_rad_nerf_equals_streaming_reimplementation(n):
    x = ssl_models.speech(n / 16000, offset=7)
    fe, model = hf("xlsr-53-esperanto", "AutoModelForCTC")
    ref = _rad_nerf_reference(x, fe, model)
    ours = run("rad-nerf", x)
    assert ours.shape == ref.shape == ((n - 80) // 320 // 2 + 1, 16, 44)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4)


def _stretched_reference(arch, x, n, *, hidden=False):
    """wav2vec2 with its conv feature encoder wrapped in an align_corners stretch (FaceFormer's linear_interpolation)."""
    import torch

    fe, model = hf(arch)
    inp = fe(x, sampling_rate=16000, return_tensors="pt").input_values
    out = ssl_models.stretched_forward(model, inp, n, output_hidden_states=hidden)
    if hidden:
        return torch.stack(out.hidden_states[1:], dim=2)[0].numpy()
    return out.last_hidden_state[0].numpy()


def test_faceformer_aniportrait_emotalk_hallo_equal_reimplementations():
    x = ssl_models.speech(1.7, offset=12)
    n_samples = len(x)
    ff = run("faceformer", x)
    np.testing.assert_allclose(ff, _stretched_reference("wav2vec2-base-960h", x, ff.shape[0]), atol=1e-5)
    ap = run("aniportrait", x)
    assert ap.shape[0] == math.ceil(n_samples / 16000 * 30) == 51
    np.testing.assert_allclose(ap, _stretched_reference("wav2vec2-base-960h", x, 51), atol=1e-5)
    emo = run("emotalk", x)
    np.testing.assert_allclose(emo, _stretched_reference("wav2vec2-large-lv60", x, 51), atol=1e-5)
    hallo = run("hallo", x)
    layers = _stretched_reference("wav2vec2-base-960h", x, 43, hidden=True)  # [N, 12 (here 1), 768]
    ref = np.stack([layers[[min(max(i + j, 0), 42) for j in range(-2, 3)]] for i in range(43)])
    np.testing.assert_allclose(hallo, ref, atol=1e-5)


def test_cnn_stretch_equals_align_stretch():
    """The in-model stretch (torch, align_corners) equals avalign.align.stretch on the conv features."""
    from avalign.features import create

    x = ssl_models.speech(1.0, offset=2)
    ex = create("wav2vec2", model=str(ssl_models.model_dirs()["wav2vec2-base-960h"]), output="cnn", chunk_seconds=0)
    cnn = ex.compute(x)
    import torch

    got = torch.nn.functional.interpolate(torch.from_numpy(cnn.T[None]), size=30, mode="linear",
                                          align_corners=True)[0].T.numpy()
    np.testing.assert_allclose(got, stretch(cnn, 30), atol=1e-5)


def test_geneface_presets_share_the_er_nerf_frames():
    x = ssl_models.speech(2.3, offset=40)
    er = run("er-nerf-hubert", x).reshape(-1, 1024)  # T = 114 frames, even
    gf = run("geneface-hubert", x)
    gpp = run("genefacepp-hubert", x)
    assert er.shape[0] == 114 and gf.shape[0] == 120 and gpp.shape[0] == 112
    np.testing.assert_array_equal(gf[:114], er)
    assert not gf[114:].any()
    np.testing.assert_array_equal(gpp, er[:112])
