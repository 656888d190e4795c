"""JoyVASA, Sonic, HunyuanVideo-Avatar, UniTalker and Ditto presets against their systems' loops, restated.

Each reference below restates the system's own code (read at its source; written here, not copied) on top
of the references themselves: transformers' HuBERT / WavLM / wav2vec2 and Whisper modules and feature
extractors, with random-initialised models of the real architectures (:mod:`ssl_models`,
:func:`avalign.features.whisper.save_random_model`) and real speech.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import ssl_models  # noqa: E402
import avalign  # noqa: E402
from avalign import systems  # noqa: E402
from avalign.check import check  # noqa: E402
from avalign.errors import AudioTooShortError, InputError  # noqa: E402
from avalign.explain import explain  # noqa: E402
from avalign.features import whisper as W  # noqa: E402
from avalign.media import Audio  # noqa: E402
from avalign.store import save  # noqa: E402

F = torch.nn.functional
NEW = ["joyvasa", "sonic", "hunyuan-avatar", "unitalker", "ditto"]
#: preset -> the architecture (in ssl_models.ARCHS) of its checkpoint
ARCH = {"joyvasa": "hubert-base-ls960", "ditto": "hubert-large-ls960-ft", "unitalker": "wavlm-base"}


def audio(x):
    return Audio.from_array(np.asarray(x, np.float32), sample_rate=16000)


def max_rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random whisper-tiny (the real widths, 1 of its 4 layers: 2 hidden states), transformers format."""
    return W.save_random_model(tmp_path_factory.mktemp("tiny2025"), size="tiny", encoder_layers=1, seed=7)


@pytest.fixture(scope="module")
def dirs():
    """The real architectures (1 layer), shared with the other SSL tests of the process."""
    return ssl_models.model_dirs()


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """Narrow random HuBERT base / WavLM base (same kinds and group norm, 32 wide) for the long loops."""
    root = tmp_path_factory.mktemp("narrow2025")
    return {name: ssl_models.build(name, root / name, seed=3, **ssl_models.NARROW)
            for name in ("hubert-base-ls960", "hubert-large-ls960-ft", "wavlm-base")}


def hf(d, cls="AutoModel"):
    return transformers.AutoFeatureExtractor.from_pretrained(d), getattr(transformers, cls).from_pretrained(d).eval()


# ---------------------------------------------------------------------------
# the systems' loops, restated
# ---------------------------------------------------------------------------


def joyvasa_pad_audio(a, audio_unit=320, pad_threshold=80):
    """JoyVASA src/modules/common.py pad_audio on a (1, n) tensor."""
    n_units = a.shape[1] // audio_unit
    side_len = math.ceil((audio_unit * n_units + pad_threshold - a.shape[1]) / 2)
    if side_len >= 0:
        reflect_len, replicate_len = side_len // 2, side_len % 2
        if reflect_len > 0:
            a = F.pad(a, (reflect_len, reflect_len), mode="reflect")
            a = F.pad(a, (reflect_len, reflect_len), mode="reflect")
        if replicate_len > 0:
            a = F.pad(a, (1, 1), mode="replicate")
    return a


def joyvasa_count(n, fps=25, n_motions=100):
    n = n + 1920
    clip_len = int(n / 16000 * fps)
    n_sub = 1 if clip_len <= n_motions else math.ceil(clip_len / n_motions)
    pad = round(16000. / fps * n_motions) * n_sub - n
    frames = math.ceil(pad / (16000. / fps))
    return n_sub * n_motions - (frames if pad > 0 else 0)


