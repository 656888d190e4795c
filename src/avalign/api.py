"""The one-call Python API: ``extract(source, preset or feature, ...) -> Aligned``.

Flow: probe the source, decode its audio at the recipe's rate onto the video
clock (shifted by ``offset_ms``), then either run a preset or extract a
feature and align it to the video's frames (or to ``fps``).
"""

from __future__ import annotations

import functools
import os
import sys
from fractions import Fraction
from typing import Any

from . import features as _features
from . import systems as _systems
from .align import DEFAULT_METHOD, Aligned, align as _align
from .features import Features
from .errors import InputError, NoAudioError
from .media import Audio, MediaInfo, load_audio, probe
from .timing import FrameGrid, fraction_str, parse_fps, round_number


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
    """Installed version of a distribution (cached: reading package metadata costs ~6 ms)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


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


def read_audio(source, recipe, *, info: MediaInfo | None = None, channel=None, resampler=None) -> Audio:
    """The audio ``extract`` computes on: ``source`` (a path or Audio) at ``recipe``'s rate.

    A preset reads files as its system does (:meth:`Preset.read_audio`); a
    feature decodes with soxr and the mean of the channels unless ``resampler``
    / ``channel`` say otherwise. An :class:`Audio` is only resampled.
    """
    is_preset = isinstance(recipe, _systems.Preset)
    sr = recipe.sample_rate
    if isinstance(source, Audio):
        if source.sample_rate == sr:
            return source
        from .media import resample

        resampler = resampler or (recipe.resampler if is_preset else "soxr_hq")
        return Audio(resample(source.samples, orig_sr=source.sample_rate, target_sr=sr, resampler=resampler),
                     sr, source.start, source.scale, dict(source.meta))
    if is_preset:
        return recipe.read_audio(source, info=info, channel=channel, resampler=resampler)
    return load_audio(source, sr, channel="mean" if channel is None else channel, resampler=resampler or "soxr_hq",
                      scale=getattr(recipe, "input_scale", "float"), info=info)


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


def extract(source, preset: str | None = None, *, feature: str | None = None, fps=None,
            num_frames: int | None = None, model=None, device=None, offset_ms: float = 0.0,
            method: str = DEFAULT_METHOD, window: int | None = None, anchor="start", edge: str | None = None,
            rounding: str = "floor", resampler: str | None = None, channel: int | str | None = None,
            recipe=None, info: MediaInfo | None = None, features: Features | None = None,
            **options: Any) -> Aligned:
    """Features of ``source`` with one row per video frame.

    Parameters
    ----------
    source : str, Path or Audio
        A media file (audio or video) or decoded :class:`~avalign.media.Audio`.
    preset : str, optional
        A published system's recipe (``avalign.presets()``); its rows follow its rule.
    feature : str, optional
        A feature kind (``mel`` by default, ``mfcc``, ``hubert``, ...); ``options`` go to its config.
    fps : optional
        Target frame rate; default: the video's. Without video and fps: the feature's native rate.
    num_frames : int, optional
        Exact number of rows; default: the video's frame count or ``rounding(duration * fps)``.
    model, device : optional
        Neural features: local directory or model id; ``cpu``, ``cuda`` or ``auto``.
    offset_ms : float
        Shift audio against video; positive means the audio is later (zeros padded in front).
    method, window, anchor, edge, rounding :
        Alignment rule for features (see :func:`avalign.align`).
    resampler, channel :
        Decoding options (see :func:`avalign.load_audio`); default: the preset's own
        (e.g. resampy ``kaiser_best`` for Wav2Lip, channel 0 for the DeepSpeech lineage), else soxr and the mean.
    recipe : Preset or Extractor, optional
        A prebuilt recipe (reused across files to load a model once).
    info : MediaInfo, optional
        With a decoded ``source`` (Audio): the probe of its file, so the video's
        frames and clock apply as if the file had been given (decode elsewhere, extract here).
    features : Features, optional
        The feature's values already computed on this audio on the video clock
        (:func:`on_video_clock`), e.g. by a batched forward pass; only aligned here.

    Returns
    -------
    Aligned
        ``values`` ``(N, ...)``, ``grid`` of the N frames, ``meta`` for the sidecar.
    """
    # cheap checks first: bad options and unreadable files fail before any model or heavy import
    _check_recipe_options(method=method, edge=edge, rounding=rounding, anchor=anchor, window=window)
    fps_given = parse_fps(fps) if fps is not None else None
    if num_frames is not None and (isinstance(num_frames, bool) or int(num_frames) <= 0):
        raise InputError(f"bad number of frames {num_frames}: must be positive")
    if not isinstance(source, Audio):
        info = info if info is not None else probe(source)
        if info.audio is None:
            raise NoAudioError(f"{os.fspath(source)}: no audio stream")
    recipe = recipe if recipe is not None else make_recipe(preset, feature=feature, model=model,
                                                          device=device, **options)
    is_preset = isinstance(recipe, _systems.Preset)
    audio = read_audio(source, recipe, info=info, channel=channel, resampler=resampler)
    source_name = audio.meta.get("source", "<array>") if isinstance(source, Audio) else os.fspath(source)
    video = info.video if info is not None else None

    audio = on_video_clock(audio, offset_ms)

    fps_f = fps_given if fps_given is not None else (video.fps if video is not None else None)
    vgrid: FrameGrid | None = None
    video_frames = None
    if video is not None:
        vgrid = video.grid()
        video_frames = video.num_frames
        if fps is not None and fps_f != video.fps:
            # an explicit rate overrides the video's: same span, frames counted at the new rate
            video_frames = round_number(video.num_frames * fps_f / video.fps, rounding)
            vgrid = None
    if num_frames is not None:  # validated at the top
        video_frames = int(num_frames)
        if vgrid is not None and vgrid.num_frames != video_frames:
            vgrid = vgrid.with_frames(video_frames)

    if is_preset:
        aligned = recipe.apply(audio, fps=fps_f, video_frames=video_frames, model=model, device=device)
        recipe_dict = {"preset": recipe.name, **recipe.options}
        source_grid = None
    else:
        feats = features if features is not None else recipe.extract(audio)
        if feats.num_frames != recipe.num_frames(audio.num_samples):
            raise InputError(f"features of {feats.num_frames} frames given for audio that gives "
                             f"{recipe.num_frames(audio.num_samples)}")
        source_grid = feats.grid.to_dict()
        recipe_dict = feats.config
        if fps_f is None:
            aligned = Aligned(feats.values, feats.grid, {"method": "native", "source_grid": source_grid})
        else:
            aligned = _align(feats, fps=fps_f, num_frames=video_frames, video=vgrid, duration=audio.duration,
                             method=method, window=window, anchor=anchor, edge=edge, rounding=rounding)
    meta = {
        "avalign": "feature file",
        "source": source_name,
        "preset": recipe.name if is_preset else None,
        "feature": recipe.feature if is_preset else recipe.name,
        "recipe": recipe_dict,
        "model": None if model is None else str(model),
        "grid": aligned.grid.to_dict(),
        "source_grid": source_grid,
        "align": {k: v for k, v in aligned.meta.items() if k != "source_grid"},
        "audio": {
            "sample_rate": audio.sample_rate, "num_samples": audio.num_samples,
            "duration": float(audio.duration), **{k: v for k, v in audio.meta.items() if k != "source"},
        },
        "offsets": {
            "audio_start_on_video_clock": float(info.audio_offset) if info is not None else 0.0,
            "offset_ms": float(offset_ms),
        },
        "video": None if video is None else {
            "fps": fraction_str(video.fps), "num_frames": video.num_frames,
            "start_time": float(video.start_time), "vfr": video.vfr,
        },
        "fps": None if fps_f is None else fraction_str(fps_f),
        "versions": versions(),
    }
    return Aligned(aligned.values, aligned.grid, meta)
