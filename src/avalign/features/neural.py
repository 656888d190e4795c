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


def from_pretrained(loader, model, **kwargs):
    """``loader.from_pretrained(model)`` with clear errors and no remote code.

    ``model`` is a local directory (loaded with ``local_files_only``) or a
    model id (downloaded unless offline). Any failure becomes a ModelError.
    """
    if model is None:
        raise ModelError("this feature needs a model: pass --model with a local directory or a model id")
    name = os.fspath(model)
    local = Path(name).expanduser()
    is_local = local.exists()
    if is_local and not local.is_dir():
        raise ModelError(f"{name}: a model must be a directory in transformers format (config.json + weights)")
    if not is_local and (name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 1)[-1]):
        raise ModelError(f"{name}: no such model directory")
    try:
        return loader.from_pretrained(str(local) if is_local else name, trust_remote_code=False,
                                      local_files_only=is_local or offline(), **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        hint = " (offline: HF_HUB_OFFLINE is set)" if offline() and not is_local else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {name!r}{hint}: {first}") from None


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
