"""The extractor contract shared by every feature family.

An :class:`Extractor` is built from a frozen dataclass config, needs audio at
one ``sample_rate``, knows its exact output length for ``n`` samples
(:meth:`Extractor.num_frames`, pure) and the grid of its frames
(:meth:`Extractor.grid`), and turns :class:`~avalign.media.Audio` into
:class:`Features`. :meth:`Extractor.extract` checks the produced length
against the formula, so a formula that drifts from the code fails loudly.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import AudioTooShortError, InputError
from ..framed import Features
from ..media import Audio, resample
from ..timing import FrameGrid


def config_dict(config) -> dict:
    """A frozen dataclass config -> a JSON-able dict (tuples as lists)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


@functools.lru_cache(maxsize=None)
def _type_hints(config_type: type) -> dict:
    """``typing.get_type_hints`` of a Config class, once (it compiles every annotation string: ~1 ms)."""
    return typing.get_type_hints(config_type)


class Extractor(abc.ABC):
    """Base class of feature extractors.

    Subclasses set ``name`` and ``Config`` (a frozen dataclass with a
    ``sample_rate`` field), and implement :meth:`num_frames`, :meth:`grid`
    and :meth:`compute`. Options not in ``Config`` are refused.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config=None, **options: Any):
        if config is None:
            known = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(options) - known)
            if unknown:
                raise InputError(
                    f"unknown option(s) for feature {self.name!r}: {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )
            hints = _type_hints(self.Config)
            config = self.Config(**{k: coerce_value(v, hints.get(k), what=f"option {k!r} of feature {self.name!r}")
                                    for k, v in options.items()})
        elif options:
            config = dataclasses.replace(config, **options)
        self.config = config

    # -- contract -----------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Hz that :meth:`compute` expects."""
        return self.config.sample_rate

    @property
    def min_samples(self) -> int:
        """Fewest samples that give at least one frame."""
        return 1

    @abc.abstractmethod
    def num_frames(self, n_samples: int) -> int:
        """Exact number of output frames for ``n_samples`` samples (pure)."""

    @abc.abstractmethod
    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        """Frame grid for ``n_samples`` samples whose first sample sits at ``t0`` seconds."""

    @abc.abstractmethod
    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Samples ``(n,)`` at :attr:`sample_rate` -> values ``(num_frames(n), ...)``."""

    # -- shared behaviour ---------------------------------------------------

    def to_dict(self) -> dict:
        """The recipe: ``{"feature": name, **config}`` (JSON-able, round-trips through :func:`create`)."""
        return {"feature": self.name, **config_dict(self.config)}

    def prepare(self, audio: Audio) -> Audio:
        """Resample ``audio`` to :attr:`sample_rate` if needed and check its length and values."""
        if audio.sample_rate != self.sample_rate:
            audio = dataclasses.replace(
                audio, samples=resample(audio.samples, orig_sr=audio.sample_rate, target_sr=self.sample_rate),
                sample_rate=self.sample_rate)
        if audio.num_samples < self.min_samples:
            raise AudioTooShortError(
                f"audio of {audio.num_samples} samples ({float(audio.duration) * 1000:.1f} ms) is shorter than "
                f"the {self.min_samples} samples ({self.min_samples / self.sample_rate * 1000:.1f} ms) that "
                f"{self.name} needs for one frame"
            )
        if not np.all(np.isfinite(audio.samples)):
            raise InputError("audio contains NaN or infinite samples")
        return audio

    def extract(self, audio: Audio) -> Features:
        """Compute features of ``audio`` with their grid on the audio's clock."""
        audio = self.prepare(audio)
        values = self.compute(audio.samples)
        grid = self.grid(audio.num_samples, t0=audio.start)
        if values.shape[0] != grid.num_frames:
            raise AssertionError(
                f"{self.name}: produced {values.shape[0]} frames, formula says {grid.num_frames} "
                f"for {audio.num_samples} samples"
            )
        return Features(values, grid, self.to_dict())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _members(hint) -> tuple[list, bool]:
    """The concrete types of a field's annotation and whether None is allowed (``int | None``)."""
    if hint is None or hint is typing.Any:
        return [], True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        return [a for a in args if a is not type(None)], type(None) in args
    return [hint], False


def _convert(value, kind):
    """``value`` as ``kind`` (bool, int, float, str) or ValueError; no silent truncation of 2.5 to 2."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError
    if isinstance(value, bool):
        raise ValueError  # True is not a number here
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError
    if kind is float:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError
    if kind is str:
        if isinstance(value, (str, os.PathLike)):
            return value  # a model path stays as given
        if isinstance(value, (int, float)):
            return str(value)  # --option revision=1234 arrives as a JSON number
        raise ValueError
    return value  # other annotations (tuples, enums): passed through for the config to check


def coerce_value(value, hint, *, what: str):
    """``value`` (from the CLI: a JSON scalar or a string) as the type ``hint`` of a config field.

    ``int | None`` takes ``None``; a list becomes a tuple. Raises :class:`InputError` with one line
    naming ``what`` (``option 'n_mels' of feature 'mel'``), the value and the expected type.
    """
    if isinstance(value, list):
        value = tuple(value)
    kinds, optional = _members(hint)
    if value is None and optional:
        return None
    if not kinds or any(k not in _KIND_NAMES for k in kinds):
        return value
    exact = [k for k in kinds if type(value) is k]
    for kind in exact + [k for k in kinds if k not in exact]:
        try:
            return _convert(value, kind)
        except (TypeError, ValueError, OverflowError):
            continue
    expected = " or ".join(_KIND_NAMES[k] for k in kinds) + (" or null" if optional else "")
    raise InputError(f"bad value {value!r} for {what}: expected {expected}")

