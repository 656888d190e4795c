"""Presets of the 2024-2025 systems (hallo2, memo, infinitetalk, multitalk, echomimic-v3, float) and the
Chinese / XLS-R encoders: counts against the arrays, values against the systems' loops restated here."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
pyln = pytest.importorskip("pyloudnorm")

import ssl_models  # noqa: E402
from avalign import systems  # noqa: E402
from avalign.media import Audio  # noqa: E402
from avalign.systems.gen2024 import hallo2_segments  # noqa: E402
from helpers.real import real_file  # noqa: E402

NAMES = ["hallo2", "memo", "infinitetalk", "multitalk", "echomimic-v3", "float"]
ARCH = {"hallo2": "wav2vec2-base-960h", "memo": "wav2vec2-base-960h", "float": "wav2vec2-base-960h",
        "infinitetalk": "chinese-wav2vec2-base", "multitalk": "chinese-wav2vec2-base",
        "echomimic-v3": "chinese-wav2vec2-base"}


@pytest.fixture(scope="module")
def models():
    """One small random model per architecture (1 layer), with the system's processor and model loaded."""
    out = {}
    for arch in set(ARCH.values()):
        d = ssl_models.model_dirs()[arch]
        out[arch] = (str(d), tf.Wav2Vec2FeatureExtractor.from_pretrained(d), tf.Wav2Vec2Model.from_pretrained(d).eval())
    return out


def run(name, x, models, **opts):
    fps = opts.pop("fps", 25)
    p = systems.get(name, **opts)
    fps = None if p.fixed_fps else fps
    return p.apply(p.reader.convert(Audio.from_array(x, 16000)), fps=fps, model=models[ARCH[name]][0]).values


# -- the systems' code, restated ----------------------------------------------------------


def encoder(model, input_values, seq_len):
    """Their Wav2Vec2Model.forward: conv features, linear_interpolation(align_corners=True) to seq_len, then
    projection and transformer; torch.stack(hidden_states[1:], dim=1) -> [seq_len, layers, 768]."""
    x = torch.as_tensor(np.asarray(input_values, np.float32))[None]
    enc = ssl_models.stretched_forward(model, x, seq_len, output_hidden_states=True)
    return torch.stack(enc.hidden_states[1:], dim=1).squeeze(0).permute(1, 0, 2).numpy()


def around(emb):
    """process_audio_emb / the Wan index windows: row i = emb[clamp(i + j)] for j in -2..2."""
    return np.stack([np.stack([emb[max(min(i + j, len(emb) - 1), 0)] for j in range(-2, 3)])
                     for i in range(len(emb))])


