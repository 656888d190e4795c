"""The preset contract: a published system's exact recipe from audio to its array.

A :class:`Preset` names its source system, the per-frame rule in one
sentence, the output shape rule and an exact count formula
(:meth:`Preset.num_frames`). :meth:`Preset.apply` runs :meth:`Preset.compute`
and checks the produced rows against the formula.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from ..align import Aligned
from ..errors import InputError
from ..media import Audio
from ..timing import FrameGrid, parse_fps


class Preset:
    """Base class of presets. Subclasses set the class attributes and implement
    :meth:`num_frames` and :meth:`compute`.

    Attributes
    ----------
    name : str
        Preset name (``wav2lip``).
    system : str
        Source system and repository (``Wav2Lip (Rudrabha/Wav2Lip)``).
    rule : str
        The per-frame rule in one sentence.
    shape : str
        Output shape rule (``[K, 80, 16]``).
    sample_rate : int
        Hz of the audio the system reads.
    fixed_fps : Fraction or None
        The frame rate hard-coded by the system (25 for SadTalker), else None.
    resampler, scale, channel :
        How the system's audio is loaded (see :func:`avalign.load_audio`): resampler,
        float or int16 scale, and mono mix-down (``"mean"`` or a channel index).
    feature : str
        The feature family it uses (for ``check`` and ``explain``).
    needs_model : bool
        Whether ``model`` must be given (or a default id is used).
    default_model : str or None
        The checkpoint the system uses.
    file_name : str or None
        The file name the system saves this array under (``aud_hu.npy``), for ``batch --system-names``.
    """

    name: ClassVar[str]
    system: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    shape: ClassVar[str] = ""
    sample_rate: ClassVar[int] = 16000
    fixed_fps: ClassVar[Fraction | None] = None
    resampler: ClassVar[str] = "soxr_hq"
    scale: ClassVar[str] = "float"
    feature: ClassVar[str] = "mel"
    needs_model: ClassVar[bool] = False
    default_model: ClassVar[str | None] = None
    file_name: ClassVar[str | None] = None
    channel: ClassVar[int | str] = "mean"

    def __init__(self, **options: Any):
        self.options = options

    # -- contract -----------------------------------------------------------

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        """Exact number of output rows for ``n_samples`` samples at ``fps`` (pure)."""
        raise NotImplementedError

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None,
                device=None) -> np.ndarray:
        """The system's array for ``audio`` (at :attr:`sample_rate`)."""
        raise NotImplementedError

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        """Audio each output row receives: ``[start, end)`` in samples, shape ``(rows, 2)``, int64.

        Spans may reach before 0 or past ``n_samples`` where the system pads
        (zeros or replicated edges). Used by ``avalign explain``.
        """
        raise NotImplementedError(f"preset {self.name!r} does not describe its sample spans")

    # -- shared -------------------------------------------------------------

    def resolve_fps(self, fps) -> Fraction:
        """The fps to use: the system's fixed rate when it has one, else the given one (required)."""
        if self.fixed_fps is not None:
            return Fraction(self.fixed_fps)
        if fps is None:
            raise InputError(f"preset {self.name!r} needs a frame rate: pass --fps or a video file")
        return parse_fps(fps)

    def describe(self) -> dict:
        """JSON-able summary for ``avalign presets``."""
        return {"name": self.name, "system": self.system, "rule": self.rule, "shape": self.shape,
                "sample_rate": self.sample_rate, "fps": None if self.fixed_fps is None else str(self.fixed_fps),
                "feature": self.feature, "model": self.default_model}

    def read_audio(self, path, *, info=None, channel=None, resampler=None) -> Audio:
        """Decode ``path`` as the system reads its audio: :attr:`sample_rate`, :attr:`resampler`,
        :attr:`scale` and :attr:`channel`, unless ``channel`` / ``resampler`` are given.

        Override where a system's reader differs from a decoder's (the DeepSpeech
        lineage reads WAVs with ``scipy.io.wavfile`` and casts to int16).
        """
        from ..media import load_audio

        return load_audio(path, self.sample_rate, channel=self.channel if channel is None else channel,
                          resampler=resampler or self.resampler, scale=self.scale, info=info)

    def apply(self, audio: Audio, *, fps=None, video_frames: int | None = None, model=None, device=None) -> Aligned:
        """Run the preset on ``audio`` and check the row count against :meth:`num_frames`."""
        if audio.sample_rate != self.sample_rate:
            raise InputError(f"preset {self.name!r} needs audio at {self.sample_rate} Hz, got {audio.sample_rate}")
        f = self.resolve_fps(fps)
        values = self.compute(audio, fps=f, video_frames=video_frames, model=model, device=device)
        expected = self.num_frames(audio.num_samples, f, video_frames)
        if values.shape[0] != expected:
            raise AssertionError(f"preset {self.name}: produced {values.shape[0]} rows, formula says {expected}")
        grid = FrameGrid.from_video(f, expected)
        meta = {"preset": self.name, "system": self.system, "rule": self.rule, "shape_rule": self.shape,
                "fps": str(f), "options": dict(self.options)}
        return Aligned(np.ascontiguousarray(values), grid, meta)
