"""The one-call Python API: ``extract(source, preset or feature, ...) -> Aligned``.

Flow: probe the source, decode its audio at the recipe's rate onto the video
clock (shifted by ``offset_ms``), then either run a preset or extract a
feature and align it to the video's frames (or to ``fps``).
"""

from __future__ import annotations

import os
from typing import Any

from . import budget as _budget
from . import systems as _systems
from .align import DEFAULT_METHOD, Aligned, align as _align
from .errors import InputError, NoAudioError
from .features import Features
from .media import Audio, MediaInfo
from .pipeline import _check_recipe_options, decode, video_frame_count, make_recipe, on_video_clock, read_audio, versions
from .timing import FrameGrid, fraction_str, parse_fps, round_number


@_budget.keyword
def extract(source, preset: str | None = None, *, feature: str | None = None, fps=None,
            num_frames: int | None = None, model=None, device=None, offset_ms: float = 0.0,
            method: str = DEFAULT_METHOD, window: int | None = None, anchor="start", edge: str | None = None,
            rounding: str = "floor", resampler: str | None = None, channel: int | str | None = None,
            loudness: float | str | None = None, recipe=None, info: MediaInfo | None = None,
            features: Features | None = None,
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
    loudness : float or "off", optional
        Normalise the decoded audio to this integrated loudness (LUFS, ITU-R BS.1770 via the extra
        ``loudness``: ``pip install 'avalign[loudness]'``) before anything else; default: the preset's own
        (InfiniteTalk, MultiTalk, EchoMimicV3: -23), none for a feature; ``"off"`` disables a preset's.
        The sidecar's ``audio.loudness`` records the target and the measured input loudness.
    recipe : Preset or Extractor, optional
        A prebuilt recipe (reused across files to load a model once).
    info : MediaInfo, optional
        With a decoded ``source`` (Audio): the probe of its file, so the video's
        frames and clock apply as if the file had been given (decode elsewhere, extract here).
    features : Features, optional
        The feature's values already computed on this audio on the video clock
        (:func:`on_video_clock`), e.g. by a batched forward pass; only aligned here.
    memory_budget : str or int, optional
        Memory budget for this call (``"2G"``, bytes); default ``AVALIGN_MEMORY_BUDGET``, else half the
        machine's available memory. A request estimated above it raises :class:`~avalign.errors.BudgetError`.

    Returns
    -------
    Aligned
        ``values`` ``(N, ...)``, ``grid`` of the N frames, ``meta`` for the sidecar.
    """
    # cheap checks first: bad options and unreadable files fail before any model or heavy import
    _check_recipe_options(method=method, edge=edge, rounding=rounding, anchor=anchor, window=window)
    if loudness is not None:
        from .loudness import parse_target

        parse_target(loudness)  # a bad value fails before any decoding
    fps_given = parse_fps(fps) if fps is not None else None
    if num_frames is not None and (isinstance(num_frames, bool) or int(num_frames) <= 0):
        raise InputError(f"bad number of frames {num_frames}: must be positive")
    if not isinstance(source, Audio) and info is None:
        from .media import probe

        info = probe(source)  # an unreadable file fails before any model is built
    if info is not None and info.audio is None and not isinstance(source, Audio):
        raise NoAudioError(f"{os.fspath(source)}: no audio stream")
    recipe = recipe if recipe is not None else make_recipe(preset, feature=feature, model=model,
                                                          device=device, **options)
    is_preset = isinstance(recipe, _systems.Preset)
    if is_preset and recipe.fixed_fps is not None:
        recipe.resolve_fps(fps_given)  # refuse another explicit rate before decoding
    audio, info = decode(source, recipe, info=info, offset_ms=offset_ms, channel=channel, resampler=resampler,
                         loudness=loudness)
    source_name = audio.meta.get("source", "<array>") if isinstance(source, Audio) else os.fspath(source)
    video = info.video if info is not None else None

    fps_f = fps_given if fps_given is not None else (video.fps if video is not None else None)
    vgrid: FrameGrid | None = None
    video_frames = None
    if video is not None:
        vgrid = video.grid()
        video_frames = video_frame_count(video.num_frames, video.fps, fps_given, rounding)
        if fps_given is not None and fps_given != video.fps:
            vgrid = None  # an explicit rate overrides the video's: same span, frames counted at the new rate
    if num_frames is not None:  # validated at the top
        video_frames = int(num_frames)
        if vgrid is not None and vgrid.num_frames != video_frames:
            vgrid = vgrid.with_frames(video_frames)

    if is_preset:
        # a fixed-rate system runs at its own rate whatever the video's (an explicit other --fps was refused above)
        run_fps = fps_given if recipe.fixed_fps is not None else fps_f
        aligned = recipe.apply(audio, fps=run_fps, video_frames=video_frames, model=model, device=device)
        fps_f = aligned.grid.rate
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
        "feature": recipe.family if is_preset else recipe.name,
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
    return Aligned(aligned.values, aligned.grid, meta, spans=aligned.spans)
