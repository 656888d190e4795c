"""Whisper log-mel and encoder features against openai-whisper and transformers (test-only references).

Models are random-initialised with the real architectures (whisper-tiny: 384
wide, 4 layers, 6 heads; whisper-small: 768 wide, 12 heads, 2 of its 12 layers).
"""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from avalign import features
from avalign.errors import AudioTooShortError, InputError, ModelError
from avalign.features import whisper as W
from avalign.media import Audio, load_audio

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
openai_whisper = pytest.importorskip("whisper")

REAL_FILES = ["musetalk_eng.wav", "latentsync_demo1.wav", "imitator_audio1.wav", "carlini_sample.wav"]


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return W.save_random_model(tmp_path_factory.mktemp("whisper-tiny"), size="tiny", seed=0)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    return W.save_random_model(tmp_path_factory.mktemp("whisper-small"), size="small", encoder_layers=2, seed=1)


@pytest.fixture(scope="module")
def openai_tiny(tmp_path_factory):
    """An openai-whisper model of the tiny architecture (random, seeded) and its ``.pt`` checkpoint."""
    dims = openai_whisper.model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6,
                                                n_audio_layer=4, n_vocab=64, n_text_ctx=16, n_text_state=384,
                                                n_text_head=6, n_text_layer=1)
    torch.manual_seed(2)
    model = openai_whisper.model.Whisper(dims).eval()
    path = tmp_path_factory.mktemp("openai") / "tiny.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return model, path


@pytest.fixture(scope="module")
def eng(real):
    """The 60 s MuseTalk demo file at 16 kHz."""
    return load_audio(real / "musetalk_eng.wav", 16000).samples


def openai_states(model, mel: np.ndarray) -> np.ndarray:
    """openai-whisper's encoder on one ``(80, 3000)`` input: embeddings + every block output, ``(1500, L+1, d)``."""
    enc = model.encoder
    got = []
    hooks = [enc.blocks[0].register_forward_pre_hook(lambda m, args: got.append(args[0]))]
    hooks += [b.register_forward_hook(lambda m, args, out: got.append(out)) for b in enc.blocks]
    with torch.no_grad():
        enc(torch.as_tensor(mel)[None])
    for h in hooks:
        h.remove()
    return torch.stack(got, dim=2)[0].numpy()


def max_rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# -- log-mel ------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_equals_openai(real, name, n_mels):
    x = load_audio(real / name, 16000).samples
    mine = W.log_mel(x, n_mels=n_mels, scope="file")
    assert mine.shape == (len(x) // 160, n_mels)
    ref32 = openai_whisper.log_mel_spectrogram(torch.from_numpy(x), n_mels=n_mels).numpy().T
    assert ref32.shape == mine.shape
    d = np.abs(mine - ref32)
    # openai computes in float32: its rounding puts a few values in 10^4 past 1e-5 (at most ~3e-5)
    assert (d > 1e-5).mean() < 5e-4 and d.max() < 5e-5 and d.mean() < 5e-7
    # the same recipe in float64 (torch STFT, librosa filters) agrees to rounding: the gap above is float32's
    win = torch.hann_window(400, dtype=torch.float64)
    power = torch.stft(torch.from_numpy(x).double(), 400, 160, window=win, return_complex=True)[:, :-1].abs() ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels).astype(np.float64) @ power.numpy()
    ref64 = np.log10(np.maximum(mel, 1e-10))
    ref64 = ((np.maximum(ref64, ref64.max() - 8) + 4) / 4).T
    assert np.abs(mine - ref64).max() < 1e-6


