"""MuseTalk v1.5 / v1, LatentSync and EchoMimic presets against re-implementations of the systems' loops.

The reference loops below restate the systems' code (MuseTalk
``audio_processor.get_whisper_chunk``; the openai-whisper fork's ``transcribe``
+ ``audio2feat`` + ``feature2chunks`` shared by MuseTalk v1, LatentSync and
EchoMimic) with their own arithmetic (Python floats), on top of the
references themselves: transformers' feature extractor and encoder, and
openai-whisper's log-mel, ``pad_or_trim`` and encoder. Models are
random-initialised with the real architectures.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import avalign
from avalign.systems.whisper import musetalk_plan
from avalign import systems
from avalign.errors import AudioTooShortError, InputError
from avalign.features import whisper as W
from avalign.media import Audio, load_audio
from helpers.whisper_models import openai_model, save_openai

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
openai_whisper = pytest.importorskip("whisper")

OPENAI_FAMILY = ["musetalk-v1", "latentsync", "echomimic"]


# -- the systems' loops, restated ---------------------------------------------


def musetalk_v15_loop(samples, fps, encode_segment):
    """MuseTalk v1.5: 30 s segments through ``encode_segment`` -> (T_seg, L+1, d); windows of 10 per frame."""
    feats = np.concatenate([encode_segment(samples[s:s + 480000]) for s in range(0, len(samples), 480000)])
    fps = int(fps)
    step = 50 / fps
    frames = math.floor((len(samples) / 16000) * fps)
    kept = math.floor((len(samples) / 16000) * 50)
    feats = feats[:kept]
    pad = math.ceil(step)
    zeros = np.zeros((1,) + feats.shape[1:], feats.dtype)
    padded = np.concatenate([zeros.repeat(pad * 2, 0), feats, zeros.repeat(pad * 3 * 2, 0)])
    prompts = []
    for i in range(frames):
        a = math.floor(i * step)
        clip = padded[a:a + 10]
        assert clip.shape[0] == 10
        prompts.append(clip.reshape(1, -1, feats.shape[2]))
    if not prompts:  # the system crashes here (torch.cat of nothing); the preset raises AudioTooShortError
        return np.zeros((0, 10 * feats.shape[1], feats.shape[2]), feats.dtype)
    return np.concatenate(prompts)


def openai_feature_array(samples, encode_mel):
    """``transcribe`` + ``audio2feat``: whole-file log-mel, 3000-frame segments, keep half each segment's length."""
    mel = openai_whisper.log_mel_spectrogram(torch.from_numpy(samples))
    total = mel.shape[-1]
    parts = []
    for seek in range(0, total, 3000):
        end = min(seek + 3000, total)
        states = encode_mel(openai_whisper.pad_or_trim(mel[:, seek:seek + 3000], 3000).numpy())
        parts.append(states[:int((end - seek) / 2)])
    return np.concatenate(parts)


def feature2chunks(features, fps, width):
    """Append chunk i, then stop once ``int(i * (50/fps)) > len``; chunk = 10 clamped frames from int(i*50/fps) - 4."""
    step = 50.0 / fps
    length = len(features)
    chunks = []
    i = 0
    while True:
        start = int(i * step)
        centre = int(i * 50 / fps)
        rows = [features[min(max(k, 0), length - 1)] for k in range(centre - 4, centre + 6)]
        chunks.append(np.concatenate(rows, axis=0).reshape(-1, width))
        i += 1
        if start > length:
            break
    return np.stack(chunks)


def chunk_total(length, fps):
    step = 50.0 / fps
    i = 0
    while True:
        start = int(i * step)
        i += 1
        if start > length:
            return i


# -- fixtures -----------------------------------------------------------------


def openai_encode(model):
    """openai-whisper's encoder on one (80, 3000) mel: embeddings + every block output (pre final LN)."""
    def run(mel):
        got = []
        enc = model.encoder
        hooks = [enc.blocks[0].register_forward_pre_hook(lambda m, args: got.append(args[0]))]
        hooks += [b.register_forward_hook(lambda m, args, out: got.append(out)) for b in enc.blocks]
        with torch.no_grad():
            enc(torch.as_tensor(mel)[None])
        for h in hooks:
            h.remove()
        return torch.stack(got, dim=2)[0].numpy()
    return run


