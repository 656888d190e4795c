"""Presets (``avalign.presets()`` lists them): faithful recipes of published systems, by name.

Each preset is a :class:`Preset` (data: reader, feature step, count rule,
layout, options) defined in one module of this package. ``get("wav2lip")``
returns it bound to the given options. Modules are imported on first use so
that neural presets load torch only when asked.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import Option, Preset, Reader, Request

#: name -> "module:CONSTANT" in this package.
REGISTRY: dict[str, str] = {
    "wav2lip": "spectral:WAV2LIP",
    "wav2lip-syncnet": "spectral:WAV2LIP_SYNCNET",
    "sadtalker": "spectral:SADTALKER",
    "syncnet": "spectral:SYNCNET",
    "synctalk-mel": "spectral:SYNCTALK_MEL",
    "voca": "deepspeech:VOCA",
    "ad-nerf": "deepspeech:AD_NERF",
    "dinet": "deepspeech:DINET",
    "nerf-deepspeech": "deepspeech:NERF_DEEPSPEECH",
    "rad-nerf": "ssl:RAD_NERF",
    "er-nerf-hubert": "ssl:ER_NERF_HUBERT",
    "geneface-hubert": "ssl:GENEFACE_HUBERT",
    "genefacepp-hubert": "ssl:GENEFACEPP_HUBERT",
    "faceformer": "ssl:FACEFORMER",
    "hallo": "ssl:HALLO",
    "aniportrait": "ssl:ANIPORTRAIT",
    "emotalk": "ssl:EMOTALK",
    "musetalk-v15": "whisper:MUSETALK_V15",
    "musetalk-v1": "whisper:MUSETALK_V1",
    "latentsync": "whisper:LATENTSYNC",
    "echomimic": "whisper:ECHOMIMIC",
    "hallo2": "gen2024:HALLO2",
    "memo": "gen2024:MEMO",
    "infinitetalk": "gen2024:INFINITETALK",
    "multitalk": "gen2024:MULTITALK",
    "echomimic-v3": "gen2024:ECHOMIMIC_V3",
    "float": "gen2024:FLOAT",
    "joyvasa": "gen2025:JOYVASA",
    "sonic": "gen2025:SONIC",
    "hunyuan-avatar": "gen2025:HUNYUAN_AVATAR",
    "unitalker": "gen2025:UNITALKER",
    "ditto": "gen2025:DITTO",
}


def _load(name: str) -> Preset | None:
    module, const = REGISTRY[name].split(":")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}.{module}"):
            return None
        raise
    return getattr(mod, const, None)


def names(*, available_only: bool = True) -> list[str]:
    """Preset names (those implemented in this version unless ``available_only=False``)."""
    return [n for n in REGISTRY if not available_only or _load(n) is not None]


def get(name: str, **options) -> Preset:
    """The preset ``name`` bound to ``options`` (unknown options refused, listing the known ones)."""
    if isinstance(name, Preset):
        return name.bind(**options) if options else name
    if name not in REGISTRY:
        raise UnknownNameError(f"unknown preset {name!r}; known: {', '.join(names())}")
    preset = _load(name)
    if preset is None:
        raise UnknownNameError(f"preset {name!r} is not available in this version of avalign")
    return preset.bind(**options)


__all__ = ["Option", "Preset", "REGISTRY", "Reader", "Request", "get", "names"]
