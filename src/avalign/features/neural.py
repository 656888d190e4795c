"""Shared plumbing for neural extractors: torch import, devices, dtypes, model loading.

torch and transformers are imported lazily (``pip install 'avalign[neural]'``).
Models load from a local directory or a model id; ``HF_HUB_OFFLINE=1`` is
honoured; ``trust_remote_code`` is never enabled and only safetensors or
``weights_only`` checkpoints are read.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError, ModelError, require

DTYPES = ("float32", "float16", "bfloat16")


def torch():
    """The torch module (MissingDependencyError with the extra to install when absent)."""
    return require("torch", "neural")


def transformers():
    """The transformers module."""
    return require("transformers", "neural")


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; a refused ``"cuda"`` is an InputError."""
    t = torch()
    if device in (None, "auto"):
        return "cuda" if t.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not t.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise InputError(f"bad device {device!r}; expected cpu, cuda or auto")
    return str(device)


def resolve_dtype(dtype: str, device: str):
    """A torch dtype from its name; half precisions only on CUDA."""
    if dtype not in DTYPES:
        raise InputError(f"bad dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if dtype != "float32" and not device.startswith("cuda"):
        raise InputError(f"dtype {dtype} needs a CUDA device; on CPU use float32")
    return getattr(torch(), dtype)


def offline() -> bool:
    """True when the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


#: Weight files that are pickles (loading one can run code): refused, with how to convert.
PICKLE_WEIGHTS = ("pytorch_model.bin",)
#: Weights of other frameworks (TensorFlow, Flax): not pickles, but not what avalign loads either.
OTHER_WEIGHTS = ("tf_model.h5", "flax_model.msgpack", "model.ckpt.index")
#: Seconds to wait for a TCP connection to the hub before calling it unreachable.
HUB_TIMEOUT_S = 1.5
_HUB_REACHABLE: dict[str, bool] = {}


def _local_dir(model) -> tuple[str, Path | None]:
    """``(name, local directory or None for a hub id)``; a ModelError for a missing path or a file."""
    if model is None:
        raise ModelError("this feature needs a model: pass --model with a local directory or a model id")
    name = os.fspath(model)
    local = Path(name).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelError(f"{name}: a model must be a directory in transformers format (config.json + weights)")
        return name, local
    if name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 1)[-1]:
        raise ModelError(f"{name}: no such model directory")
    return name, None


def hub_reachable() -> bool:
    """Whether a TCP connection to the Hugging Face endpoint opens within :data:`HUB_TIMEOUT_S` (cached)."""
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if endpoint not in _HUB_REACHABLE:
        url = urlparse(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname or "", port), timeout=HUB_TIMEOUT_S).close()
            _HUB_REACHABLE[endpoint] = True
        except OSError:
            _HUB_REACHABLE[endpoint] = False
    return _HUB_REACHABLE[endpoint]


def _in_cache(name: str) -> bool:
    """Whether the hub id ``name`` has its ``config.json`` in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # a malformed id
        return False
    return isinstance(found, str)


def _local_files_only(name: str, local: Path | None) -> bool:
    """Load without the network: a local directory, offline mode, or an unreachable hub.

    A hub id that cannot be downloaded and is not in the cache fails here at
    once, instead of after transformers' ~20 s of retries.
    """
    if local is not None:
        return True
    if not offline() and hub_reachable():
        return False
    if not _in_cache(name):
        why = "HF_HUB_OFFLINE is set" if offline() else "no network"
        raise ModelError(f"model {name!r} is not a local directory and is not in the Hugging Face cache; {why}: "
                         "download it where you have internet or pass a local directory")
    return True


def refuse_pickled_weights(name: str, local: Path) -> None:
    """ModelError when a local model directory has pickled (or TensorFlow/Flax) weights and no safetensors.

    A pickle (``pytorch_model.bin``) can run code when it is loaded; avalign
    reads only ``*.safetensors``. The message says how to convert once.
    """
    if any(local.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in local.iterdir() if p.name in PICKLE_WEIGHTS or p.suffix in (".bin", ".pt", ".pth"))
    if pickled:
        raise ModelError(
            f"{name}: weights are a pickle ({pickled[0]}), which avalign does not load (unpickling can run code); "
            f"convert them once, if you trust the file: python -c \"import transformers as t; "
            f"t.AutoModel.from_pretrained('{local}').save_pretrained('{local}', safe_serialization=True)\"")
    other = sorted(p.name for p in local.iterdir() if p.name in OTHER_WEIGHTS)
    if other:
        raise ModelError(f"{name}: weights are {other[0]} (TensorFlow or Flax), which avalign does not load; "
                         f"it loads model.safetensors (the PyTorch weights of the same model id, or a conversion "
                         f"with transformers' from_pretrained(..., from_tf=True / from_flax=True))")


def model_config(model, *, expected: tuple[str, ...], feature: str):
    """The transformers config of ``model`` (no weights read), checked to be one of ``expected`` model types.

    ``expected`` holds ``config.model_type`` values (``("hubert",)``); a local
    directory's ``config.json`` is read as JSON first, so a model of another
    family is refused with its type named before transformers sees it, and
    pickled weights are refused (:func:`refuse_pickled_weights`).
    """
    import json

    name, local = _local_dir(model)
    if local is not None:
        try:
            found = json.loads((local / "config.json").read_text()).get("model_type")
        except FileNotFoundError:
            raise ModelError(f"{name}: no config.json; a model must be a directory in transformers format") from None
        except (OSError, ValueError, AttributeError) as exc:
            raise ModelError(f"{name}: config.json is not a JSON object ({type(exc).__name__})") from None
        _check_type(name, found, expected, feature)
        refuse_pickled_weights(name, local)
    cfg = from_pretrained(transformers().AutoConfig, model)
    _check_type(name, getattr(cfg, "model_type", None), expected, feature)
    return cfg


def _check_type(name: str, found, expected: tuple[str, ...], feature: str) -> None:
    if expected and found not in expected:
        raise ModelError(f"{name}: config.json says model_type {found!r}, but feature {feature!r} needs "
                         f"{' or '.join(map(repr, expected))}")


def from_pretrained(loader, model, *, weights: bool = False, **kwargs):
    """``loader.from_pretrained(model)`` with clear errors and no remote code.

    ``model`` is a local directory (loaded with ``local_files_only``) or a
    model id (downloaded unless offline or the hub is unreachable; then from
    the cache, or a ModelError at once). ``weights=True`` (a model, not a
    config or processor) reads only safetensors. Any failure becomes a ModelError.
    """
    name, local = _local_dir(model)
    if weights:
        if local is not None:
            refuse_pickled_weights(name, local)
        kwargs["use_safetensors"] = True
    local_only = _local_files_only(name, local)
    try:
        return loader.from_pretrained(str(local) if local is not None else name, trust_remote_code=False,
                                      local_files_only=local_only, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        hint = " (offline: HF_HUB_OFFLINE is set)" if offline() and local is None else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {name!r}{hint}: {first}") from None


def _dim(cfg, *names, default=0) -> int:
    """The first of ``names`` that ``cfg`` (a transformers config) sets, as a non-negative int."""
    for name in names:
        value = getattr(cfg, name, None)
        if value is not None and not isinstance(value, (list, tuple, dict, str)):
            try:
                return max(int(value), 0)
            except (TypeError, ValueError, OverflowError):
                raise ModelError(f"bad model config: {name} = {value!r} is not a size") from None
    return default


def config_parameters(cfg, *, encoder_only: bool = False) -> int:
    """Parameters of a transformer speech model, estimated from its config alone (before building it).

    Counts the attention and feed-forward blocks (``4 d^2 + 2 d ffn`` per layer, ``4 d^2`` more per decoder
    layer for cross-attention), the embeddings (vocabulary and positions, ``d`` each), the conv front end of
    wav2vec2-style models (``conv_dim``, ``conv_kernel``) and its positional conv, and Whisper's two input
    convs. ``encoder_only``: the encoder alone (no decoder, vocabulary or target positions). Exact Python integers: an absurd config gives an absurd number, never an overflow.
    """
    d = _dim(cfg, "hidden_size", "d_model")
    ffn = _dim(cfg, "intermediate_size", "encoder_ffn_dim", default=4 * d)
    enc = _dim(cfg, "num_hidden_layers", "encoder_layers")
    dec = 0 if encoder_only else _dim(cfg, "decoder_layers")
    dec_ffn = _dim(cfg, "decoder_ffn_dim", default=ffn)
    total = enc * (4 * d * d + 2 * d * ffn) + dec * (8 * d * d + 2 * d * dec_ffn)
    total += d * _dim(cfg, "max_position_embeddings", "max_source_positions")
    if not encoder_only:
        total += d * (_dim(cfg, "vocab_size") + _dim(cfg, "max_target_positions"))
    mels = _dim(cfg, "num_mel_bins")
    if mels:
        total += 3 * d * (mels + d)
    conv_dim, conv_kernel = getattr(cfg, "conv_dim", None), getattr(cfg, "conv_kernel", None)
    if isinstance(conv_dim, (list, tuple)) and isinstance(conv_kernel, (list, tuple)):
        channels = [1] + [max(int(c), 0) for c in conv_dim]
        total += sum(channels[i] * channels[i + 1] * max(int(k), 0) for i, k in enumerate(conv_kernel[:len(conv_dim)]))
        total += channels[-1] * d
        groups = max(_dim(cfg, "num_conv_pos_embedding_groups", default=1), 1)
        total += d * (d // groups) * _dim(cfg, "num_conv_pos_embeddings")
    return total


#: Bytes per parameter of a model being loaded: float32, built once and filled from the checkpoint.
PARAMETER_BYTES = 8


def check_config(cfg, name, *, encoder_only: bool = False) -> None:
    """Refuse (BudgetError) a model whose config declares more parameters than the memory budget holds."""
    from .. import budget

    params = config_parameters(cfg, encoder_only=encoder_only)
    layers = _dim(cfg, "num_hidden_layers", "encoder_layers") + (0 if encoder_only else _dim(cfg, "decoder_layers"))
    budget.check(params * PARAMETER_BYTES,
                 f"a model of about {params} parameters from {name}'s config ({layers} layers of width "
                 f"{_dim(cfg, 'hidden_size', 'd_model')}) x float32, built then loaded")


class quiet_transformers:
    """Silence transformers' load report and progress bar while a model loads (restored afterwards)."""

    def __init__(self, tf):
        self.logging = tf.utils.logging

    def __enter__(self):
        self.level = self.logging.get_verbosity()
        self.bar = self.logging.is_progress_bar_enabled()
        self.logging.set_verbosity_error()
        self.logging.disable_progress_bar()

    def __exit__(self, *exc):
        self.logging.set_verbosity(self.level)
        if self.bar:
            self.logging.enable_progress_bar()
        return False


#: Models kept in memory per process (most recently used last).
CACHE_SIZE = 2
_LOADED = None  # OrderedDict of loaded models, created on first use


def cached(key: tuple, load):
    """``load()``'s result, loaded once per process for ``key`` and shared by every extractor and preset.

    Repeated ``avalign.extract(...)`` calls with the same model reuse it; the
    :data:`CACHE_SIZE` most recently used models stay in memory.
    """
    global _LOADED
    from collections import OrderedDict

    if _LOADED is None:
        _LOADED = OrderedDict()
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    value = load()
    _LOADED[key] = value
    while len(_LOADED) > CACHE_SIZE:
        _LOADED.popitem(last=False)
    return value