@pytest.fixture(scope="module")
def openai_tiny(tmp_path_factory):
    model, dims = openai_model(384, 6, 4, seed=3)
    return model, save_openai(model, dims, tmp_path_factory.mktemp("openai") / "tiny.pt")


@pytest.fixture(scope="module")
def hf_tiny(tmp_path_factory):
    return W.save_random_model(tmp_path_factory.mktemp("hf-tiny"), size="tiny", seed=4)


@pytest.fixture(scope="module")
def eng(real):
    return load_audio(real / "musetalk_eng.wav", 16000)


def max_rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# -- counts -------------------------------------------------------------------


def test_counts_for_ten_seconds():
    n = 160000
    assert systems.get("musetalk-v15").num_frames(n, Fraction(25)) == 250
    for name in OPENAI_FAMILY:
        assert systems.get(name).num_frames(n, Fraction(25)) == 252
    assert systems.get("echomimic").num_frames(n, Fraction(24)) == chunk_total(500, 24) == 242


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=320, max_value=16000 * 120), fps=st.sampled_from([24, 25, 30]))
def test_count_formulas_match_the_loops(n, fps):
    f = Fraction(fps)
    assert systems.get("musetalk-v15").num_frames(n, f) == math.floor((n / 16000) * fps)
    assert systems.get("musetalk-v1").num_frames(n, f) == chunk_total(n // 320, fps)
    assert systems.get("echomimic").num_frames(n, f) == chunk_total(n // 320, fps)
    assert systems.get("latentsync").num_frames(n, Fraction(99)) == chunk_total(n // 320, 25)  # fixed 25 fps


def test_float_quirks_are_kept():
    # 0.58 s: floor((9280/16000)*50) is 28 in floats, 29 exactly; the system keeps 28 encoder frames
    _, kept, _, _ = musetalk_plan(9280, 25)
    assert kept == math.floor((9280 / 16000) * 50) == 28 and 9280 // 320 == 29
    # 18560 samples at 25 fps: floor(1.16 * 25) = 28 in floats (29 exactly)
    assert systems.get("musetalk-v15").num_frames(18560, Fraction(25)) == 28
    # MuseTalk v1.5 runs at int(fps): 29.97 -> 29 frames per second
    assert systems.get("musetalk-v15").num_frames(160000, Fraction(30000, 1001)) == 290


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=320, max_value=16000 * 12), fps=st.sampled_from([24, 25, 30]))
def test_rows_equal_the_loops_on_any_states(n, fps):
    """Produced rows == formula, and values == the restated loops, on random hidden states."""
    t = n // 320
    states = np.random.default_rng(n).standard_normal((t, 5, 384)).astype(np.float32)
    f = Fraction(fps)
    v15 = systems.get("musetalk-v15")
    segs = iter(range(0, n, 480000))
    ref = musetalk_v15_loop(np.zeros(n, np.float32), fps, lambda seg: states[(k := next(segs) // 320):k + 1500])
    got = v15.arrange(states, n, f)
    assert got.shape == (v15.num_frames(n, f), 50, 384) == ref.shape
    assert np.array_equal(got, ref)
    for name in OPENAI_FAMILY:
        p = systems.get(name)
        rate = 25 if name == "latentsync" else fps
        got = p.arrange(states, n, Fraction(rate))
        assert got.shape == (p.num_frames(n, Fraction(rate)), 50, 384)
        assert np.array_equal(got, feature2chunks(states, rate, 384))
        src = p.sources(n, Fraction(rate))
        assert src.shape == (got.shape[0], 2) and np.all(np.diff(src[:, 0]) >= 0)


def test_sources():
    p = systems.get("musetalk-v15")
    src = p.sources(160000, Fraction(25))
    assert src.shape == (250, 2)
    i = np.arange(250)
    assert np.array_equal(src[:, 0], 320 * (2 * i - 4) - 520)  # frames [2i-4, 2i+6)
    assert np.array_equal(src[:, 1], 320 * (2 * i + 5) + 520)
    src = systems.get("musetalk-v1").sources(160000, Fraction(25))
    assert src.shape == (252, 2) and src[0, 0] == 320 * -4 - 520 and src[-1, 1] == 320 * (502 + 5) + 520


def test_options_and_refusals():
    assert systems.get("latentsync", size="small").default_model == "openai/whisper-small"
    assert systems.get("musetalk-v15").default_model == "openai/whisper-tiny"
    with pytest.raises(InputError):
        systems.get("musetalk-v1", size="large")
    with pytest.raises(InputError):
        systems.get("echomimic", window=3)
    with pytest.raises(InputError):
        systems.get("musetalk-v15").num_frames(160000, Fraction(50))  # the system's last window overruns
    p = systems.get("musetalk-v15")
    assert p.file_name and p.needs_model and p.family == "whisper"
    # too short for one frame: refused before any model is loaded
    with pytest.raises(AudioTooShortError):
        p.apply(Audio.from_array(np.zeros(600, np.float32), 16000), fps=25, model="/nonexistent")
    with pytest.raises(AudioTooShortError):
        systems.get("echomimic").apply(Audio.from_array(np.zeros(300, np.float32), 16000), fps=25,
                                       model="/nonexistent")


# -- end to end on real audio -------------------------------------------------


def test_musetalk_v15_reproduces_the_system_on_60s(eng, hf_tiny):
    """Two 30 s segments, each through transformers' extractor and encoder; the seam as the system has it."""
    fe = transformers.WhisperFeatureExtractor()
    model = transformers.WhisperModel.from_pretrained(hf_tiny).encoder.eval()

    def encode_segment(seg):
        with torch.no_grad():
            out = model(fe(seg, sampling_rate=16000, return_tensors="pt").input_features, output_hidden_states=True)
        return torch.stack(out.hidden_states, dim=2)[0].numpy()

    ref = musetalk_v15_loop(eng.samples, 25, encode_segment)
    got = systems.get("musetalk-v15").apply(eng, fps=25, model=str(hf_tiny))
    assert got.values.shape == ref.shape == (1500, 50, 384)
    assert max_rel(got.values, ref) < 1e-4


def test_musetalk_v1_reproduces_the_system_on_60s(eng, openai_tiny):
    model, path = openai_tiny
    feats = openai_feature_array(eng.samples, openai_encode(model))
    assert feats.shape == (3000, 5, 384)
    ref = feature2chunks(feats, 25, 384)
    got = systems.get("musetalk-v1").apply(eng, fps=25, model=str(path))
    assert got.values.shape == ref.shape == (1502, 50, 384)
    assert max_rel(got.values, ref) < 1e-4


def test_echomimic_reproduces_the_system_at_24fps(real, openai_tiny):
    model, path = openai_tiny
    audio = load_audio(real / "latentsync_demo1.wav", 16000)
    ref = feature2chunks(openai_feature_array(audio.samples, openai_encode(model)), 24, 384)
    got = systems.get("echomimic").apply(audio, fps=24, model=str(path))
    assert got.values.shape == ref.shape == (chunk_total(480, 24), 50, 384)
    assert max_rel(got.values, ref) < 1e-4


def test_latentsync_small(real, tmp_path):
    """whisper-small widths (768, 12 heads; 2 of 12 layers): LatentSync rows are 10 * 3 states of 768, at 25 fps."""
    model, dims = openai_model(768, 12, 2, seed=5)
    path = save_openai(model, dims, tmp_path / "small.pt")
    audio = load_audio(real / "carlini_sample.wav", 16000)
    ref = feature2chunks(openai_feature_array(audio.samples, openai_encode(model)), 25, 768)
    with pytest.raises(InputError, match="runs at 25 fps only"):  # its fps is fixed: another one is refused
        systems.get("latentsync", size="small").apply(audio, fps=30, model=str(path))
    got = systems.get("latentsync", size="small").apply(audio, model=str(path))
    assert got.values.shape == ref.shape == (systems.get("latentsync").num_frames(audio.num_samples, 25), 30, 768)
    assert max_rel(got.values, ref) < 1e-4


def test_latentsync_on_a_video_through_the_api(real, openai_tiny, tmp_path):
    """The 250-frame LatentSync demo video: 252 chunks (the system's count), saved with its sidecar."""
    _, path = openai_tiny
    out = avalign.extract(real / "latentsync_demo1.mp4", preset="latentsync", model=str(path))
    assert out.values.shape == (252, 50, 384)
    assert out.meta["preset"] == "latentsync" and out.meta["video"]["num_frames"] == 250
    assert out.meta["grid"]["rate"] == "25"
