"""Presets (``avalign.presets()`` lists them): faithful recipes of published systems, by name.

``get("wav2lip")`` returns a :class:`Preset` instance. Modules are imported on
first use so that neural presets load torch only when asked.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import Preset

#: name -> "module:Class" in this package.
REGISTRY: dict[str, str] = {
    "wav2lip": "spectral:Wav2Lip",
    "wav2lip-syncnet": "spectral:Wav2LipSyncNet",
    "sadtalker": "spectral:SadTalker",
    "syncnet": "spectral:SyncNet",
    "synctalk-mel": "spectral:SyncTalkMel",
    "voca": "deepspeech:Voca",
    "ad-nerf": "deepspeech:ADNeRF",
    "dinet": "deepspeech:DINet",
    "nerf-deepspeech": "deepspeech:NeRFDeepSpeech",
    "rad-nerf": "ssl:RADNeRF",
    "er-nerf-hubert": "ssl:ERNeRFHubert",
    "geneface-hubert": "ssl:GeneFaceHubert",
    "genefacepp-hubert": "ssl:GeneFacePPHubert",
    "faceformer": "ssl:FaceFormer",
    "hallo": "ssl:Hallo",
    "aniportrait": "ssl:AniPortrait",
    "emotalk": "ssl:EmoTalk",
    "musetalk-v15": "whisper:MuseTalkV15",
    "musetalk-v1": "whisper:MuseTalkV1",
    "latentsync": "whisper:LatentSync",
    "echomimic": "whisper:EchoMimic",
}


def _load(name: str) -> type[Preset] | None:
    module, cls = REGISTRY[name].split(":")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}.{module}"):
            return None
        raise
    return getattr(mod, cls, None)


def names(*, available_only: bool = True) -> list[str]:
    """Preset names (those implemented in this version unless ``available_only=False``)."""
    return [n for n in REGISTRY if not available_only or _load(n) is not None]


def get(name: str, **options) -> Preset:
    """The preset ``name``, built with ``options``."""
    if name not in REGISTRY:
        raise UnknownNameError(f"unknown preset {name!r}; known: {', '.join(names())}")
    cls = _load(name)
    if cls is None:
        raise UnknownNameError(f"preset {name!r} is not available in this version of avalign")
    return cls(**options)


__all__ = ["Preset", "REGISTRY", "get", "names"]