def joyvasa_loop(x, model, fps=25, n_motions=100, pad_mode="zero"):
    """gen_motion_sequence + DitTalkingHead.extract_audio_feature (HubertModel.forward), up to the 768 states."""
    a = F.pad(torch.from_numpy(x), (1280, 640), "constant", 0)
    clip_len = int(len(a) / 16000 * fps)
    n_sub = 1 if clip_len <= n_motions else math.ceil(clip_len / n_motions)
    unit = 16000. / fps
    n_pad = round(unit * n_motions) * n_sub - len(a)
    n_pad_frames = math.ceil(n_pad / unit)
    if n_pad > 0:
        a = F.pad(a, (0, n_pad), value=0 if pad_mode == "zero" else float(a[-1]))
    conv = model.feature_extractor

    class Resampled(torch.nn.Module):  # HubertModel.forward between feature_extractor and feature_projection
        def __init__(self, frame_num):
            super().__init__()
            self.conv, self.frame_num = conv, frame_num

        def forward(self, v):
            f = self.conv(v)[:, :, :round(self.frame_num * 50 / fps)]
            return F.interpolate(f, size=self.frame_num, align_corners=False, mode="linear")

    out = []
    for i in range(n_sub):
        a_in = a[round(i * n_motions * unit):round((i + 1) * n_motions * unit)].unsqueeze(0)
        model.feature_extractor = Resampled(n_motions * 2)
        with torch.no_grad():
            h = model(joyvasa_pad_audio(a_in)).last_hidden_state
        model.feature_extractor = conv
        h = F.interpolate(h.transpose(1, 2), size=n_motions, align_corners=False, mode="linear").transpose(1, 2)
        if i == n_sub - 1 and n_pad_frames > 0:
            h = h[:, :-n_pad_frames]
        out.append(h[0])
    return torch.cat(out).numpy()


def sonic_mel(x, fe):
    """get_audio_feature (Sonic, HunyuanVideo-Avatar): 750*640-sample windows through the feature extractor."""
    feats = [fe(x[i:i + 750 * 640], sampling_rate=16000, return_tensors="pt").input_features
             for i in range(0, len(x), 750 * 640)]
    return torch.cat(feats, dim=-1), len(x) // 640