@pytest.mark.parametrize("name", ["musetalk_eng.wav", "latentsync_demo1.wav"])
@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_equals_transformers_per_segment(real, name, n_mels):
    x = load_audio(real / name, 16000).samples
    fe = transformers.WhisperFeatureExtractor(feature_size=n_mels)
    mine = W.log_mel(x, n_mels=n_mels, scope="segment")
    ref, ref_np = [], []
    for s in range(0, len(x), 480000):
        seg = x[s:s + 480000]
        ref.append(fe(seg, sampling_rate=16000, return_tensors="np").input_features[0].T)
        padded = np.pad(seg, (0, 480000 - len(seg)))[None]
        ref_np.append(fe._np_extract_fbank_features(padded, "cpu")[0].T)
    ref = np.concatenate(ref)[:len(x) // 160]
    ref_np = np.concatenate(ref_np)[:len(x) // 160]
    d = np.abs(mine - ref)
    assert (d > 1e-5).mean() < 5e-4 and d.max() < 5e-5 and d.mean() < 5e-7  # its torch path is float32
    assert np.abs(mine - ref_np).max() < 1e-6  # its numpy path (float64)


def test_log_mel_scopes_differ_only_by_normalisation_and_padding(eng):
    x = eng[:16000 * 12]
    a = W.log_mel(x, scope="file")
    b = W.log_mel(x, scope="segment")
    # one segment: same STFT except the last frames (reflect vs zero padding) and the max
    raw = W.log10_mel(x)
    assert np.allclose(a, W.normalise(raw), atol=1e-6)
    padded = W.log10_mel(np.pad(x, (0, 480000 - len(x))))
    assert np.allclose(b, W.normalise(padded)[:len(x) // 160], atol=1e-6)
    assert not np.allclose(a[-1], b[-1])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=201, max_value=20000))
def test_log_mel_count(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ex = features.create("whisper-mel")
    feats = ex.extract(Audio.from_array(x, 16000))
    assert feats.values.shape == (n // 160, 80) == (ex.num_frames(n), 80)
    assert feats.grid.rate == 100 and feats.grid.t0 == 0
    seg = features.create("whisper-mel", scope="segment", n_mels=128).compute(x)
    assert seg.shape == (n // 160, 128)


def test_log_mel_errors():
    with pytest.raises(InputError):
        features.create("whisper-mel", n_mels=64)
    with pytest.raises(InputError):
        features.create("whisper-mel", scope="window")
    with pytest.raises(AudioTooShortError):
        features.create("whisper-mel").extract(Audio.from_array(np.zeros(150, np.float32), 16000))


# -- windows ------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(t=st.integers(min_value=1, max_value=12000), context=st.integers(min_value=0, max_value=700),
       long=st.sampled_from(W.LONG_MODES))
def test_windows_cover_every_frame_once(t, context, long):
    starts = W.window_starts(t, long=long, context=context)
    assert starts[0] == 0 and np.all(np.diff(starts) > 0)
    win, off = W.frame_sources(t, starts)
    assert np.array_equal(starts[win] + off, np.arange(t))
    assert np.all((off >= 0) & (off < 1500))
    # the chosen window gives the most context on the nearer side (brute force over all windows)
    j = np.arange(t)[:, None]
    margin = np.where((j >= starts) & (j < starts + 1500), np.minimum(j - starts, starts + 1499 - j), -1)
    assert np.array_equal(np.minimum(off, 1499 - off), margin.max(axis=1))
    if long == "segments":
        assert np.array_equal(win, np.arange(t) // 1500)
    elif t >= 1500:
        assert starts[-1] + 1500 == t  # the last window ends at the audio's end: no padding
        stride = 1500 - 2 * context
        assert np.all(np.diff(starts)[:-1] == stride)
        # every frame keeps at least `context` frames (or all there is) on both sides
        left, right = off, 1500 - 1 - off
        assert np.all(np.minimum(left, np.arange(t)) >= np.minimum(context, np.arange(t)))
        assert np.all(np.minimum(right, t - 1 - np.arange(t)) >= np.minimum(context, t - 1 - np.arange(t)))


# -- encoder ------------------------------------------------------------------


def test_encoder_equals_transformers(real, tiny_dir):
    x = load_audio(real / "latentsync_demo1.wav", 16000).samples  # 9.6 s: one padded input, trimmed back
    t = len(x) // 320
    assert t == int(len(x) / 16000 * 50) == 480
    fe = transformers.WhisperFeatureExtractor()
    model = transformers.WhisperModel.from_pretrained(tiny_dir).encoder.eval()
    with torch.no_grad():
        out = model(fe(x, sampling_rate=16000, return_tensors="pt").input_features, output_hidden_states=True)
    ref = torch.stack(out.hidden_states, dim=2)[0, :t].numpy()
    feats = features.create("whisper", model=str(tiny_dir), layers="all").extract(Audio.from_array(x, 16000))
    assert feats.values.shape == (t, 5, 384)
    assert max_rel(feats.values, ref) < 1e-5
    assert feats.grid.rate == 50 and feats.grid.hop == 320
    assert np.allclose(feats.grid.times()[:3], [0.0, 0.02, 0.04])  # frame j centred at 20 ms * j
    # transformers' last state is its last_hidden_state (after the final layer norm)
    assert max_rel(ref[:, -1], out.last_hidden_state[0, :t].numpy()) < 1e-6
    # the openai convention: the same states but the last is taken before the final layer norm
    pre = features.create("whisper", model=str(tiny_dir), layers="all", convention="openai").compute(x)
    assert max_rel(pre[:, :-1], ref[:, :-1]) < 1e-6
    with torch.no_grad():
        assert max_rel(model.layer_norm(torch.from_numpy(pre[:, -1])).numpy(), ref[:, -1]) < 1e-4
    assert not np.allclose(pre[:, -1], ref[:, -1], atol=1e-2)


def test_encoder_small_architecture_and_chosen_layer(small_dir):
    x = np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32) * 0.1
    model = transformers.WhisperModel.from_pretrained(small_dir).encoder.eval()
    assert model.config.d_model == 768 and model.config.encoder_attention_heads == 12
    fe = transformers.WhisperFeatureExtractor()
    with torch.no_grad():
        out = model(fe(x, sampling_rate=16000, return_tensors="pt").input_features, output_hidden_states=True)
    got = features.create("whisper", model=str(small_dir), layers=1).compute(x)
    assert got.shape == (200, 768)
    assert max_rel(got, out.hidden_states[1][0, :200].numpy()) < 1e-5


def test_openai_checkpoint_and_convention(real, openai_tiny):
    """An openai ``.pt`` maps onto transformers' encoder; the openai convention equals openai-whisper's blocks."""
    model, path = openai_tiny
    x = load_audio(real / "carlini_sample.wav", 16000).samples
    t = len(x) // 320
    mel = openai_whisper.pad_or_trim(openai_whisper.log_mel_spectrogram(torch.from_numpy(x)), 3000).numpy()
    ref = openai_states(model, mel)[:t]
    ex = features.create("whisper", model=str(path), layers="all", convention="openai", norm="file", pad="mel")
    got = ex.compute(x)
    assert got.shape == (t, 5, 384)
    assert max_rel(got, ref) < 1e-4


def test_too_short_audio(tiny_dir):
    ex = features.create("whisper", model=str(tiny_dir))
    assert ex.num_frames(319) == 0 and ex.num_frames(320) == 1
    with pytest.raises(AudioTooShortError):
        ex.extract(Audio.from_array(np.zeros(300, np.float32), 16000))


def test_encoder_errors(tmp_path):
    with pytest.raises(InputError):
        features.create("whisper", convention="hf")
    with pytest.raises(InputError):
        features.create("whisper", layers="first")
    with pytest.raises(InputError):
        features.create("whisper", context=15)
    with pytest.raises(InputError):
        features.create("whisper", long="chunks")
    assert features.create("whisper", layers="3").config.layers == 3
    x = np.zeros(16000, np.float32)
    with pytest.raises(ModelError):
        features.create("whisper", model=str(tmp_path / "missing")).compute(x)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError):
        features.create("whisper", model=str(bad)).compute(x)


# -- the 30 s seam ------------------------------------------------------------


def test_seam_overlap_beats_segments(eng, tiny_dir):
    """Frames within 1 s of the 30 s seam, against a window centred on the seam (15 s of context each side).

    Same whole-file normalisation everywhere, so only the context differs.
    """
    model = transformers.WhisperModel.from_pretrained(tiny_dir).encoder.eval()
    mel = openai_whisper.log_mel_spectrogram(torch.from_numpy(eng))  # (80, 6000), independent of avalign
    with torch.no_grad():
        ref = model(mel[None, :, 1500:4500]).last_hidden_state[0].numpy()  # encoder frames 750 .. 2249
    near = slice(1450, 1550)
    ref = ref[near.start - 750:near.stop - 750]
    common = dict(model=str(tiny_dir), norm="file", pad="mel")
    seg = features.create("whisper", long="segments", **common).compute(eng)[near]
    ovl = features.create("whisper", long="overlap", context=5.0, **common).compute(eng)[near]
    d_seg = float(np.abs(seg - ref).mean())
    d_ovl = float(np.abs(ovl - ref).mean())
    print(f"\nseam (29-31 s of musetalk_eng.wav, random whisper-tiny): mean |diff| to a seam-centred window: "
          f"segments {d_seg:.4f}, overlap {d_ovl:.4f} (ratio {d_seg / d_ovl:.1f}x)")
    assert d_ovl < d_seg
