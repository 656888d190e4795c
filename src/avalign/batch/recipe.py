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


def recipe_id_of(identity: dict) -> str:
    """Hash (16 hex digits) of what a recipe computes: its identity without the avalign version.

    An output folder holds one recipe: a batch run with another id is refused
    unless it overwrites; a new avalign version recomputes in place.
    """
    ident = {k: v for k, v in identity.items() if k != "avalign"}
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SyncSpec:
    """Measure each clip's audio-video offset before extracting (``avalign.sync``), filter on it, maybe apply it.

    ``method``: ``onset`` or ``syncnet`` (``model``: the ``syncnet_v2.model`` weights).
    ``min_confidence``: clips whose confidence is lower are skipped. ``max_offset``: clips
    whose ``|offset_frames|`` (video frames) is larger are skipped. ``apply``: extract with
    the measured offset (recorded in the sidecar, as ``avalign sync --apply`` does).
    ``crop`` (``"x,y,w,h"``), ``vshift`` (frames) and ``seconds`` are :func:`avalign.sync`'s.
    """

    method: str = "onset"
    model: str | None = None
    min_confidence: float | None = None
    max_offset: float | None = None
    apply: bool = False
    crop: str | None = None
    vshift: int = 15
    seconds: float | None = None

    def identity(self) -> dict:
        """The fields that decide which clips are kept and what they hold (hashed with the recipe)."""
        return {"method": self.method, "model": self.model, "min_confidence": self.min_confidence,
                "max_offset": self.max_offset, "apply": self.apply, "crop": self.crop, "vshift": self.vshift,
                "seconds": self.seconds}

    def validate(self) -> None:
        """Refuse a bad method, threshold or model before any clip (InputError / ModelError)."""
        import math

        from ..sync import check_options

        check_options(method=self.method, vshift=self.vshift, seconds=self.seconds, crop=self.crop)
        for name in ("min_confidence", "max_offset"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                  or (name != "min_confidence" and v < 0)):
                raise InputError(f"bad {name.replace('_', '-')} {v!r}: expected a finite"
                                 f"{'' if name == 'min_confidence' else ' non-negative'} number")
        if self.method == "syncnet":
            if self.model is None:
                raise InputError("--sync syncnet needs the network's weights: --model syncnet_v2.model")
            self.net()  # a file that is not SyncNet's weights is refused here, not once per clip
        elif self.model is not None:
            raise InputError("a sync model goes with --sync syncnet only")

    def net(self, device: str | None = None):
        """The loaded SyncNet (once per process), or None for ``onset``."""
        if self.method != "syncnet":
            return None
        from ..sync import load_net

        return load_net(self.model, device=device or "cpu")

    def rejects(self, result) -> str | None:
        """Why a clip with the measured ``result`` is skipped, or None when it passes the thresholds."""
        if self.min_confidence is not None and not result.confidence >= self.min_confidence:
            return f"sync confidence {result.confidence:.3f} < --min-confidence {self.min_confidence:g}"
        if self.max_offset is not None and not abs(result.offset_frames) <= self.max_offset:
            return f"sync offset {result.offset_frames:+.2f} frames outside --max-offset {self.max_offset:g}"
        return None


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
    sync: SyncSpec | None = None

    @classmethod
    def from_kwargs(cls, kw: dict) -> "RecipeSpec":
        """From :func:`avalign.cli.extract_cmd.recipe_kwargs`-style keywords (unknown keys are options)."""
        kw = dict(kw)
        known = {k: kw.pop(k) for k in ("preset", "feature", "fps", "num_frames", "model", "device", "offset_ms",
                                        "sync", "loudness") if k in kw}
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
        ident = {
            "preset": self.preset, "feature": None if self.preset else (self.feature or "mel"),
            "fps": self.fps, "num_frames": self.num_frames, "model": self.model,
            "offset_ms": self.offset_ms, **({"loudness": self.loudness} if self.loudness is not None else {}),
            "options": {k: self.options[k] for k in sorted(self.options)},
            "avalign": __version__,
        }
        if self.sync is not None:  # absent without --sync, so existing folders keep their hashes
            ident["sync"] = self.sync.identity()
        return ident

    def recipe_id(self) -> str:
        """:func:`recipe_id_of` this recipe's :meth:`identity`."""
        return recipe_id_of(self.identity())

    def clip_hash(self, clip: Clip) -> str:
        """Hash (16 hex digits) of this recipe applied to ``clip`` (its own fps/num_frames included)."""
        ident = self.identity()
        ident["clip_fps"] = clip.fps
        ident["clip_num_frames"] = clip.num_frames
        text = json.dumps(ident, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self) -> None:
        """Refuse a bad frame rate, frame count or offset before any clip runs (:class:`InputError`)."""
        import math

        from ..timing import parse_fps

        if self.fps is not None:
            parse_fps(self.fps)
        if self.num_frames is not None and (isinstance(self.num_frames, bool) or not isinstance(self.num_frames, int)
                                            or self.num_frames <= 0):
            raise InputError(f"bad num_frames {self.num_frames!r}: must be a positive integer")
        if not math.isfinite(self.offset_ms):
            raise InputError(f"bad offset_ms {self.offset_ms!r}: must be a finite number of milliseconds")
        if self.sync is not None:
            if self.sync.apply and self.offset_ms:
                raise InputError("--apply-sync uses each clip's measured offset: give it or --offset-ms, not both")
            self.sync.validate()

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