def hallo2_reference(x, fe, model, fps=25, clip=16):
    """inference_long.py (use_cut) + AudioProcessor.preprocess, without the vocal separation."""
    seg = 60 * 16000
    num = len(x) // seg + (1 if len(x) % seg else 0)
    embs, done = [], 0
    for i in range(num):
        part = x[i * seg:min((i + 1) * seg, len(x))]
        feat = np.squeeze(fe(part, sampling_rate=16000).input_values)
        seq_len = math.ceil(len(feat) / 16000 * fps)
        length = seq_len
        if i + 1 == num and seq_len % clip != 0:
            all_len = seq_len + done
            feat = np.pad(feat, (0, (clip - all_len % clip) * (16000 // fps)))
            seq_len += clip - all_len % clip
        embs.append(encoder(model, feat, seq_len))
        done += length
    return around(np.concatenate(embs))


def memo_reference(x, fe, model, fps=30, clip=16):
    feat = np.squeeze(fe(x, sampling_rate=16000).input_values)
    n = math.ceil(len(feat) / 16000 * fps)
    if n % clip != 0:
        feat = np.pad(feat, (0, (clip - n % clip) * (16000 // fps)))
        n += clip - n % clip
    return around(encoder(model, feat, n))


def loudness_norm(x, sr=16000, lufs=-23):
    import warnings

    loud = pyln.Meter(sr).integrated_loudness(x)
    if abs(loud) > 100:
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyln.normalize.loudness(x, loud, lufs)


def wan_reference(x, fe, model, *, frame_num=81, motion_frame=9, max_frames=1000, mode="clip", multitalk=False):
    """get_embedding + the clip loop of wan/multitalk.py (index windows, flip extension, final cut)."""
    x = loudness_norm(x)
    feat = np.squeeze(fe(x, sampling_rate=16000).input_values)
    full = encoder(model, feat.astype(np.float32), int(len(x) / 16000 * 25))
    n_full = len(full)
    if n_full <= frame_num:
        return None
    max_frames = frame_num if mode == "clip" else max_frames
    indices = np.arange(5) - 2
    start, end, first, gen, done, miss = 0, frame_num, True, [], False, [0]
    while True:
        centre = np.clip(np.arange(start, end)[:, None] + indices[None], 0, len(full) - 1)
        rows = full[centre]
        gen.append(rows if first else rows[motion_frame:])
        if done:
            break
        first = False
        start += frame_num - motion_frame
        end = start + frame_num
        if end >= min(max_frames, len(full)):
            done = True
            if end >= len(full):
                m = end - len(full) + 3
                full = np.concatenate([full, full[-m:][::-1]])
                miss = [m]
        if max_frames <= frame_num:
            break
    out = np.concatenate(gen)[:max_frames]
    if max_frames > frame_num and sum(miss) > 0:
        out = out[:-miss[0]] if multitalk else out[:n_full]
    return out


def echomimic_v3_reference(x, fe, model, video_length=81, fps=25):
    v = min(int(len(x) / 16000 * fps), video_length)
    v = int((v - 1) // 4 * 4) + 1 if v != 1 else 1
    x = loudness_norm(x)[:int(v / 25 * 16000)]
    emb = encoder(model, np.squeeze(fe(x, sampling_rate=16000).input_values), v)
    centre = np.clip(np.arange(v)[:, None] + (np.arange(5) - 2)[None], 0, len(emb) - 1)
    return emb[centre]


def float_reference(x, fe, model, fps):
    a = torch.as_tensor(fe(x, sampling_rate=16000, return_tensors="pt").input_values[0])[None]
    t = math.ceil(a.shape[-1] * fps / 16000)
    want = int(t * 16000 / fps)
    if a.shape[1] % want != 0:
        a = torch.nn.functional.pad(a, (0, want - a.shape[1]), mode="replicate")
    return encoder(model, a[0].numpy(), t)


REFERENCE = {"hallo2": hallo2_reference, "memo": memo_reference, "echomimic-v3": echomimic_v3_reference,
             "infinitetalk": wan_reference, "multitalk": lambda *a, **k: wan_reference(*a, multitalk=True, **k)}


# -- values --------------------------------------------------------------------------------


#: short clips: InfiniteTalk / MultiTalk with 13-frame (4*3+1) clips so that 0.7 s of audio is enough
SHORT = {"infinitetalk": dict(frame_num=13), "multitalk": dict(frame_num=13, motion_frame=5)}


@pytest.mark.parametrize("name,seconds,offset", [("hallo2", 0.77, 4), ("memo", 0.61, 9), ("echomimic-v3", 0.7, 20),
                                                 ("infinitetalk", 0.7, 30), ("multitalk", 0.66, 41)])
def test_values_equal_the_systems_loops_on_real_speech(name, seconds, offset, models):
    x = ssl_models.speech(seconds, offset=offset)
    _, fe, model = models[ARCH[name]]
    ref = REFERENCE[name](x, fe, model, **SHORT.get(name, {}))
    ours = run(name, x, models, **SHORT.get(name, {}))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5)


@pytest.mark.parametrize("name,cut", [("infinitetalk", "audio"), ("multitalk", "miss")])
def test_wan_streaming_clips_flip_tail_and_cut(name, cut, models):
    """Streaming with short clips (13 = 4*3+1 frames, 5 carried over): many clips, the flipped tail, the cut."""
    x = ssl_models.speech(1.2, offset=50)
    _, fe, model = models[ARCH[name]]
    opts = dict(mode="streaming", frame_num=13, motion_frame=5)
    ref = wan_reference(x, fe, model, multitalk=cut == "miss", **opts)
    ours = run(name, x, models, **opts)
    assert ours.shape == ref.shape == ((30 if cut == "audio" else 27), 5, 1, 768)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5)
    if cut == "audio":  # row N-1 reaches N and N+1: the flipped tail gives rows N-1 and N-2 (a clamp: N-1 twice)
        np.testing.assert_array_equal(ours[-1, 3], ours[-1, 2])
        np.testing.assert_array_equal(ours[-1, 4], ours[-1, 1])
        assert not np.array_equal(ours[-1, 4], ours[-1, 2])


@pytest.mark.parametrize("fps", [25, Fraction(30000, 1001)])
def test_float_values_and_fps(fps, models):
    x = ssl_models.speech(0.53, offset=15)
    _, fe, model = models[ARCH["float"]]
    ref = float_reference(x, fe, model, float(fps))
    ours = run("float", x, models, fps=fps)
    assert ours.shape == ref.shape == (math.ceil(len(x) * float(fps) / 16000), 1, 768)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5)


# -- counts --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=400, max_value=2_000_000))
def test_count_formulas_over_many_lengths(n):
    assert systems.get("memo").num_frames(n) == math.ceil(math.ceil(n / 16000 * 30) / 16) * 16
    segs = hallo2_segments(n)
    assert sum(b - a for a, b, _, _ in segs) == n and all(b - a <= 960000 for a, b, _, _ in segs)
    total = systems.get("hallo2").num_frames(n)
    assert total >= sum(math.ceil((b - a) / 16000 * 25) for a, b, _, _ in segs)
    if math.ceil((segs[-1][1] - segs[-1][0]) / 16000 * 25) % 16:
        assert total % 16 == 0  # padded to whole clips when the last segment is not
    v = systems.get("echomimic-v3").num_frames(n)
    assert v == 0 or (v % 4 == 1 and v <= min(int(n / 16000 * 25), 81))
    for fps in (25, Fraction(30000, 1001)):
        assert systems.get("float").num_frames(n, fps) == math.ceil(n * float(fps) / 16000)
    big = systems.get("infinitetalk", mode="streaming")
    n_frames = int(n / 16000 * 25)
    assert big.num_frames(n) == (0 if n_frames <= 81 else min(n_frames, 1000))
    assert systems.get("infinitetalk").num_frames(n) == (0 if n_frames <= 81 else 81)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=14, max_value=3000), st.sampled_from([(13, 5), (81, 9), (81, 25), (21, 1)]),
       st.sampled_from([1000, 200]))
def test_wan_streaming_count_equals_the_loop(n_frames, clip, max_frames):
    """The count rule against the clip loop restated above, on an embedding of n_frames rows (no model)."""
    from avalign.systems.gen2024 import wan_rows

    frame_num, motion = clip
    for multitalk in (False, True):
        got = wan_rows(n_frames, mode="streaming", frame_num=frame_num, motion_frame=motion, max_frames=max_frames,
                       cut="miss" if multitalk else "audio")
        model_free = _loop_rows(n_frames, frame_num, motion, max_frames, multitalk)
        assert got == max(model_free, 0)
        clip_mode = wan_rows(n_frames, mode="clip", frame_num=frame_num, motion_frame=motion, max_frames=max_frames,
                             cut="miss" if multitalk else "audio")
        assert clip_mode == _loop_rows(n_frames, frame_num, motion, frame_num, multitalk)


def _loop_rows(n_full, frame_num, motion, max_frames, multitalk):
    if n_full <= frame_num:
        return 0
    start, end, first, total, done, miss, length = 0, frame_num, True, 0, False, [0], n_full
    while True:
        total += frame_num if first else frame_num - motion
        if done:
            break
        first = False
        start += frame_num - motion
        end = start + frame_num
        if end >= min(max_frames, length):
            done = True
            if end >= length:
                miss = [end - length + 3]
                length = end + 3
        if max_frames <= frame_num:
            break
    total = min(total, max_frames)
    if max_frames > frame_num and sum(miss) > 0:
        total = total - miss[0] if multitalk else min(total, n_full)
    return total


@pytest.mark.parametrize("name", NAMES)
def test_produced_arrays_follow_the_count(name, models):
    p = systems.get(name)
    p = systems.get(name, **SHORT.get(name, {}))

    @settings(max_examples=2, deadline=None, derandomize=True)
    @given(st.floats(min_value=0.6, max_value=1.0))
    def check(seconds):
        x = ssl_models.speech(seconds, offset=25)
        fps = p.fixed_fps or Fraction(30000, 1001)
        out = run(name, x, models, **SHORT.get(name, {}), **({} if p.fixed_fps else {"fps": fps}))
        assert out.shape[0] == p.num_frames(len(x), fps) > 0
        assert out.shape[-2:] == (1, 768)  # 1 layer in the test models (12 in the real ones)
        src = p.sources(len(x), fps)
        assert src.shape == (out.shape[0], 2) and np.all(src[:, 1] > src[:, 0])

    check()


def _embedding_spans(p, n, fps=None):
    """Samples behind each stretched embedding row (before the [i-2, i+2] windows), ``(rows, 2)``."""
    req = p.request(n, fps)
    return p.feature.span(*p.feature.positions(np.arange(req.rows), req))


def test_sources_of_echomimic_v3_stay_inside_the_cut_audio():
    """10 s: V = 81 rows, the audio cut to int(81/25*16000) = 51840 samples (161 conv frames, row i at frame 2i);
    nothing past the cut is read."""
    src = systems.get("echomimic-v3").sources(160000)
    assert src.shape == (81, 2) and src.min() >= 0 and src.max() <= 51840
    assert src[80].tolist() == [156 * 320, 160 * 320 + 400]  # rows 78..80 (clamped): conv frames 156..160


def test_sources_of_hallo2_follow_its_60_s_segments():
    """61 s: segment 1 is rows 0..1499 (2999 conv frames), segment 2 starts at sample 960000 (conv frame 3000)
    with its own stretch; its last rows are the zero padding after the audio (1525 -> 1536 rows)."""
    p, n = systems.get("hallo2"), 976000
    emb = _embedding_spans(p, n)
    assert emb.shape == (1536, 2)
    assert emb[1499].tolist() == [2998 * 320, 2998 * 320 + 400]  # segment 1's last conv frame
    assert emb[1500].tolist() == [960000, 960400]  # segment 2's first row: its own first conv frame
    src = p.sources(n)
    assert src[1502, 0] == 960000 and src[1500, 0] < 960000 < src[1500, 1]  # row 1500's window reaches back 2 rows
    assert np.all(emb[1525:, 1] > n) and n < src[-1, 1] <= n + 11 * 640  # the 11 padded rows: past the end


@pytest.mark.parametrize("name,n,fps,real,clean", [("memo", 16000, 30, 30, 25600), ("memo", 9777, 30, 19, 25600),
                                                  ("float", 16100, 25, 25, 16000),
                                                  ("float", 9777, Fraction(30000, 1001), 18, 16000)])
def test_sources_of_padded_rows_lie_past_the_audio(name, n, fps, real, clean):
    """memo zero-pads to whole 16-frame clips, float replicate-pads to int(T*16000/fps) samples: the rows from
    ``real`` on are stretched from the padding and reach past the audio (explain's "after the end"), the last
    one (nearly) wholly in it. ``clean`` samples need no padding (48 frames at 30 fps, 25 at 25): all inside."""
    from avalign.explain import explain

    p = systems.get(name)
    emb = _embedding_spans(p, n, fps)
    assert np.all(emb[real:, 1] > n) and emb[-1, 0] >= n - 320
    if name == "memo":
        assert emb.shape[0] % 16 == 0 and emb[-1, 0] >= n  # whole clips; the last row reads zeros only
    ex = explain(p, n_samples=n, fps=fps)
    assert ex.row(-1).pad_after > 0 and ex.padded_rows() >= emb.shape[0] - real
    assert p.sources(clean, fps if name == "memo" else 25).max() <= clean

def test_registered_with_models_and_refusals():
    for name in NAMES:
        p = systems.get(name)
        assert p.needs_model and p.default_model and p.rule and p.shape and name in systems.names()
    assert systems.get("infinitetalk").default_model == "TencentGameMate/chinese-wav2vec2-base"
    assert systems.get("hallo2").default_model == "facebook/wav2vec2-base-960h"
    from avalign.errors import InputError

    with pytest.raises(InputError, match="4k\\+1"):
        systems.get("infinitetalk", frame_num=80).num_frames(160000)
    with pytest.raises(InputError, match="runs at 25 fps only"):
        systems.get("echomimic-v3").resolve_fps(30)


# -- Chinese and multilingual encoders through the SSL extractors ------------------------------


@pytest.mark.parametrize("arch,kind", [("chinese-wav2vec2-base", "wav2vec2")])
def test_chinese_base_encoders_load_and_equal_transformers(arch, kind):
    """A random model with the real config (the presets' one, already built): the extractor loads it, counts
    frames and gives transformers' states. The other configs are checked without weights below."""
    from avalign.features import create

    d = ssl_models.model_dirs()[arch]
    ex = create(kind, model=str(d), output="layers", chunk_seconds=0)
    assert ex.group_norm
    model = getattr(tf, ssl_models.ARCHS[arch][0]).from_pretrained(d).eval()
    n = 16000 + 77
    x = ssl_models.speech(n / 16000, offset=33)
    out = ex.compute(x)
    assert out.shape == ((n - 400) // 320 + 1, 2, 768) == (ex.num_frames(n), 2, 768)
    fe = tf.Wav2Vec2FeatureExtractor.from_pretrained(d)
    with torch.no_grad():
        ref = model(torch.as_tensor(fe(x, sampling_rate=16000).input_values[0])[None], output_hidden_states=True)
    np.testing.assert_allclose(out, torch.stack(ref.hidden_states, dim=2)[0].numpy(), atol=2e-5)


@pytest.mark.parametrize("arch,kind", [("chinese-wav2vec2-base", "wav2vec2"), ("chinese-hubert-base", "hubert"),
                                       ("chinese-hubert-large", "hubert"), ("wav2vec2-xls-r-300m", "wav2vec2")])
def test_chinese_and_xlsr_configs_through_the_extractors(arch, kind, tmp_path):
    """The configs alone (no weights: building the large ones costs seconds): model type accepted, norm kind,
    conv stack, frame counts; a wrong family is refused."""
    from avalign.errors import ModelError
    from avalign.features import create

    _, config_cls, kwargs, fe_kwargs = ssl_models.ARCHS[arch]
    cfg = getattr(tf, config_cls)(num_hidden_layers=1, **kwargs)
    cfg.save_pretrained(tmp_path)
    tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, **fe_kwargs).save_pretrained(tmp_path)
    ex = create(kind, model=str(tmp_path))
    assert ex.group_norm == (kwargs["feat_extract_norm"] == "group")
    assert ex.receptive_field == (400, 320) and ex.normalizes == fe_kwargs["do_normalize"]
    for n in (400, 719, 720, 160077):
        assert ex.num_frames(n) == (n - 400) // 320 + 1
    other = create("hubert" if kind == "wav2vec2" else "wav2vec2", model=str(tmp_path))
    with pytest.raises(ModelError, match="config.json says model_type .*, but feature .* needs"):
        other.num_frames(16000)


# -- explain and check -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_explain_works(name, capsys):
    from avalign.cli import main

    p = systems.get(name)
    assert main(["explain", "--preset", name, "--duration", "4", "--fps", str(p.fixed_fps or 25)]) == 0
    out = capsys.readouterr().out
    assert f"preset {name}" in out and f"-> {p.num_frames(64000, p.fixed_fps or 25, 100)} rows" in out


def test_extract_and_check_on_a_real_video(tmp_path, capsys, models):
    """echomimic-v3 on an 8 s video (video_length 21: the audio is cut to 21 frames, 0.84 s): the sidecar records
    the -23 LUFS normalisation of the whole file; check reads the rule (21 rows against the video's 200 frames)."""
    from avalign.cli import main

    video = real_file("sadtalker_WDA_AOC.mp4")
    out = tmp_path / "e.npy"
    assert main(["extract", str(video), "-o", str(out), "--preset", "echomimic-v3", "--option", "video_length=21",
                 "--model", models[ARCH["echomimic-v3"]][0], "-q"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["audio"]["loudness"]["target_lufs"] == -23.0 and side["audio"]["loudness"]["applied"]
    assert np.load(out).shape == (21, 5, 1, 768)
    capsys.readouterr()
    main(["check", str(video), str(out)])  # the preset and its options from the sidecar
    text = capsys.readouterr().out
    assert "preset echomimic-v3" in text and "21 rows" in text
