"""Feature extractors and their registry.

``create("mel", n_mels=80)`` builds an extractor by name; the table below maps
names to classes and imports them only when asked, so that torch and
transformers load only for neural features.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import Extractor, Features

#: name -> "module:Class", relative to this package. Neural families import lazily.
REGISTRY: dict[str, str] = {
    "mel": "spectral:Mel",
    "mfcc": "spectral:MFCC",
    "wav2vec2": "ssl:Wav2Vec2",
    "hubert": "ssl:Hubert",
    "wavlm": "ssl:WavLM",
    "ctc": "ssl:CTCLogits",
    "whisper": "whisper:WhisperEncoder",
    "whisper-mel": "whisper:WhisperLogMel",
    "deepspeech": "deepspeech:DeepSpeech",
}


def names() -> list[str]:
    """Registered feature names."""
    return list(REGISTRY)


def get(name: str) -> type[Extractor]:
    """The extractor class registered as ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UnknownNameError(f"unknown feature {name!r}; known: {', '.join(REGISTRY)}") from None
    module, cls = target.split(":")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}.{module}"):
            raise UnknownNameError(f"feature {name!r} is not available in this version of avalign") from None
        raise
    return getattr(mod, cls)


def create(name: str, /, **options) -> Extractor:
    """Build the extractor ``name`` with ``options`` (fields of its Config)."""
    return get(name)(**options)


def from_dict(recipe: dict) -> Extractor:
    """Inverse of :meth:`Extractor.to_dict`."""
    recipe = dict(recipe)
    return create(recipe.pop("feature"), **recipe)


__all__ = ["Extractor", "Features", "REGISTRY", "create", "from_dict", "get", "names"]
