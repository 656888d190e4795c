"""The recipe of a batch: what every clip goes through, and its hash.

A :class:`RecipeSpec` is a small picklable description (preset or feature,
parameters, model, package version) that worker processes and Ray actors turn
into one loaded recipe each (:meth:`RecipeSpec.build`). Its hash, combined
with a clip's own ``fps``/``num_frames``, decides whether an existing output
can be kept on a rerun.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..errors import InputError
from .sources import Clip


@dataclass(frozen=True)
class RecipeSpec:
    """Arguments of :func:`avalign.extract` shared by all clips of a batch.

    ``device`` is where the numbers are computed, not what they are, so it is
    left out of the hash; everything else (and the avalign version) is in it.
    """

    preset: str | None = None
    feature: str | None = None
    fps: str | None = None
    num_frames: int | None = None
    model: str | None = None
    device: str | None = None
    offset_ms: float = 0.0
    loudness: float | str | None = None
    options: dict = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, kw: dict) -> "RecipeSpec":
        """From :func:`avalign.cli.extract_cmd.recipe_kwargs`-style keywords (unknown keys are options)."""
        kw = dict(kw)
        known = {k: kw.pop(k) for k in ("preset", "feature", "fps", "num_frames", "model", "device", "offset_ms",
                                        "loudness") if k in kw}
        if known.get("loudness") is not None:
            from ..loudness import parse_target

            target = parse_target(known["loudness"])  # refused before any clip runs
            known["loudness"] = "off" if target is None else target
        if known.get("preset") and known.get("feature"):
            raise InputError("give either a preset or a feature, not both")
        if known.get("fps") is not None:
            known["fps"] = str(known["fps"])
        known["offset_ms"] = float(known.get("offset_ms") or 0.0)
        return cls(**known, options=kw)

    @property
    def kind(self) -> str:
        """``preset:wav2lip`` or ``feature:mel``."""
        return f"preset:{self.preset}" if self.preset else f"feature:{self.feature or 'mel'}"

    def identity(self) -> dict:
        """The JSON-able fields that define the numbers (hashed)."""
        return {
            "preset": self.preset, "feature": None if self.preset else (self.feature or "mel"),
            "fps": self.fps, "num_frames": self.num_frames, "model": self.model,
            "offset_ms": self.offset_ms, **({"loudness": self.loudness} if self.loudness is not None else {}),
            "options": {k: self.options[k] for k in sorted(self.options)},
            "avalign": __version__,
        }

    def clip_hash(self, clip: Clip) -> str:
        """Hash (16 hex digits) of this recipe applied to ``clip`` (its own fps/num_frames included)."""
        ident = self.identity()
        ident["clip_fps"] = clip.fps
        ident["clip_num_frames"] = clip.num_frames
        text = json.dumps(ident, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def build(self):
        """The loaded recipe (Preset or Extractor); done once per worker."""
        from ..pipeline import make_recipe

        return make_recipe(self.preset, feature=self.feature, model=self.model, device=self.device,
                           **self.options)

    def extract_kwargs(self, clip: Clip) -> dict[str, Any]:
        """Keywords of :func:`avalign.extract` for ``clip`` (without ``recipe``)."""
        return dict(fps=clip.fps or self.fps, num_frames=clip.num_frames or self.num_frames,
                    model=self.model, device=self.device, offset_ms=self.offset_ms, loudness=self.loudness)

    def file_name(self) -> str:
        """The system's own file name (``aud_hu.npy``) for ``--system-names``; ``<feature>.npy`` otherwise."""
        if self.preset:
            from .. import systems

            name = getattr(systems.get(self.preset, **self.options), "file_name", None)
            if name:
                return name
            return f"{self.preset}.npy"
        return f"{self.feature or 'mel'}.npy"
