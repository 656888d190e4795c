"""Streaming: frame-aligned features as the audio arrives, with a stated latency.

::

    s = avalign.stream("wav2lip", fps=25, sample_rate_in=24000)
    for packet in tts_packets():          # int16 or float, any size
        rows = s.push(packet)             # rows of the video frames that became complete
        ...
    rows = s.flush()                      # the rest; all rows == avalign.extract on the whole audio
    s.latency, s.lookahead, s.frames_emitted, s.grid

Spectral features and presets stream bit-identical to :func:`avalign.extract`
on the whole audio at the model's rate. Neural encoders (HuBERT, wav2vec 2.0,
WavLM, Whisper on bounded windows) stream in chunks with a declared left context and look-ahead; their
rows equal :func:`offline_chunked` bit for bit (see docs/streaming.md for the
difference to full-context extraction).
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import InputError
from ..timing import parse_fps
from .chunks import read_chunks, write_chunk
from .core import Stream
from .rows import PRESET_ROWS, FeatureRows
from .sources import ChunkedFrames, SpectralFrames, chunk_segments

#: Neural chunking defaults, in encoder frames (20 ms): 200 ms per call, 1 s before, 200 ms after.
CHUNK, LEFT, RIGHT = 10, 50, 10


def default_method() -> str:
    """The alignment method :func:`avalign.extract` uses by default (streams follow it)."""
    from ..api import extract

    return inspect.signature(extract).parameters["method"].default


def presets() -> list[str]:
    """Presets that stream."""
    from .realtime import REALTIME

    return list(PRESET_ROWS) + list(REALTIME)


def chunked_view(extractor):
    """What a chunked stream runs for ``extractor``: a Whisper encoder on bounded windows, else itself."""
    from ..features.whisper import WhisperEncoder, WhisperWindows

    return WhisperWindows(extractor) if isinstance(extractor, WhisperEncoder) else extractor


def _source(extractor, *, chunk, left, right):
    from ..features.spectral import MFCC, Mel

    if isinstance(extractor, (Mel, MFCC)):
        return SpectralFrames(extractor), 1
    extractor = chunked_view(extractor)
    if getattr(extractor, "max_frames", None) is not None and left + chunk + right > extractor.max_frames:
        raise InputError(f"{extractor.name}: a window of left + chunk + right = {left + chunk + right} frames is "
                         f"longer than the model's {extractor.max_frames}")
    if hasattr(extractor, "receptive_field") and hasattr(extractor, "infer"):
        return ChunkedFrames(extractor, chunk=chunk, left=left, right=right), chunk
    raise InputError(f"feature {extractor.name!r} does not stream yet; streams run mel, mfcc, hubert, "
                     "wav2vec2, wavlm and whisper")


def stream(preset: str | None = None, *, feature: str | None = None, fps=None, model=None, device=None,
           sample_rate_in: int = 16000, method: str | None = None, window: int | None = None, anchor="start",
           edge: str | None = None, chunk: int = CHUNK, left: int = LEFT, right: int = RIGHT,
           **options) -> Stream:
    """A :class:`Stream` for a preset or a feature.

    Parameters
    ----------
    preset : str, optional
        A streaming preset (:func:`presets`): ``wav2lip``, ``sadtalker``, ``syncnet``, ``synctalk-mel``
        (bit-identical to offline) or a real-time system's loop (``rad-nerf-stream``, ...).
    feature : str, optional
        ``mel`` (default), ``mfcc``, a conv-front-end encoder (``hubert``, ``wav2vec2``, ``wavlm``
        with ``model=``) or ``whisper`` (``model=``; each call a bounded window, no 30 s padding, see
        docs/streaming-whisper.md); ``options`` go to its config.
    fps : optional
        Video frame rate (any, e.g. ``"30000/1001"``); presets with a fixed rate use theirs.
    sample_rate_in : int
        Hz of the packets; resampled to the model's rate with soxr's stream when different.
    method, window, anchor, edge :
        Alignment of a feature (see :func:`avalign.align`); default: :func:`avalign.extract`'s method.
    chunk, left, right : int
        Neural encoders: frames per model call, and frames of context before and after it (encoder
        frames: 20 ms for all of them; Whisper: ``left + chunk + right <= 1500``).
    """
    if preset is not None and feature is not None:
        raise InputError("give either a preset or a feature, not both")
    if preset is not None:
        return _preset_stream(preset, fps=fps, model=model, device=device, sample_rate_in=sample_rate_in,
                              **options)
    from .. import features

    if fps is None:
        raise InputError("a feature stream needs a frame rate (fps)")
    fps = parse_fps(fps)
    extra = {k: v for k, v in (("model", model), ("device", device)) if v is not None}
    extractor = features.create(feature or "mel", **extra, **options)
    source, period = _source(extractor, chunk=int(chunk), left=int(left), right=int(right))
    plan = FeatureRows(source, fps=fps, method=method or default_method(), window=window, anchor=anchor,
                       edge=edge)
    return Stream(source, plan, fps=fps, sample_rate_in=sample_rate_in, name=extractor.name, period=period)


def _preset_stream(name: str, *, fps, model, device, sample_rate_in, **options) -> Stream:
    from .realtime import REALTIME

    if name in REALTIME:
        return REALTIME[name](fps=fps, model=model, device=device, sample_rate_in=sample_rate_in, **options)
    if name not in PRESET_ROWS:
        from .. import presets as all_presets

        known = ", ".join(presets())
        if name in all_presets():
            raise InputError(f"preset {name!r} does not stream yet; streaming presets: {known}")
        raise InputError(f"unknown streaming preset {name!r}; streaming presets: {known}")
    from .. import preset as get_preset
    from ..features.spectral import MFCC, WAV2LIP_MEL, Mel

    p = get_preset(name, **options)
    f = p.resolve_fps(fps)
    extractor = MFCC(input_scale="int16") if p.family == "mfcc" else Mel(**WAV2LIP_MEL, pad_mode=p.opts.pad_mode)
    source = SpectralFrames(extractor)
    return Stream(source, PRESET_ROWS[name](p, source, fps=f), fps=f, sample_rate_in=sample_rate_in, name=name)


def offline_chunked(extractor, samples: np.ndarray, *, chunk: int = CHUNK, left: int = LEFT,
                    right: int = RIGHT) -> np.ndarray:
    """The frames a chunked neural stream makes, computed on the whole signal at once, ``(T, ...)``.

    Chunk ``c`` (frames ``[c*chunk, (c+1)*chunk)``) comes from one model call on
    the samples of frames ``[max(c*chunk - left, 0), (c+1)*chunk + right)``,
    normalised on their own; a call whose samples pass the end is cut at the
    last sample (a call that fits keeps its own end, as a stream that cannot
    know the end must). A :class:`~avalign.features.whisper.WhisperEncoder`
    runs on bounded windows (:class:`~avalign.features.whisper.WhisperWindows`).
    """
    x = np.asarray(samples, dtype=np.float32)
    extractor = chunked_view(extractor)
    window, hop = extractor.receptive_field
    total = extractor.num_frames(x.shape[0]) if x.shape[0] >= window else 0
    out = []
    for a in range(0, total, chunk):
        first, last, start, stop = (int(v) for v in chunk_segments(a, chunk=chunk, left=left, right=right,
                                                                   hop=hop, window=window))
        stop = min(stop, x.shape[0])
        y = extractor.infer([extractor.normalise(x[start:stop])])[0]
        out.append(y[a - first:min(a + chunk, total) - first])
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


__all__ = ["Stream", "default_method", "offline_chunked", "presets", "read_chunks", "stream", "write_chunk"]
