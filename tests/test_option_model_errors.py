"""Option and model mistakes (issue 12, class 4): one line, exit 2, nothing written, no waiting on a network.

Bad option values in ``extract`` and ``batch``; a bad ``--fps`` or recipe in
``batch`` refused before any clip runs; a model directory of another family,
with pickled weights, or a hub id that cannot be had offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from avalign import synth
from avalign.cli import main
from avalign.errors import InputError, ModelError
from avalign.features import create
from avalign.features import neural
from avalign.features.base import coerce_value


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("opt") / "s.wav"
    synth.write_wav(path, (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32))
    return path


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


# -- option values -------------------------------------------------------------------------------


@pytest.mark.parametrize("option, expected", [
    ("n_mels=abc", "bad value 'abc' for option 'n_mels' of feature 'mel': expected an integer"),
    ("n_mels=2.5", "bad value 2.5 for option 'n_mels' of feature 'mel': expected an integer"),
    ("htk=maybe", "bad value 'maybe' for option 'htk' of feature 'mel': expected true or false"),
    ("fmin=low", "bad value 'low' for option 'fmin' of feature 'mel': expected a number"),
])
def test_extract_bad_option_value_is_one_line(wav, tmp_path, capsys, option, expected):
    out = tmp_path / "o.npy"
    code, err = run_cli(capsys, "extract", wav, "-o", out, "--fps", "25", "--option", option)
    assert code == 2
    assert one_line(err) == f"avalign: error: {expected}"
    assert list(tmp_path.iterdir()) == []


def test_preset_bad_option_value_is_one_line(wav, tmp_path, capsys):
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--preset", "musetalk-v15",
                        "--option", "size=huge")
    assert code == 2
    assert "bad value 'huge' for option 'size' of preset 'musetalk-v15'" in one_line(err)


def test_good_option_strings_are_converted():
    mel = create("mel", n_mels="40", htk="true", fmin="20.5", fmax=None)
    assert (mel.config.n_mels, mel.config.htk, mel.config.fmin, mel.config.fmax) == (40, True, 20.5, None)
    assert type(mel.config.n_mels) is int and type(mel.config.fmin) is float


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.booleans(),
                 st.none()))
def test_coercion_gives_the_type_or_a_one_line_input_error(value):
    for hint, kinds in ((int, (int,)), (float, (float,)), (bool, (bool,)), (int | None, (int, type(None)))):
        try:
            got = coerce_value(value, hint, what="option 'x' of feature 'f'")
        except InputError as exc:
            msg = str(exc)
            assert "\n" not in msg and msg.startswith(f"bad value {value!r} for option 'x' of feature 'f': expected")
            continue
        assert type(got) in kinds
        if type(got) in (int, float) and not isinstance(value, str) and value is not None:
            assert got == value  # never a silent truncation (2.5 -> 2)


# -- batch: refused before any clip --------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (("--fps", "abc"), "bad fps 'abc'"),
    (("--fps", "0"), "bad fps '0'"),
    (("--option", "n_mels=abc"), "bad value 'abc' for option 'n_mels' of feature 'mel'"),
    (("--preset", "nope"), "unknown preset 'nope'"),
    (("--num-frames", "0"), "bad num_frames 0"),
])
def test_batch_refuses_a_bad_recipe_up_front(wav, tmp_path, capsys, args, message):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.wav", "b.wav"):
        (src / name).write_bytes(wav.read_bytes())
    out = tmp_path / "out"
    code, err = run_cli(capsys, "batch", src, "-o", out, "-q", *args)
    assert code == 2
    assert message in one_line(err)
    assert not out.exists()  # no manifest, no error rows


def test_batch_manifest_row_with_bad_fps_is_refused(wav, tmp_path, capsys):
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"path": str(wav), "fps": "fast"}) + "\n")
    code, err = run_cli(capsys, "batch", listing, "-o", tmp_path / "out", "-q")
    assert code == 2
    assert one_line(err).startswith(f"avalign: error: {listing}:1: bad fps 'fast'")
    assert not (tmp_path / "out").exists()


# -- models --------------------------------------------------------------------------------------


def config_dir(folder: Path, model_type: str, **extra) -> Path:
    """A model directory with only a config.json (the checks happen before any weight is read)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, **extra}))
    return folder


