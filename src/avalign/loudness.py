"""Loudness normalisation (ITU-R BS.1770 integrated loudness, through ``pyloudnorm``).

The rule is the one the 2024-2025 systems that normalise apply to the 16 kHz
mono array they read (InfiniteTalk / MultiTalk ``loudness_norm``, EchoMimicV3
``infer_flash.py``)::

    meter = pyloudnorm.Meter(sample_rate)            # at the rate the model reads, after the mix-down
    measured = meter.integrated_loudness(x)          # LUFS
    if abs(measured) > 100: keep x                   # silence (-inf) or near-silence: unchanged
    else: x = pyloudnorm.normalize.loudness(x, measured, target)   # gain 10**((target - measured)/20)

The gain is applied in float64 and the result cast to float32; samples are
not clipped (a gain that pushes a peak past 1.0 leaves it there, as
``pyloudnorm`` does, with its warning silenced). ``pyloudnorm`` is the optional
extra ``loudness``, imported on first use.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from .errors import AudioTooShortError, InputError, MissingDependencyError

#: Loudness above this magnitude (LUFS) is left unchanged (the systems' ``abs(loudness) > 100`` rule).
SILENT_LUFS = 100.0
#: The BS.1770 gating block, in seconds: shorter audio has no integrated loudness.
BLOCK_SECONDS = 0.4
OFF = ("off", "none", "no")


def pyloudnorm():
    """The ``pyloudnorm`` module, or a :class:`MissingDependencyError` naming the extra."""
    try:
        import pyloudnorm as pyln
        import pyloudnorm.normalize  # noqa: F401  (submodule used below)
    except ImportError:
        raise MissingDependencyError("loudness normalisation needs pyloudnorm; install it with: "
                                     "pip install 'avalign[loudness]'") from None
    return pyln


def parse_target(value) -> float | None:
    """A loudness option -> target LUFS, or None for ``off``/``none``; InputError for anything else."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in OFF:
        return None
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise InputError(f"bad loudness {value!r}: expected a target in LUFS such as -23, or 'off'") from None
    if not math.isfinite(target) or not -70.0 <= target <= 0.0:
        raise InputError(f"bad loudness {value!r}: a target in LUFS must lie in [-70, 0]")
    return target


def measure(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4) of mono ``samples`` at ``sample_rate`` Hz."""
    n = len(samples)
    if n < BLOCK_SECONDS * sample_rate:
        raise AudioTooShortError(f"audio of {n} samples ({n / sample_rate * 1000:.1f} ms) is shorter than the "
                                 f"{BLOCK_SECONDS * 1000:.0f} ms block ITU-R BS.1770 measures loudness on")
    pyln = pyloudnorm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyln.Meter(sample_rate).integrated_loudness(samples))


def normalise(audio, target: float):
    """``audio`` (:class:`~avalign.media.Audio`, float scale) normalised to ``target`` LUFS (see the module).

    ``meta["loudness"]`` records the target, the measured input loudness, the
    rate it was measured at and whether a gain was applied.
    """
    if audio.scale != "float":
        raise InputError("loudness normalisation needs float samples; this reader gives int16 magnitudes")
    measured = measure(audio.samples, audio.sample_rate)
    record = {"target_lufs": float(target), "measured_lufs": measured if math.isfinite(measured) else None,
              "sample_rate": int(audio.sample_rate), "meter": "pyloudnorm (ITU-R BS.1770-4)"}
    if abs(measured) > SILENT_LUFS:
        record.update(applied=False, reason=f"|measured loudness| > {SILENT_LUFS:g} LUFS: left unchanged")
        x = audio.samples
    else:
        pyln = pyloudnorm()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # float64 in: the gain is applied in float64 on numpy 1 as on 2 (NEP 50 would keep float32 x float64)
            y = pyln.normalize.loudness(audio.samples.astype(np.float64), measured, float(target))
        record.update(applied=True, gain_db=float(target) - measured,
                      peak=float(np.max(np.abs(y))) if len(y) else 0.0)
        x = np.asarray(y, dtype=np.float32)
    return dataclasses.replace(audio, samples=x, meta={**audio.meta, "loudness": record})


__all__ = ["BLOCK_SECONDS", "SILENT_LUFS", "measure", "normalise", "parse_target", "pyloudnorm"]
