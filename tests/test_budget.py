"""Absurd sizes (issue 12, class 2): every request is estimated from its shapes and refused above the memory
budget before allocating; hostile headers and model files are refused; nothing steps one by one towards a
number taken from input.

The command-line cases run in one child process under a 4 GB address-space limit (an allocation of gigabytes
would be an internal error there, exit 1) whose peak memory is measured, with a timeout.
"""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from avalign import budget, synth
from avalign.errors import BudgetError, InputError
from helpers.deepspeech_graph import N_CLASSES, N_INPUT, _bytes, _int, node_def, random_weights, tensor_proto
from helpers.limited import run_cases

#: Peak resident memory a refused case may reach (interpreter, numpy, PyAV; torch for the model cases).
PEAK = 1 << 30
BIG = 10 ** 40
BUDGET_LINE = re.compile(r"^avalign: error: this request needs about [0-9.^]+ \S+ \(.+\); the memory budget is "
                         r"[0-9.]+ \S+ \(set AVALIGN_MEMORY_BUDGET or --memory-budget to change it\)$")


def _one_line(result) -> str:
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1, result["stderr"]
    assert "Traceback" not in result["stderr"]
    return lines[0]


def assert_refused(result, pattern=BUDGET_LINE):
    assert result["rc"] == 2, result
    line = _one_line(result)
    assert re.search(pattern, line), line
    return line


# ---------------------------------------------------------------------------
# Hostile files, built here
# ---------------------------------------------------------------------------


def _pcm(seconds=1.0, sr=16000) -> bytes:
    return (np.sin(np.arange(int(sr * seconds)) * 0.05) * 8000).astype("<i2").tobytes()


def _fmt(sr=16000) -> bytes:
    return struct.pack("<HHIIHH", 1, 1, sr, 2 * sr, 2, 16)