@pytest.mark.parametrize("feature, found, needed", [
    ("whisper", "hubert", "whisper"),
    ("hubert", "whisper", "hubert"),
    ("wav2vec2", "hubert", "wav2vec2"),
    ("wavlm", "wav2vec2", "wavlm"),
])
def test_model_of_another_family_names_both_types(wav, tmp_path, capsys, feature, found, needed):
    model = config_dir(tmp_path / "m", found)
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--fps", "25",
                        "--feature", feature, "--model", model)
    assert code == 2
    assert one_line(err) == (f"avalign: error: {model}: config.json says model_type {found!r}, "
                             f"but feature {feature!r} needs {needed!r}")
    assert not (tmp_path / "o.npy").exists()


def test_deepspeech_given_a_transformers_directory(wav, tmp_path, capsys):
    model = config_dir(tmp_path / "m", "wav2vec2")
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--fps", "25",
                        "--feature", "deepspeech", "--model", model)
    assert code == 2
    assert "holding a 'wav2vec2' model (config.json); DeepSpeech needs the v0.1.0 .pb file" in one_line(err)


def test_real_transformers_model_of_another_family_is_refused(tmp_path):
    """A saved (random, tiny) HuBERT given to the Whisper encoder: refused by its config, before transformers."""
    tf = pytest.importorskip("transformers")
    small = dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=1,
                 conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    tf.HubertConfig(**small).save_pretrained(tmp_path / "hubert")
    from avalign.features.whisper import EncoderModel

    with pytest.raises(ModelError, match="model_type 'hubert', but feature 'whisper' needs 'whisper'"):
        EncoderModel(tmp_path / "hubert", device="cpu")


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.pt"])
def test_pickled_weights_are_refused_in_one_line(wav, tmp_path, capsys, weights):
    model = config_dir(tmp_path / "m", "wav2vec2")
    pickled = model / weights
    pickled.write_bytes(b"\x80\x04\x95not loaded")  # never opened: refused by its name alone
    before = pickled.read_bytes()
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--fps", "25",
                        "--feature", "wav2vec2", "--model", model)
    assert code == 2
    line = one_line(err)
    assert f"weights are a pickle ({weights}), which avalign does not load" in line
    assert "save_pretrained" in line and "safe_serialization=True" in line
    assert pickled.read_bytes() == before


def test_tensorflow_weights_are_refused_without_calling_them_a_pickle(wav, tmp_path, capsys):
    model = config_dir(tmp_path / "m", "wav2vec2")
    (model / "tf_model.h5").write_bytes(b"\x89HDF\r\n\x1a\nnot loaded")
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--fps", "25",
                        "--feature", "wav2vec2", "--model", model)
    line = one_line(err)
    assert code == 2 and "tf_model.h5 (TensorFlow or Flax), which avalign does not load" in line
    assert "pickle" not in line and not (tmp_path / "o.npy").exists()


def test_pickle_beside_safetensors_is_fine():
    """Only a directory whose sole weights are a pickle is refused (the safetensors are what loads)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "pytorch_model.bin").write_bytes(b"x")
        (Path(d) / "model.safetensors").write_bytes(b"x")
        neural.refuse_pickled_weights(d, Path(d))


@pytest.mark.parametrize("env, why", [({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"), ({}, "no network")])
def test_hub_id_offline_fails_at_once(wav, tmp_path, capsys, monkeypatch, env, why):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(neural, "hub_reachable", lambda: False)
    code, err = run_cli(capsys, "extract", wav, "-o", tmp_path / "o.npy", "--fps", "25",
                        "--feature", "hubert", "--model", "someone/no-such-model")
    assert code == 2
    assert one_line(err) == ("avalign: error: model 'someone/no-such-model' is not a local directory and is not in "
                             f"the Hugging Face cache; {why}: download it where you have internet or pass a local "
                             "directory")


def test_hub_id_in_the_cache_loads_offline(tmp_path, monkeypatch):
    """Offline, a hub id whose files are cached is read from the cache (local_files_only), not refused."""
    tf = pytest.importorskip("transformers")
    hub = tmp_path / "hub"
    snap = hub / "models--someone--tiny" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (hub / "models--someone--tiny" / "refs").mkdir()
    (hub / "models--someone--tiny" / "refs" / "main").write_text("0" * 40)
    small = dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=1,
                 conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    tf.HubertConfig(**small).save_pretrained(snap)
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(neural, "hub_reachable", lambda: False)
    cfg = neural.model_config("someone/tiny", expected=("hubert",), feature="hubert")
    assert cfg.model_type == "hubert" and cfg.hidden_size == 32
