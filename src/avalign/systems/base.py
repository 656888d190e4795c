"""The preset form: a published system's recipe from audio to its array, as data.

A :class:`Preset` is a frozen description with four parts:

- a :class:`Reader`: how the system reads its audio (rate, resampler, float or
  int16 scale, channel, and the DeepSpeech lineage's own WAV reader);
- a *feature step* (:mod:`avalign.systems.steps`): audio -> time-major feature
  frames, each frame ``t`` computed from samples ``[hop*t + lo, hop*t + hi)``;
- a *count rule* ``count(req) -> rows`` and a *layout*
  (:mod:`avalign.systems.layouts`): which feature frames each output row
  receives and in which array layout;
- *options*: a frozen dataclass built from :class:`Option` declarations;
  unknown names are refused with the list of known ones.

Everything a command needs derives from these: :meth:`Preset.num_frames`
(the count), :meth:`Preset.sources` (the samples each row receives, from the
layout's frame indices and the step's frame span), :meth:`Preset.apply` (the
array, checked against the count, carrying its spans). Adding a preset is a
``Preset(...)`` block in a ``systems`` module plus a registry line.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .. import budget
from ..errors import AudioTooShortError, InputError
from ..framed import Aligned
from ..media import Audio
from ..timing import FrameGrid, fraction_str, parse_fps


# ---------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """How a system reads its audio file.

    Attributes
    ----------
    sample_rate : int
        Hz the system computes on.
    resampler : str
        ``soxr_hq`` (librosa >= 0.10) or ``kaiser_best`` (resampy, librosa < 0.10).
    scale : str
        ``float`` ([-1, 1]) or ``int16`` (16-bit magnitudes).
    channel : int or "mean"
        Mix-down of multi-channel audio: the mean, or one channel kept.
    lineage : bool
        16-bit PCM WAVs are read as the DeepSpeech scripts read them
        (``scipy.io.wavfile``, resampy, ``astype(int16)``).
    loudness : float or None
        Target LUFS the system normalises the decoded array to (ITU-R BS.1770,
        :mod:`avalign.loudness`, measured at :attr:`sample_rate` after the mix-down), or None.
    """

    sample_rate: int = 16000
    resampler: str = "soxr_hq"
    scale: str = "float"
    channel: int | str = "mean"
    lineage: bool = False
    loudness: float | None = None

    def loudness_target(self, loudness=None) -> float | None:
        """The target LUFS for a run: the system's (``loudness=None``), another one, or None for ``"off"``."""
        from ..loudness import parse_target

        return self.loudness if loudness is None else parse_target(loudness)

    def read(self, path, *, info=None, channel=None, resampler=None, loudness=None) -> Audio:
        """Decode ``path`` as the system does (``channel`` / ``resampler`` / ``loudness`` override the system's)."""
        from ..media import load_audio

        if (self.lineage and channel is None and resampler is None and info is not None and info.video is None
                and info.audio is not None and info.audio.codec == "pcm_s16le" and info.format == "wav"):
            audio = lineage_audio(path, self.sample_rate)
        else:
            audio = load_audio(path, self.sample_rate, channel=self.channel if channel is None else channel,
                               resampler=resampler or self.resampler, scale=self.scale, info=info)
        return normalise_loudness(audio, self.loudness_target(loudness))

    def convert(self, audio: Audio, *, resampler=None, loudness=None) -> Audio:
        """``audio`` (decoded elsewhere) at :attr:`sample_rate`, resampled and normalised as the system does
        (audio whose ``meta`` records a loudness normalisation is not normalised again)."""
        if audio.sample_rate != self.sample_rate:
            from ..media import resample

            x = resample(audio.samples, orig_sr=audio.sample_rate, target_sr=self.sample_rate,
                         resampler=resampler or self.resampler)
            audio = Audio(x, self.sample_rate, audio.start, audio.scale, dict(audio.meta))
        return normalise_loudness(audio, self.loudness_target(loudness))


def normalise_loudness(audio: Audio, target: float | None) -> Audio:
    """``audio`` normalised to ``target`` LUFS (:func:`avalign.loudness.normalise`); unchanged when ``target``
    is None or ``audio.meta`` already records a normalisation."""
    if target is None or "loudness" in audio.meta:
        return audio
    from ..loudness import normalise

    return normalise(audio, target)