def rf64(pcm: bytes, declared: int) -> bytes:
    """An RF64 WAV whose ds64 chunk declares ``declared`` data bytes (the RIFF fields 0xFFFFFFFF)."""
    ds64 = struct.pack("<QQQI", 4 + 36 + 24 + 8 + declared, declared, declared // 2, 0)
    return (b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"ds64" + struct.pack("<I", 28) + ds64
            + b"fmt " + struct.pack("<I", 16) + _fmt() + b"data" + struct.pack("<I", 0xFFFFFFFF) + pcm)


_W64 = bytes.fromhex("f3acd3118cd100c04f8edb8a")


def w64(pcm: bytes, declared: int) -> bytes:
    """A Sony Wave64 file whose data chunk declares ``declared`` bytes (64-bit sizes counting the 24-byte headers)."""
    fmt = b"fmt " + _W64 + struct.pack("<Q", 24 + 16) + _fmt()
    data = b"data" + _W64 + struct.pack("<Q", 24 + declared) + pcm
    body = b"wave" + _W64 + fmt + data
    return b"riff" + bytes.fromhex("2e91cf11a5d628db04c10000") + struct.pack("<Q", 24 + len(body)) + body


def deepspeech_pb(overrides: dict) -> bytes:
    """A v0.1.0-shaped GraphDef of tiny weights whose tensors in ``overrides`` are given as raw TensorProtos."""
    parts = [node_def("input_node", "Placeholder"), node_def("input_lengths", "Placeholder", dtype_attr=3)]
    for name, arr in random_weights(n_hidden=4, n_cell=2).items():
        parts.append(node_def(name, "Const", tensor=overrides.get(name) or tensor_proto(arr)))
    parts.append(node_def("logits", "Identity", inputs=("add_3",)))
    return b"".join(_bytes(1, p) for p in parts) + _bytes(4, _int(1, 24))


def splat(shape) -> bytes:
    """TensorFlow's splat: one stored float for a tensor of ``shape``."""
    return tensor_proto(np.zeros(1, np.float32), as_float_val=True, shape=shape)


def huge_network(hidden=2 ** 20, cell=2 ** 10) -> dict:
    """Consistent v0.1.0 shapes of an absurd width, each tensor one splat value (the file stays ~2 KB)."""
    shapes = {"h1": (N_INPUT, hidden), "b1": (hidden,), "h2": (hidden, hidden), "b2": (hidden,),
              "h3": (hidden, 2 * cell), "b3": (2 * cell,), "h5": (2 * cell, hidden), "b5": (hidden,),
              "h6": (hidden, N_CLASSES), "b6": (N_CLASSES,)}
    for d in ("fw", "bw"):
        shapes[f"bidirectional_rnn/{d}/basic_lstm_cell/kernel"] = (3 * cell, 4 * cell)
        shapes[f"bidirectional_rnn/{d}/basic_lstm_cell/bias"] = (4 * cell,)
    return {name: splat(shape) for name, shape in shapes.items()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("absurd")
    synth.write_wav(d / "s.wav", synth.speech_like(2.0))
    (d / "clips").mkdir()
    synth.write_wav(d / "clips" / "a.wav", synth.speech_like(1.0))
    synth.write_clip(d / "clip.mp4", fps=25, num_frames=50, bright_frames=(10,))
    (d / "big.rf64.wav").write_bytes(rf64(_pcm(), 2 ** 31 * 2))  # 2^31 samples declared, 1 s present
    (d / "big.w64").write_bytes(w64(_pcm(), 2 ** 31 * 2))
    (d / "ok.rf64.wav").write_bytes(rf64(_pcm(), len(_pcm())))
    (d / "ok.w64").write_bytes(w64(_pcm(), len(_pcm())))
    (d / "net.pb").write_bytes(deepspeech_pb(huge_network()))
    (d / "splat.pb").write_bytes(deepspeech_pb({"h1": splat((N_INPUT, 2_000_000))}))
    (d / "overflow.pb").write_bytes(deepspeech_pb({"h1": splat((2 ** 62, 2 ** 62))}))
    # a sidecar that says the audio has 10^40 samples
    from avalign import extract
    from avalign.store import save

    out = extract(d / "clip.mp4", preset="sadtalker")
    meta = dict(out.meta)
    meta["audio"] = dict(meta["audio"], num_samples=BIG)
    save(d / "lying.npy", out.values, meta)
    return d


# ---------------------------------------------------------------------------
# The command line: refused with one line, exit 2, nothing written, small peak, no hang
# ---------------------------------------------------------------------------


CLI_CASES = {
    "fps 1e9": ["extract", "s.wav", "-o", "o1.npy", "--fps", "1000000000"],
    "num-frames 1e12": ["extract", "s.wav", "-o", "o2.npy", "--fps", "25", "--num-frames", "1000000000000"],
    "n_mels 1e9": ["extract", "s.wav", "-o", "o3.npy", "--fps", "25", "--option", "n_mels=1000000000"],
    "n_fft 1e12": ["extract", "s.wav", "-o", "o4.npy", "--fps", "25", "--option", "n_fft=1000000000000"],
    "mfcc nfilt 1e9": ["extract", "s.wav", "-o", "o5.npy", "--feature", "mfcc", "--fps", "25", "--option",
                       "nfilt=1000000000"],
    "stack window 1e9": ["extract", "s.wav", "-o", "o6.npy", "--fps", "25", "--method", "stack", "--window",
                         "1000000000"],
    "wav2lip fps 1e9": ["extract", "s.wav", "-o", "o7.npy", "--preset", "wav2lip", "--fps", "1000000000"],
    "wav2lip fps 1e6": ["extract", "s.wav", "-o", "o8.npy", "--preset", "wav2lip", "--fps", "1000000"],
    "explain duration 1e15": ["explain", "--duration", "1e15", "--fps", "25"],
    "explain samples 1e40": ["explain", "--samples", str(BIG), "--fps", "25"],
    "explain rad-nerf samples 1e40": ["explain", "--preset", "rad-nerf", "--samples", str(BIG)],
    "explain wav2lip samples 1e40": ["explain", "--preset", "wav2lip", "--fps", "25", "--samples", str(BIG)],
    "explain musetalk duration 1e15": ["explain", "--preset", "musetalk-v1", "--fps", "25", "--duration", "1e15"],
    "check sidecar 1e40": ["check", "clip.mp4", "lying.npy", "--preset", "wav2lip"],
    "budget option": ["extract", "s.wav", "-o", "o9.npy", "--fps", "25", "--memory-budget", "10K"],
    "budget env": (["extract", "s.wav", "-o", "o10.npy", "--fps", "25"], {"AVALIGN_MEMORY_BUDGET": "10K"}),
    "budget explain": ["explain", "--duration", "10", "--fps", "25", "--memory-budget", "10K"],
}
OTHER_CASES = {
    "fps 1e-7": (["extract", "s.wav", "-o", "z1.npy", "--fps", "0.0000001"],
                 r"^avalign: error: --fps 1/10000000 gives 0 rows for 2\.000 s of audio .*nothing to write"),
    "video fps 1e-7": (["extract", "clip.mp4", "-o", "z2.npy", "--fps", "0.0000001"], r"gives 0 rows"),
    "rf64 probe": (["probe", "big.rf64.wav"], r"truncated WAV file: its data chunk declares 4294967296 bytes but "
                                              r"only 32000 are present"),
    "rf64 extract": (["extract", "big.rf64.wav", "-o", "z3.npy", "--fps", "25"], r"declares 4294967296 bytes"),
    "w64 extract": (["extract", "big.w64", "-o", "z4.npy", "--fps", "25"], r"declares 4294967296 bytes"),
    "bad budget": (["explain", "--duration", "1", "--fps", "25", "--memory-budget", "lots"],
                   r"bad memory budget 'lots'"),
}
ACCEPTED = {
    "big budget": ["extract", "s.wav", "-o", "ok1.npy", "--fps", "25", "--memory-budget", "1G"],
    "big budget env": (["extract", "s.wav", "-o", "ok2.npy", "--fps", "25"], {"AVALIGN_MEMORY_BUDGET": "1G"}),
    "rf64": ["extract", "ok.rf64.wav", "-o", "ok3.npy", "--fps", "25"],
    "w64": ["extract", "ok.w64", "-o", "ok4.npy", "--fps", "25"],
    "riff": ["extract", "s.wav", "-o", "ok5.npy", "--fps", "25", "--num-frames", "25"],
}


def test_absurd_sizes_on_the_command_line(corpus):
    names = list(CLI_CASES) + list(OTHER_CASES) + list(ACCEPTED)
    cases = list(CLI_CASES.values()) + [v[0] for v in OTHER_CASES.values()] + list(ACCEPTED.values())
    before = sorted(p.name for p in corpus.iterdir())
    batch = ["batch", "clips", "-o", "batch_out", "--fps", "25", "--memory-budget", "10K", "-q"]
    results, peak = run_cases(cases + [batch], cwd=corpus, timeout=60)
    got = dict(zip(names, results))
    # batch: the clip over the budget is an error row (exit 1) that says so; no array for it
    assert results[-1]["rc"] == 1 and "the memory budget is 10 KiB" in results[-1]["stderr"], results[-1]
    assert not list((corpus / "batch_out").rglob("*.npy"))
    for name in CLI_CASES:
        assert_refused(got[name])
    for name, (_, pattern) in OTHER_CASES.items():
        assert_refused(got[name], pattern)
    for name in ACCEPTED:
        assert got[name]["rc"] == 0, (name, got[name])
    # the refused requests wrote nothing (no array, no sidecar, no temporary)
    after = sorted(p.name for p in corpus.iterdir() if p.name != "batch_out")
    assert sorted(set(after) - set(before)) == sorted(f"ok{i}.{e}" for i in range(1, 6) for e in ("npy", "json"))
    # a valid RF64 and Wave64 decode as the same samples as their data
    a, b = np.load(corpus / "ok3.npy"), np.load(corpus / "ok4.npy")
    assert a.shape == (25, 80) and np.array_equal(a, b)
    # what each line says: the size it would take, from the shapes
    assert "2000000000 video frames x 80 float32" in _one_line(got["fps 1e9"])
    assert "a mel filterbank of 1000000000 mels x 201 FFT bins" in _one_line(got["n_mels 1e9"])
    assert "10 KiB" in _one_line(got["budget env"]) and "10 KiB" in _one_line(got["budget option"])
    assert peak < PEAK, peak


def test_hostile_models_are_refused_before_they_are_built(corpus, tmp_path):
    """A Whisper checkpoint, Whisper and HuBERT configs declaring absurd widths and a 2 KB DeepSpeech graph
    declaring a trillion weights are refused from their declared sizes (the child's peak stays small)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    dims = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=1_000_000, n_audio_head=1, n_audio_layer=4, n_vocab=64,
                n_text_ctx=16, n_text_state=64, n_text_head=1, n_text_layer=1)
    torch.save({"dims": dims, "model_state_dict": {}}, tmp_path / "huge.pt")
    (tmp_path / "whisper").mkdir()
    (tmp_path / "whisper" / "config.json").write_text(json.dumps(dict(
        model_type="whisper", d_model=1_000_000, encoder_layers=4, decoder_layers=1, encoder_attention_heads=1,
        decoder_attention_heads=1, encoder_ffn_dim=4, decoder_ffn_dim=4, num_mel_bins=80,
        max_source_positions=1500, vocab_size=64)))
    (tmp_path / "hubert").mkdir()
    (tmp_path / "hubert" / "config.json").write_text(json.dumps(dict(
        model_type="hubert", hidden_size=1_000_000, num_hidden_layers=2, intermediate_size=4,
        num_attention_heads=1, conv_dim=[512] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2],
        conv_stride=[5, 2, 2, 2, 2, 2, 2])))
    wav = corpus / "s.wav"
    cases = [
        ["extract", wav, "-o", tmp_path / "m1.npy", "--fps", "25", "--feature", "whisper", "--model", tmp_path / "huge.pt"],
        ["extract", wav, "-o", tmp_path / "m2.npy", "--preset", "musetalk-v1", "--fps", "25", "--model",
         tmp_path / "huge.pt"],
        ["extract", wav, "-o", tmp_path / "m3.npy", "--fps", "25", "--feature", "whisper", "--model", tmp_path / "whisper"],
        ["extract", wav, "-o", tmp_path / "m4.npy", "--fps", "25", "--feature", "hubert", "--model", tmp_path / "hubert"],
        ["extract", wav, "-o", tmp_path / "m5.npy", "--fps", "25", "--feature", "deepspeech", "--model",
         corpus / "net.pb"],
        ["extract", wav, "-o", tmp_path / "m6.npy", "--preset", "ad-nerf", "--model", corpus / "net.pb"],
    ]
    results, peak = run_cases(cases, timeout=120)
    lines = [assert_refused(r) for r in results]
    assert "a model of about 51001740000000 parameters" in lines[0]  # 4 layers of 4 d^2 + 2 d (4 d) + convs
    assert "1104383322141 float32 weights declared by net.pb" in lines[4]
    assert not list(tmp_path.glob("m*.*"))
    assert peak < PEAK, peak


# ---------------------------------------------------------------------------
# In process: the pieces
# ---------------------------------------------------------------------------


def test_parse_and_format_sizes():
    assert budget.parse_size("2G") == 2 << 30
    assert budget.parse_size("500M") == 500 << 20
    assert budget.parse_size("1.5GiB") == 3 << 29
    assert budget.parse_size("4096") == 4096
    assert budget.parse_size("10k") == 10240
    for bad in ("", "abc", "-1G", "0", "1Q", "nan", True):
        with pytest.raises(InputError):
            budget.parse_size(bad)
    assert budget.format_size(8053063680) == "7.5 GiB"
    assert budget.format_size(12 << 30) == "12 GiB"
    assert budget.format_size(5) == "5 bytes"
    assert budget.format_size(4 * BIG) == "10^40 bytes"


def test_default_budget_is_half_the_available_memory(monkeypatch):
    monkeypatch.delenv(budget.ENV, raising=False)
    available = budget.machine_memory()
    assert 0 < available
    assert abs(budget.budget() - available // 2) <= available // 10  # MemAvailable moves a little meanwhile
    monkeypatch.setenv(budget.ENV, "3M")
    assert budget.budget() == 3 << 20
    with budget.limit("1K"):
        assert budget.budget() == 1024
        with budget.limit(None):
            assert budget.budget() == 1024
    assert budget.budget() == 3 << 20


def test_check_says_what_it_needs_and_the_budget():
    with budget.limit("6G"):
        budget.check(6 << 30, "fits exactly")
        with pytest.raises(BudgetError) as info:
            budget.check(budget.nbytes(2_013_265_920, 1, itemsize=4), "1000000000 frames x 80 mels x float32")
    assert str(info.value) == ("this request needs about 7.5 GiB (1000000000 frames x 80 mels x float32); the memory "
                               "budget is 6 GiB (set by the caller)")
    assert isinstance(info.value, InputError)


def test_api_keyword_and_align_refuse_before_allocating(corpus):
    import avalign

    with pytest.raises(BudgetError, match="the memory budget is 10 KiB"):
        avalign.extract(corpus / "s.wav", fps=25, memory_budget="10K")
    assert avalign.extract(corpus / "s.wav", fps=25, memory_budget="1G").values.shape == (50, 80)
    feats = avalign.Features(np.zeros((100, 80), np.float32), avalign.FrameGrid(100, 100), {})
    with budget.limit("1M"):
        # 10^15 rows would be petabytes: refused from the shapes, in no time
        with pytest.raises(BudgetError, match=r"1000000000000000 video frames x 80 float32, method linear"):
            avalign.align(feats, fps=25, num_frames=10 ** 15, method="linear")
        assert avalign.align(feats, fps=25, num_frames=100).values.shape == (100, 80)


def test_explain_api_keyword():
    from avalign.explain import explain

    with pytest.raises(BudgetError):
        explain(duration=10, fps=25, memory_budget="10K")
    assert explain(duration=10, fps=25, memory_budget="1G").rows == 250


def test_deepspeech_tensor_shapes_are_checked_before_reading(corpus):
    from avalign.errors import ModelError
    from avalign.features.deepspeech import graphdef, weights

    # a splat whose shape product overflows int64 is an exact Python integer here, refused by the budget
    with pytest.raises(BudgetError, match=r"a constant of shape \(4611686018427387904, 4611686018427387904\)"):
        graphdef.tensor_array(memoryview(splat((2 ** 62, 2 ** 62))))
    # content shorter than the declared shape: refused without allocating the declared size
    with pytest.raises(graphdef.GraphError, match="holds 16 bytes for shape"):
        graphdef.tensor_array(memoryview(tensor_proto(np.zeros(4, np.float32), shape=(4, 2 ** 40))))
    # the network's declared shapes are checked first: inconsistent ones name the tensor, huge ones the budget
    with pytest.raises(ModelError, match=r"h2 has shape \(4, 4\), expected \(2000000, n\)"):
        weights.read_graph(corpus / "splat.pb")
    with pytest.raises(ModelError, match=r"h1 has shape \(4611686018427387904, 4611686018427387904\)"):
        weights.read_graph(corpus / "overflow.pb")
    with pytest.raises(BudgetError, match="1104383322141 float32 weights"):
        weights.read_graph(corpus / "net.pb")


def test_config_parameters_match_built_models():
    """The estimate from a config is within 3 % (biases and norms are left out) of the parameters transformers builds (small real shapes)."""
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("transformers")
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from avalign.features.neural import config_parameters

    del torch
    configs = [
        (tf.HubertConfig(hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=4,
                         conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
         tf.HubertModel, False),
        (tf.Wav2Vec2Config(hidden_size=64, num_hidden_layers=3, intermediate_size=128, num_attention_heads=4,
                           conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                           vocab_size=32), tf.Wav2Vec2ForCTC, False),
        (tf.WhisperConfig(d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
                          decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256, vocab_size=64,
                          max_source_positions=1500, max_target_positions=16, pad_token_id=0, bos_token_id=1,
                          eos_token_id=2, decoder_start_token_id=1), tf.WhisperModel, False),
        (tf.WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=256,
                          max_source_positions=1500), WhisperEncoder, True),
    ]
    for cfg, cls, encoder_only in configs:
        built = sum(p.numel() for p in cls(cfg).parameters())
        estimate = config_parameters(cfg, encoder_only=encoder_only)
        assert abs(estimate - built) <= built * 3 // 100, (cls.__name__, estimate, built)


# ---------------------------------------------------------------------------
# No loop steps one by one towards a number from input
# ---------------------------------------------------------------------------


def rad_nerf_windows_loop(n_samples, *, chunk=320, left=10, mid=50, right=10):
    """RAD-NeRF's ``nerf/asr.py`` file mode restated as its loop: one step per chunk."""
    n_chunks = -(-n_samples // chunk)
    out, first, buffered = [], 0, left
    for _ in range(n_chunks):
        buffered += 1
        if buffered >= left + mid + right:
            out.append((first * chunk, (first + buffered) * chunk, False))
            first += buffered - (left + right)
            buffered = left + right
    out.append((first * chunk, left * chunk + n_samples, True))
    return out


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 200_000), left=st.integers(0, 12), mid=st.integers(1, 60), right=st.integers(0, 12))
def test_rad_nerf_windows_closed_form_equals_the_loop(n, left, mid, right):
    from avalign.systems.steps import rad_nerf_windows

    assert rad_nerf_windows(n, left=left, mid=mid, right=right) == rad_nerf_windows_loop(n, left=left, mid=mid,
                                                                                          right=right)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 400_000), fps=st.sampled_from(["25", "30000/1001", "24", "60", "0.5", "1000", "7/3"]))
