"""The shared stages of every command: recipe -> decode (on the video clock) -> features -> rows -> sidecar.

``extract``, ``batch`` (local and Ray), ``check``, ``explain``, ``plot`` and
``demo`` read audio only through :func:`read_audio` / :func:`decode` and build
recipes only through :func:`make_recipe`, so they agree on sample counts and
row counts for every input (a preset reads files as its system does).
"""

from __future__ import annotations

import functools
import os
import sys
from fractions import Fraction

from . import features as _features
from . import systems as _systems
from .errors import InputError, NoAudioError
from .media import Audio, MediaInfo, probe


def versions() -> dict:
    """Versions of avalign and of the libraries that shaped the numbers."""
    out = {}
    for name in ("avalign", "numpy", "scipy", "av", "soxr", "resampy", "torch", "transformers"):
        if name in ("resampy", "torch", "transformers") and name not in sys.modules:
            continue
        v = _version(name)
        if v is not None:
            out[name] = v
    return out


@functools.lru_cache(maxsize=None)
def _version(name: str) -> str | None:
    """Installed version of a distribution (cached).

    From the name of its ``NAME-VERSION.dist-info`` folder on ``sys.path`` (what
    ``importlib.metadata`` reads, without importing it and the ``email``
    package: ~0.1 s of start-up); ``importlib.metadata`` when no such folder is found.
    """
    if name == "avalign":
        from . import __version__

        return __version__
    prefix = name.lower().replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = _listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".dist-info") and folder.lower().startswith(prefix):
                return folder[len(prefix):-len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def _listdir(folder: str) -> tuple[str, ...]:
    return tuple(os.listdir(folder)) if os.path.isdir(folder) else ()


def _check_recipe_options(*, method, edge, rounding, anchor, window) -> None:
    """Refuse bad alignment options before any decoding (InputError)."""
    from .align import ANCHORS, EDGES, METHODS
    from .timing import ROUNDINGS

    if method not in METHODS:
        raise InputError(f"unknown alignment method {method!r}; expected one of {', '.join(METHODS)}")
    if edge is not None and edge not in EDGES:
        raise InputError(f"bad edge policy {edge!r}; expected one of {', '.join(EDGES)}")
    if rounding not in ROUNDINGS:
        raise InputError(f"unknown rounding rule {rounding!r}; expected one of {', '.join(ROUNDINGS)}")
    if not (anchor in ANCHORS or (isinstance(anchor, int) and not isinstance(anchor, bool))):
        raise InputError(f"bad window anchor {anchor!r}; expected 'start', 'centre' or an integer offset")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
        raise InputError(f"bad window size {window!r}: must be a positive integer")


def read_audio(source, recipe, *, info: MediaInfo | None = None, channel=None, resampler=None,
               loudness=None) -> Audio:
    """The audio ``extract`` computes on: ``source`` (a path or Audio) at ``recipe``'s rate.

    A preset reads files as its system does (:meth:`Preset.read_audio`, its
    loudness normalisation included); a feature decodes with soxr and the mean
    of the channels unless ``resampler`` / ``channel`` say otherwise. An
    :class:`Audio` is only resampled (and normalised unless its meta records a
    normalisation). ``loudness``: target LUFS (:mod:`avalign.loudness`),
    ``"off"``, or None for the recipe's own (a preset's system; none for a feature).
    """
    if isinstance(recipe, _systems.Preset):
        if isinstance(source, Audio):
            return recipe.reader.convert(source, resampler=resampler, loudness=loudness)
        return recipe.read_audio(source, info=info, channel=channel, resampler=resampler, loudness=loudness)
    # a feature reads as a plain system would: soxr, the mean of the channels, no loudness of its own
    reader = _systems.Reader(sample_rate=recipe.sample_rate, scale=getattr(recipe, "input_scale", "float"))
    if isinstance(source, Audio):
        return reader.convert(source, resampler=resampler, loudness=loudness)
    return reader.read(source, info=info, channel=channel, resampler=resampler, loudness=loudness)


def on_video_clock(audio: Audio, offset_ms: float = 0.0) -> Audio:
    """``audio`` padded or trimmed so that sample 0 sits at video frame 0, after moving it ``offset_ms`` later."""
    try:
        offset = Fraction(str(offset_ms)) / 1000
    except (ValueError, ZeroDivisionError):
        raise InputError(f"bad offset {offset_ms!r} ms") from None
    if abs(offset) > audio.duration:
        raise InputError(f"offset of {float(offset_ms):g} ms is longer than the audio ({float(audio.duration):.3f} s)")
    return audio.shifted(offset).on_clock(0)


def make_recipe(preset: str | None = None, *, feature: str | None = None, model=None, device=None, **options):
    """The preset object or the feature extractor that ``extract`` would use."""
    if preset is not None and feature is not None:
        raise InputError("give either a preset or a feature, not both")
    if preset is not None:
        return _systems.get(preset, **options)
    extra = {k: v for k, v in (("model", model), ("device", device)) if v is not None}
    return _features.create(feature or "mel", **extra, **options)


def video_frame_count(num_frames: int, video_fps, fps=None, rounding: str = "floor") -> int:
    """Rows a video of ``num_frames`` at ``video_fps`` asks for: its frame count, or at an explicit other
    ``fps`` the same span counted at that rate, ``rounding(num_frames * fps / video_fps)``."""
    from .timing import parse_fps, round_number

    if fps is None or parse_fps(fps) == parse_fps(video_fps):
        return int(num_frames)
    return round_number(num_frames * parse_fps(fps) / parse_fps(video_fps), rounding)


def decode(source, recipe, *, info: MediaInfo | None = None, offset_ms: float = 0.0, channel=None,
           resampler=None, loudness=None) -> tuple[Audio, MediaInfo | None]:
    """The decode stage: ``(audio at the recipe's rate on the video clock, probe of the file or None)``.

    ``source`` is a path (probed unless ``info`` is given) or an :class:`Audio`;
    ``loudness`` as in :func:`read_audio` (normalised before the clock shift, on the whole decoded array).
    """
    if not isinstance(source, Audio):
        info = info if info is not None else probe(source)
        if info.audio is None:
            raise NoAudioError(f"{os.fspath(source)}: no audio stream")
    audio = read_audio(source, recipe, info=info, channel=channel, resampler=resampler, loudness=loudness)
    return on_video_clock(audio, offset_ms), info


__all__ = ["decode", "video_frame_count", "make_recipe", "on_video_clock", "read_audio", "versions"]