def sonic_loop(x, fe, encoder, step=2, limit=10000):
    """Sonic sonic.py test(): (audio2token clips, audio2bucket clips)."""
    mel, audio_len = sonic_mel(x, fe)
    audio_len = min(limit, audio_len)
    prompts, last = [], []
    with torch.no_grad():
        for i in range(0, mel.shape[-1], 3000):
            out = encoder(mel[:, :, i:i + 3000], output_hidden_states=True)  # Sonic calls it twice: same values
            prompts.append(torch.stack(out.hidden_states, dim=2))
            last.append(out.last_hidden_state.unsqueeze(-2))
    p = torch.cat(prompts, dim=1)[:, :audio_len * 2]
    p = torch.cat([torch.zeros_like(p[:, :4]), p, torch.zeros_like(p[:, :6])], 1)
    q = torch.cat(last, dim=1)[:, :audio_len * 2]
    q = torch.cat([torch.zeros_like(q[:, :24]), q, torch.zeros_like(q[:, :26])], 1)
    clips = [p[:, i * 2 * step:i * 2 * step + 10] for i in range(audio_len // step)]
    buckets = [q[:, i * 2 * step:i * 2 * step + 50] for i in range(audio_len // step)]
    return torch.cat(clips).numpy(), torch.cat(buckets)[:, :, 0].numpy()


def hunyuan_loop(x, fe, encoder, fps):
    """get_audio_feature (stored as float16) + encode_audio(num_frames=audio_len)."""
    mel, num_frames = sonic_mel(x, fe)
    mel = mel[0].to(torch.float16).to(torch.float32)
    step = {25: 1, 12.5: 2}[fps]
    num_frames = min(num_frames, 400)
    with torch.no_grad():
        h = encoder(mel.unsqueeze(0)[:, :, :3000], output_hidden_states=True).hidden_states
    h = torch.stack(h, dim=2)
    h = torch.cat([torch.zeros_like(h[:, :4]), h], 1)
    clips = [h[0:1, f * step * 2:f * step * 2 + 10] for f in range(num_frames)]
    return torch.stack(clips, 1)[0].numpy()


def unitalker_loop(x, fe, model, fps):
    """main/demo.py: processor, split_long_audio, UniTalker.forward's encoder (interpolate_pos 1), merge_out_list."""
    x = np.squeeze(fe(x, sampling_rate=16000).input_values)
    a, b, sr = 25, 5, 16000
    reps = max(0, int(np.ceil((len(x) / sr - a) / (a - b)))) + 1
    start, end, step = 0, int(a * sr), int((a - b) * sr)
    outs = []
    for _ in range(reps):
        split = np.squeeze(fe(x[start:end], sampling_rate=sr).input_values)
        frame_num = round(split.shape[-1] / 16000 * fps)
        with torch.no_grad():
            h = model(torch.Tensor(split[None])).last_hidden_state
        outs.append(F.interpolate(h.transpose(1, 2), size=frame_num, align_corners=True, mode="linear")
                    .transpose(1, 2)[0].numpy())
        start += step
        end += step
    if len(outs) == 1:
        return outs[0]
    left = np.linspace(1, 0, b * fps)[:, np.newaxis]
    a, b = a * fps, b * fps
    offset = a - b
    merged = np.empty((len(outs[-1]) + offset * (len(outs) - 1), outs[-1].shape[-1]), outs[-1].dtype)
    merged[:a] = outs[0]
    for piece in outs[1:]:
        merged[a - b:a] = left * merged[a - b:a] + (1 - left) * piece[:b]
        merged[a:a + offset] = piece[b:]
        a += offset
    return merged


def ditto_loop(x, model, chunksize=(3, 5, 2)):
    """Wav2FeatHubert.wav2feat (offline), the ONNX HuBERT stood in by transformers' on each raw chunk."""
    num_f = math.ceil(len(x) / 16000 * 25)
    split_len = int(sum(chunksize) * 0.04 * 16000) + 80
    pad = np.concatenate([np.zeros((split_len - int(sum(chunksize[1:]) * 0.04 * 16000),), x.dtype), x,
                          np.zeros((split_len,), x.dtype)])
    i, res = 0, []
    while i < num_f:
        s = int(i * 0.04 * 16000)
        with torch.no_grad():
            enc = model(torch.from_numpy(pad[s:s + split_len])[None]).last_hidden_state[0].numpy()
        valid = enc[-sum(chunksize[1:]) * 2:-chunksize[2] * 2]
        res.append(valid.reshape(chunksize[1], 2, valid.shape[-1]).mean(1))
        i += chunksize[1]
    return np.concatenate(res, 0)[:num_f]


# ---------------------------------------------------------------------------
# counts: formulas over many lengths, then the produced arrays
# ---------------------------------------------------------------------------


def hunyuan(fps):
    """The preset bound to the rate the system is given (its option ``rate``)."""
    return systems.get("hunyuan-avatar", rate="12.5" if float(fps) == 12.5 else "25")


def test_ten_second_counts_and_registry():
    n = 160000
    assert systems.get("joyvasa").num_frames(n) == 253  # 1920 padding samples make 3 more frames
    assert systems.get("sonic").num_frames(n) == 125  # at 12.5 fps
    assert hunyuan(25).num_frames(n) == hunyuan(12.5).num_frames(n) == 250
    assert hunyuan(25).num_frames(2 * n) == 400 and hunyuan(12.5).fixed_fps == Fraction(25, 2)
    assert systems.get("unitalker").num_frames(n) == 300 and systems.get("unitalker", dataset="D0").num_frames(n) == 250
    assert systems.get("ditto").num_frames(n) == 250
    names = avalign.presets()
    assert names[-5:] == NEW  # registered at the end of the registry
    for name in NEW:
        p = systems.get(name)
        assert p.needs_model and p.default_model and p.rule and p.shape and p.describe()["needs_model"]
    assert systems.get("joyvasa").default_model == "TencentGameMate/chinese-hubert-base"
    assert systems.get("joyvasa", audio_model="hubert").default_model == "facebook/hubert-base-ls960"
    assert systems.get("unitalker", encoder="wav2vec2-large-xlsr-53").default_model == "facebook/wav2vec2-large-xlsr-53"
    assert systems.get("unitalker").fixed_fps == 30 and systems.get("unitalker", dataset="D0").fixed_fps == 25
    assert systems.get("sonic").fixed_fps == Fraction(25, 2)


def unitalker_count(n, fps):
    total = n / 16000
    reps = max(0, int(np.ceil((total - 25) / 20))) + 1
    last = n - 320000 * (reps - 1)
    return round(last / 16000 * fps) + (reps - 1) * 20 * fps


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=640, max_value=16000 * 600))
def test_count_formulas_many_lengths(n):
    assert systems.get("joyvasa").num_frames(n) == joyvasa_count(n)
    if n // 640 >= 11:
        assert systems.get("sonic").num_frames(n) == min(n // 640, 10000) // 2
    else:  # the system fails: its motion-bucket windows come out shorter than 50 states
        with pytest.raises(AudioTooShortError):
            systems.get("sonic").num_frames(n)
    assert hunyuan(25).num_frames(n) == min(n // 640, 400)
    if n // 640 <= 374:  # at 12.5 fps the system reads past its 1504 states from frame 375 on
        assert hunyuan(12.5).num_frames(n) == n // 640
    else:
        with pytest.raises(InputError, match="at most 374 frames"):
            hunyuan(12.5).num_frames(n)
    for dataset, fps in (("D0", 25), ("D3", 30)):
        assert systems.get("unitalker", dataset=dataset).num_frames(n) == unitalker_count(n, fps)
    assert systems.get("ditto").num_frames(n) == math.ceil(n / 16000 * 25)


def test_refusals_and_the_cut_report():
    h = systems.get("hunyuan-avatar")
    with pytest.raises(InputError, match="runs at 25 fps only"):  # the rate is the option's, not the video's
        h.resolve_fps(30)
    with pytest.raises(InputError):
        systems.get("hunyuan-avatar", rate="30")
    with pytest.raises(InputError, match="at most 400 frames"):
        systems.get("hunyuan-avatar", over="refuse").num_frames(16000 * 17, 25)
    assert systems.get("hunyuan-avatar", over="refuse").num_frames(16000 * 16, 25) == 400
    with pytest.raises(InputError, match="runs at 25/2 fps only"):
        systems.get("sonic").resolve_fps(25)
    with pytest.raises(InputError, match="runs at 30 fps only"):
        systems.get("unitalker").resolve_fps(25)
    with pytest.raises(InputError):
        systems.get("unitalker", dataset="D9")
    with pytest.raises(AudioTooShortError):
        systems.get("sonic").apply(audio(np.zeros(7039)), model="/nonexistent")  # refused before any model loads
    with pytest.raises(AudioTooShortError):
        h.apply(audio(np.zeros(600)), fps=25, model="/nonexistent")
    # what HunyuanVideo-Avatar cuts is in the array's metadata (the sidecar's "align")
    req = h.request(16000 * 40, 25)
    assert h.report(h.request(16000 * 10, 25)) == {}
    cut = h.report(req)["cut"]
    assert cut["frames"] == {"asked": 1000, "kept": 400, "dropped": 600, "rule": "at most 400 frames (encode_audio)"}
    assert cut["audio"]["encoder_seconds"] == 30.0 and cut["audio"]["dropped_seconds"] == pytest.approx(10.0)


COUNTS = {"joyvasa": joyvasa_count, "ditto": lambda n: math.ceil(n / 16000 * 25),
          "unitalker": lambda n: unitalker_count(n, 30)}


@pytest.mark.parametrize("name,arch", [("joyvasa", "hubert-base-ls960"), ("ditto", "hubert-large-ls960-ft"),
                                       ("unitalker", "wavlm-base")])
def test_ssl_rows_equal_the_formula_over_lengths(name, arch, narrow):
    p = systems.get(name)

    @settings(max_examples=6, deadline=None, derandomize=True)
    @given(st.integers(min_value=400, max_value=16000 * 9))
    def run(n):
        out = p.apply(audio(ssl_models.speech(n / 16000, offset=5)), model=str(narrow[arch]))
        assert out.values.shape == (COUNTS[name](n), 32) and out.values.shape[0] == p.num_frames(n)
        assert out.spans.shape == (out.values.shape[0], 2) and np.all(out.spans[:, 1] > out.spans[:, 0])
        assert np.all(np.diff(out.spans[:, 0]) >= 0)

    run()


def sonic_arrange(states, n):
    """Sonic's windows (both streams) on given states ``(T, K, d)``, as test() builds them."""
    audio_len = min(10000, n // 640)
    p = states[:audio_len * 2]
    p = np.concatenate([np.zeros_like(p[:4]), p, np.zeros_like(p[:6])])
    q = states[:audio_len * 2, -1]
    q = np.concatenate([np.zeros_like(q[:24]), q, np.zeros_like(q[:26])])
    return (np.stack([p[i * 4:i * 4 + 10] for i in range(audio_len // 2)]),
            np.stack([q[i * 4:i * 4 + 50] for i in range(audio_len // 2)]))


def hunyuan_arrange(states, n, fps):
    step = {25: 1, 12.5: 2}[fps]
    h = np.concatenate([np.zeros_like(states[:4]), states])
    return np.stack([h[f * step * 2:f * step * 2 + 10] for f in range(min(n // 640, 400))])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=7040, max_value=16000 * 40), fps=st.sampled_from([25, 12.5]))
def test_whisper_rows_equal_the_loops_on_any_states(n, fps):
    """Rows == the formula and values == the restated windows, on random states (the layouts alone)."""
    rng = np.random.default_rng(n)
    states = rng.standard_normal((n // 320, 3, 4)).astype(np.float32)
    clips, buckets = sonic_arrange(states, n)
    got = systems.get("sonic").arrange(states, n)
    assert got.shape == clips.shape == (systems.get("sonic").num_frames(n), 10, 3, 4)
    assert np.array_equal(got, clips)
    assert np.array_equal(systems.get("sonic", stream="bucket").arrange(states, n), buckets)
    first = rng.standard_normal((1500, 3, 4)).astype(np.float32)
    h = hunyuan(fps)
    if fps == 12.5 and n // 640 > 374:
        with pytest.raises(InputError):
            h.arrange(first, n)
        return
    got = h.arrange(first, n)
    assert got.shape == (h.num_frames(n), 10, 3, 4) and np.array_equal(got, hunyuan_arrange(first, n, fps))


def test_spans_follow_the_systems_windows():
    i = np.arange(253)
    src = systems.get("joyvasa").sources(160000)
    # frame k = mean of conv frames 2j, 2j+1 of window k // 100, after 1280 zeros and a 40-sample reflect pad
    assert np.array_equal(src, np.stack([640 * i - 1320, 640 * i - 600], 1))
    src = systems.get("ditto").sources(160000)
    assert np.array_equal(src, np.stack([640 * i[:250] - 80, 640 * i[:250] + 640], 1))
    src = systems.get("sonic").sources(160000)  # states [4i-4, 4i+6) of a 50 Hz encoder (+-520 samples)
    assert src[0].tolist() == [320 * -4 - 520, 320 * 5 + 520] and src[-1].tolist() == [320 * 492 - 520, 320 * 501 + 520]
    assert systems.get("sonic", stream="bucket").sources(160000)[0].tolist() == [320 * -24 - 520, 320 * 25 + 520]
    src = hunyuan(12.5).sources(160000)
    assert src[1].tolist() == [320 * 0 - 520, 320 * 9 + 520]  # frame 1 at 12.5 fps: states [0, 10)
    # UniTalker beyond 25 s: rows of the cross-fade read both splits
    u = systems.get("unitalker").sources(16000 * 60)
    assert u.shape == (1800, 2) and u[0].tolist() == [0, 400] and u[-1].tolist() == [320 * 2998, 320 * 2998 + 400]
    # row 700 (23.3 s) lies in the cross-fade of splits 0 and 1: it reads conv frames of both (split 1 from 20 s)
    t0, t1 = 1249, 1249  # conv frames of a 25 s split
    first = 320 * math.floor(700 * t0 / 749)
    last = 320 * (1000 + math.ceil((700 - 600) * t1 / 749)) + 400
    assert u[700].tolist() == [min(first, 320 * (1000 + math.floor(100 * t1 / 749))), last]


# ---------------------------------------------------------------------------
# values: the systems' loops, on real speech
# ---------------------------------------------------------------------------


def test_joyvasa_equals_its_loop(dirs, narrow):
    """One 4 s window on the real HuBERT-base architecture; 8.7 s (three windows, both pad modes) on a narrow one."""
    x = ssl_models.speech(2.3, offset=4)
    _, model = hf(dirs["hubert-base-ls960"])
    ref = joyvasa_loop(x, model)
    got = systems.get("joyvasa").apply(audio(x), model=str(dirs["hubert-base-ls960"])).values
    assert got.shape == ref.shape == (joyvasa_count(len(x)), 768) == (60, 768)
    assert max_rel(got, ref) < 1e-5
    x = ssl_models.speech(8.7, offset=4)
    _, model = hf(narrow["hubert-base-ls960"])
    for pad_mode in ("zero", "replicate"):
        ref = joyvasa_loop(x, model, pad_mode=pad_mode)
        got = systems.get("joyvasa", pad_mode=pad_mode).apply(audio(x), model=str(narrow["hubert-base-ls960"])).values
        assert got.shape == ref.shape == (220, 32)
        assert max_rel(got, ref) < 1e-5


def test_ditto_equals_its_offline_loop(dirs):
    x = ssl_models.speech(0.57, offset=21)
    _, model = hf(dirs["hubert-large-ls960-ft"])
    ref = ditto_loop(x, model)
    got = systems.get("ditto").apply(audio(x), model=str(dirs["hubert-large-ls960-ft"])).values
    assert got.shape == ref.shape == (math.ceil(len(x) / 16000 * 25), 1024) == (15, 1024)
    assert max_rel(got, ref) < 1e-5


def test_unitalker_equals_its_demo(dirs, narrow):
    """WavLM base (D1, 30 fps) and XLSR-53 (D0, 25 fps) on short speech; 47 s (three splits, the cross-fade)
    on a narrow WavLM."""
    for arch, options, fps, seconds in (("wavlm-base", {}, 30, 1.03),
                                        ("wav2vec2-large-lv60", dict(encoder="wav2vec2-large-xlsr-53", dataset="D0"),
                                         25, 0.61)):
        y = ssl_models.speech(seconds, offset=30)
        fe, model = hf(dirs[arch])
        ref = unitalker_loop(y, fe, model, fps)
        got = systems.get("unitalker", **options).apply(audio(y), model=str(dirs[arch]))
        assert got.values.shape == ref.shape == (round(len(y) / 16000 * fps), 768 if fps == 30 else 1024)
        assert got.grid.rate == fps and max_rel(got.values, ref) < 1e-5
    x = ssl_models.speech(47.0, offset=1)
    fe, model = hf(narrow["wavlm-base"])
    ref = unitalker_loop(x, fe, model, 30)
    got = systems.get("unitalker").apply(audio(x), model=str(narrow["wavlm-base"])).values
    assert got.shape == ref.shape == (1410, 32)
    assert max_rel(got, ref) < 1e-5


def test_sonic_equals_its_loop_on_33s(tiny):
    """Two 30 s windows, the audio2token stream (the bucket stream's windows are checked on any states above)."""
    x = ssl_models.speech(33.3, offset=2)
    fe = transformers.WhisperFeatureExtractor()
    encoder = transformers.WhisperModel.from_pretrained(tiny).encoder.eval()
    clips, _ = sonic_loop(x, fe, encoder)
    got = systems.get("sonic").apply(audio(x), model=str(tiny))
    assert got.values.shape == clips.shape == ((len(x) // 640) // 2, 10, 2, 384)
    assert max_rel(got.values, clips) < 1e-4


def test_hunyuan_avatar_equals_its_loop(tiny):
    """17 s at 25 fps: 400 of 425 frames kept, the float16 log-mel, the cut in the metadata."""
    fe = transformers.WhisperFeatureExtractor()
    encoder = transformers.WhisperModel.from_pretrained(tiny).encoder.eval()
    x = ssl_models.speech(17.0, offset=3)
    ref = hunyuan_loop(x, fe, encoder, 25)
    out = avalign.extract(audio(x), preset="hunyuan-avatar", fps=25, model=str(tiny))
    assert out.values.shape == ref.shape == (400, 10, 2, 384)
    assert max_rel(out.values, ref) < 1e-4
    assert out.meta["align"]["cut"]["frames"] == {"asked": 425, "kept": 400, "dropped": 25,
                                                  "rule": "at most 400 frames (encode_audio)"}


# ---------------------------------------------------------------------------
# explain, check and the sidecar
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_explain_and_check(name, real, tmp_path, capsys):
    from avalign.cli import main

    p = systems.get(name)
    f = p.fixed_fps or 25
    ex = explain(name, duration=10, fps=f)
    assert ex.rows == p.num_frames(160000, f) and ex.rule == p.rule
    assert main(["explain", "--preset", name, "--duration", "10"] + ([] if p.fixed_fps else ["--fps", "25"])) == 0
    assert f"-> {ex.rows} rows" in capsys.readouterr().out
    # a file of the preset's rows for a real video passes check; one row more is caught
    video = real / "latentsync_demo1.mp4"
    from avalign.pipeline import decode

    n = decode(video, p)[0].num_samples
    rows = p.num_frames(n, f)
    shape = {"sonic": (10, 5, 384), "hunyuan-avatar": (10, 5, 384), "ditto": (1024,)}.get(name, (768,))
    np.save(tmp_path / "ok.npy", np.zeros((rows,) + shape, np.float32))
    np.save(tmp_path / "long.npy", np.zeros((rows + 1,) + shape, np.float32))
    assert check(video, tmp_path / "ok.npy", preset=name).ok
    bad = check(video, tmp_path / "long.npy", preset=name)
    assert not bad.ok and bad.reasons[0] == f"one row long: {rows + 1} rows where preset {name}'s rule gives {rows}"