def test_wav2lip_count_equals_its_starts(n, fps):
    """The closed-form count (no array) equals the chunks the layout builds."""
    from avalign.systems import get
    from avalign.systems.spectral import wav2lip_starts

    p = get("wav2lip")
    req = p.request(n, fps)
    assert req.rows == len(wav2lip_starts(req))


def test_huge_counts_are_instant():
    """Counting 10^40 samples is arithmetic: closed forms answer, index-building rules are refused by budget."""
    from avalign.systems import get

    with pytest.raises(BudgetError):
        get("wav2lip").num_frames(BIG, 25)
    from avalign.systems.spectral import wav2lip_full_chunks
    from avalign.systems.whisper import chunk_count

    assert wav2lip_full_chunks(BIG, 25) > BIG // 10 ** 3
    assert chunk_count(BIG, 25) > BIG // 10


def test_memory_budget_option_lasts_one_command(monkeypatch, tmp_path, capsys):
    """--memory-budget reaches batch's workers through the environment, and is gone after the command."""
    from avalign.cli import main

    wav = tmp_path / "s.wav"
    synth.write_wav(wav, synth.speech_like(1.0, seed=0))
    monkeypatch.delenv(budget.ENV, raising=False)
    assert main(["extract", str(wav), "-o", str(tmp_path / "a.npy"), "--fps", "25", "--memory-budget", "1G"]) == 0
    assert budget.ENV not in os.environ
    monkeypatch.setenv(budget.ENV, "3G")
    assert main(["extract", str(wav), "-o", str(tmp_path / "b.npy"), "--fps", "25", "--memory-budget", "10K"]) == 2
    assert os.environ[budget.ENV] == "3G" and not (tmp_path / "b.npy").exists()