def lineage_audio(path, sample_rate: int = 16000) -> Audio:
    """A WAV read exactly as the DeepSpeech scripts read it (first channel, resampy, int16 cast), at 16 kHz.

    ``meta`` records the source rate and length.
    """
    from ..features.deepspeech import read_wav

    x, sr, n = read_wav(path)
    audio = Audio.from_array(x.astype(np.float32), sample_rate, scale="int16")
    return Audio(audio.samples, sample_rate, audio.start, "int16",
                 {"source": str(path), "source_sample_rate": sr, "source_num_samples": n,
                  "reader": "scipy.io.wavfile + resampy + astype(int16)"})


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One preset option: its default and, optionally, the values it may take."""

    default: Any
    choices: tuple | None = None
    help: str = ""

    def coerce(self, preset: str, name: str, value):
        """``value`` as the option's type (from the CLI it may be a string), or InputError."""
        from ..features.base import coerce_value

        kind = type(self.default)
        if kind in (bool, int, float, str):  # a None default takes anything its step accepts
            value = coerce_value(value, kind, what=f"option {name!r} of preset {preset!r}")
        if self.choices is not None and value not in self.choices:
            raise InputError(f"bad value {value!r} for option {name!r} of preset {preset!r}; expected one of "
                             f"{', '.join(map(repr, self.choices))}")
        return value


@dataclass(frozen=True)
class NoOptions:
    """Options of a preset that takes none."""


def options_type(preset: str, spec: dict[str, Option]) -> type:
    """A frozen dataclass with one field per option of ``spec`` (defaults from the :class:`Option`).

    Made once per preset and spec: building a dataclass costs about a millisecond,
    paid on every clip of a batch before this was cached.
    """
    if not spec:
        return NoOptions
    try:
        return _options_type(preset, tuple((k, type(o.default), o) for k, o in spec.items()))
    except TypeError:  # pragma: no cover - an unhashable default (no preset has one): build it each time
        return _make_options_type(preset, spec)


@functools.lru_cache(maxsize=256)
def _options_type(preset: str, items: tuple) -> type:
    return _make_options_type(preset, {k: o for k, _, o in items})  # the key has each default's type: 1 != True


def _make_options_type(preset: str, spec: dict[str, Option]) -> type:
    name = "".join(part.capitalize() for part in preset.replace("-", "_").split("_")) + "Options"
    return dataclasses.make_dataclass(name, [(k, Any, field(default=o.default)) for k, o in spec.items()],
                                      frozen=True)


def parse_options(preset: str, spec: dict[str, Option], given: dict):
    """``given`` checked against ``spec``: unknown names refused (listing the known ones), values coerced."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise InputError(f"unknown option(s) for preset {preset!r}: {', '.join(unknown)}; known: {known}")
    values = {k: spec[k].coerce(preset, k, v) for k, v in given.items()}
    return options_type(preset, spec)(**values)


# ---------------------------------------------------------------------------
# Request: one run's facts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What the count rule and the layout see.

    ``n_samples`` at the reader's rate; ``fps`` the rate the system runs at;
    ``video_frames`` the video's frame count (None for audio alone);
    ``options`` the preset's bound options; ``frames`` the feature step's
    frames for ``n_samples``; ``rows`` the output rows (after counting).
    """

    n_samples: int
    fps: Fraction
    video_frames: int | None
    options: Any
    frames: int = 0
    rows: int = 0
    sample_rate: int = 16000


