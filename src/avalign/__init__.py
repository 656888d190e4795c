"""avalign: audio features that are frame-exact against video.

Quick start::

    import avalign
    info = avalign.probe("clip.mp4")            # exact fps, frame count, start times
    out = avalign.extract("clip.mp4", "wav2lip")   # Wav2Lip's [K, 80, 16] mel chunks
    out = avalign.extract("speech.wav", feature="mel", fps="30000/1001")
    s = avalign.stream("wav2lip", fps=25); rows = s.push(pcm); rows = s.flush()   # live audio
    out.values, out.grid, out.meta
"""

from __future__ import annotations

from .align import Aligned, align
from .api import extract
from .errors import AvalignError, InputError
from .features import Features
from .media import Audio, MediaInfo, load_audio, probe
from .timing import FrameGrid, parse_fps
from .sync import SyncResult, sync  # the function shadows the package's name here, on purpose

__version__ = "0.1.0"


def presets() -> list[str]:
    """Names of the presets available in this version."""
    from . import systems

    return systems.names()


def stream(preset: str | None = None, **options):
    """A :class:`~avalign.streaming.Stream`: push PCM packets, get rows of video frames (see :mod:`avalign.streaming`)."""
    from .streaming import stream as _stream

    return _stream(preset, **options)


def preset(name: str, **options):
    """The preset ``name`` (a :class:`~avalign.systems.Preset`): its rule, shape, count formula."""
    from . import systems

    return systems.get(name, **options)


__all__ = [
    "Aligned", "Audio", "AvalignError", "Features", "FrameGrid", "InputError", "MediaInfo", "SyncResult", "align",
    "extract", "load_audio", "parse_fps", "preset", "presets", "probe", "stream", "sync",
]