# ---------------------------------------------------------------------------
# Preset
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A published system's recipe (see the module docstring).

    Attributes
    ----------
    name, system, rule, shape : str
        Preset name, source system and files, the per-frame rule in one sentence, the output shape rule.
    reader : Reader
    feature : Step
        The feature step (:mod:`avalign.systems.steps`); ``feature.family`` names the feature kind.
    count : callable
        ``count(req) -> int``: the exact number of output rows.
    layout : Layout
        Rows from feature frames (:mod:`avalign.systems.layouts`).
    fixed_fps : Fraction or None
        The rate hard-coded by the system; another explicit fps is refused.
    default_model : str or None
        The checkpoint the system uses.
    models : (str, dict) or None
        Where an option chooses the checkpoint: the option's name and ``{value: model id}``
        (``default_model`` then follows the bound option).
    rates : (str, dict) or None
        Where an option chooses the system's fixed rate (UniTalker's dataset): the option's name and
        ``{value: fps}`` (``fixed_fps`` then follows the bound option).
    needs_model : bool
    file_name : str or None
        The file name the system saves this array under (``batch --system-names``).
    options : dict of Option
        The options a user may set; :attr:`opts` holds the bound values.
    too_short : str
        What the system needs at least, said when no row fits.
    report : callable or None
        ``report(req) -> dict``: what the system cuts or pads on this input (audio it never reads,
        frames it drops), merged into the array's metadata (the sidecar's ``align``); empty when nothing is.
    """

    name: str
    system: str
    rule: str
    shape: str
    feature: Any
    count: Callable[[Request], int]
    layout: Any
    reader: Reader = Reader()
    fixed_fps: Fraction | None = None
    default_model: str | None = None
    models: tuple | None = None
    rates: tuple | None = None
    needs_model: bool = False
    file_name: str | None = None
    options_spec: dict = field(default_factory=dict, repr=False)
    too_short: str = "more audio"
    report: Callable[[Request], dict] | None = None
    opts: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.opts is None:
            object.__setattr__(self, "opts", options_type(self.name, self.options_spec)())
        if self.models is not None:
            option, ids = self.models
            object.__setattr__(self, "default_model", ids[getattr(self.opts, option)])
        if self.rates is not None:
            option, rates = self.rates
            object.__setattr__(self, "fixed_fps", Fraction(rates[getattr(self.opts, option)]))

    def bind(self, **options) -> "Preset":
        """This preset with ``options`` set (checked: unknown names and bad values raise InputError)."""
        return dataclasses.replace(self, opts=parse_options(self.name, self.options_spec, options))

    # -- what the reader gives ---------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.reader.sample_rate

    @property
    def resampler(self) -> str:
        return self.reader.resampler

    @property
    def scale(self) -> str:
        return self.reader.scale

    @property
    def options(self) -> dict:
        """The options set by the user (non-default values only), JSON-able."""
        default = options_type(self.name, self.options_spec)()
        return {k: v for k, v in dataclasses.asdict(self.opts).items() if getattr(default, k) != v}

    def read_audio(self, path, *, info=None, channel=None, resampler=None, loudness=None) -> Audio:
        """Decode ``path`` as the system reads it (:meth:`Reader.read`)."""
        return self.reader.read(path, info=info, channel=channel, resampler=resampler, loudness=loudness)

    # -- the contract --------------------------------------------------------

    def resolve_fps(self, fps) -> Fraction:
        """The rate the system runs at: its fixed rate (another explicit ``fps`` is refused), else ``fps``."""
        if self.fixed_fps is not None:
            if fps is not None and parse_fps(fps) != self.fixed_fps:
                raise InputError(f"preset {self.name!r} runs at {fraction_str(self.fixed_fps)} fps only "
                                 f"({self.system.split(' (')[0]} hard-codes it); got --fps {fraction_str(parse_fps(fps))}")
            return Fraction(self.fixed_fps)
        if fps is None:
            raise InputError(f"preset {self.name!r} needs a frame rate: pass --fps or a video file")
        return parse_fps(fps)

    def rate_on(self, video_fps) -> Fraction:
        """The rate the system runs at on a video of ``video_fps`` (its fixed rate when it has one)."""
        return Fraction(self.fixed_fps) if self.fixed_fps is not None else parse_fps(video_fps)

    def request(self, n_samples: int, fps, video_frames: int | None = None) -> Request:
        """The counted :class:`Request` for ``n_samples`` at ``fps`` (the system's rate when fixed)."""
        f = Fraction(self.fixed_fps) if self.fixed_fps is not None else parse_fps(fps)
        n = int(n_samples)
        req = Request(n, f, None if video_frames is None else int(video_frames), self.opts,
                      frames=self.feature.frames(n, self.opts), sample_rate=self.sample_rate)
        self._check_rows(req)
        return dataclasses.replace(req, rows=max(int(self.count(req)), 0))

    #: Bytes per row of the index arrays that counting and :meth:`sources` build (starts, spans, float times).
    INDEX_BYTES = 32

    def _check_rows(self, req: Request) -> None:
        """Refuse (BudgetError) a request whose rows, bounded from its shapes before any count rule runs, would
        not fit the budget even as row indices: every rule gives at most about ``2 * (d * fps + frames + V)``
        rows (``d`` seconds, ``frames`` feature frames, ``V`` video frames)."""
        per_second = -(-req.n_samples * req.fps.numerator // (req.sample_rate * req.fps.denominator))
        bound = 2 * (per_second + req.frames + (req.video_frames or 0)) + 16
        budget.check(budget.nbytes(bound, itemsize=self.INDEX_BYTES),
                     f"up to {bound} rows of preset {self.name} for {req.n_samples} samples at "
                     f"{fraction_str(req.fps)} fps, {self.INDEX_BYTES} bytes of indices each")

    def num_frames(self, n_samples: int, fps=None, video_frames: int | None = None) -> int:
        """Exact number of output rows for ``n_samples`` samples at ``fps`` (pure)."""
        return self.request(n_samples, fps, video_frames).rows

    def sources(self, n_samples: int, fps=None, video_frames: int | None = None) -> np.ndarray:
        """Audio each output row receives: ``[start, end)`` in samples, int64 ``(rows, 2)``.

        Derived from the layout's feature-frame indices and the feature step's
        frame span; spans reach before 0 or past ``n_samples`` where the system pads.
        """
        req = self.request(n_samples, fps, video_frames)
        first, last = self.layout.sources(req, self.feature)
        return self.feature.span(first, last)

    def compute(self, audio: Audio, *, fps=None, video_frames: int | None = None, model=None,
                device=None) -> np.ndarray:
        """The system's array for ``audio`` (at :attr:`sample_rate`), ``(rows, ...)``."""
        req = self.request(audio.num_samples, fps, video_frames)
        if req.rows == 0:
            raise AudioTooShortError(
                f"audio of {audio.num_samples} samples ({audio.num_samples / self.sample_rate * 1000:.1f} ms) "
                f"gives no {self.name} rows: {self.too_short}")
        values = self.feature.compute(audio, req, model=model, device=device)
        self._check_layout(values, req)
        return self.layout.apply(values, req)

    def _check_layout(self, values: np.ndarray, req: Request) -> None:
        """Refuse (BudgetError) rows whose array, estimated from the feature values' row size and the layout's
        window, would not fit the budget (the gathered windows and their contiguous copy)."""
        layout = self.layout.pick(req) if hasattr(self.layout, "pick") else self.layout
        size = int(getattr(layout, "size", 1) or 1)
        width = 1
        for d in values.shape[1:]:
            width *= int(d)
        budget.check(2 * budget.nbytes(req.rows, size, width, itemsize=max(values.dtype.itemsize, 4)),
                     f"{req.rows} rows x {size} x {width} {values.dtype} of preset {self.name}")

    def arrange(self, values: np.ndarray, n_samples: int, fps=None, video_frames: int | None = None) -> np.ndarray:
        """The layout stage alone: the system's rows from feature values ``(frames, ...)`` already computed
        (by :attr:`feature`) on ``n_samples`` samples."""
        return self.layout.apply(values, self.request(n_samples, fps, video_frames))

    def apply(self, audio: Audio, *, fps=None, video_frames: int | None = None, model=None, device=None) -> Aligned:
        """Run the preset on ``audio``: the array on the system's frame grid, with each row's sample spans."""
        if audio.sample_rate != self.sample_rate:
            raise InputError(f"preset {self.name!r} needs audio at {self.sample_rate} Hz, got {audio.sample_rate}")
        f = self.resolve_fps(fps)
        values = self.compute(audio, fps=f, video_frames=video_frames, model=model, device=device)
        req = self.request(audio.num_samples, f, video_frames)
        if values.shape[0] != req.rows:
            raise AssertionError(f"preset {self.name}: produced {values.shape[0]} rows, formula says {req.rows}")
        grid = FrameGrid.from_video(f, req.rows)
        meta = {"preset": self.name, "system": self.system, "rule": self.rule, "shape_rule": self.shape,
                "fps": fraction_str(f), "options": self.options}
        if self.report is not None:
            meta.update(self.report(req))
        return Aligned(np.ascontiguousarray(values), grid, meta, spans=self.sources(audio.num_samples, f, video_frames))

    def describe(self) -> dict:
        """JSON-able summary for ``avalign presets``."""
        return {"name": self.name, "system": self.system, "rule": self.rule, "shape": self.shape,
                "sample_rate": self.sample_rate, "fps": None if self.fixed_fps is None else str(self.fixed_fps),
                "feature": self.feature.family, "model": self.default_model, "needs_model": self.needs_model,
                "options": {k: o.default for k, o in self.options_spec.items()}}

    @property
    def family(self) -> str:
        """The feature kind (``mel``, ``mfcc``, ``deepspeech``, ``hubert``, ``whisper`` ...)."""
        return self.feature.family


__all__ = ["NoOptions", "Option", "Preset", "Reader", "Request", "lineage_audio", "normalise_loudness", "options_type",
           "parse_options"]
