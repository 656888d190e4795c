"""Presets on DeepSpeech v0.1.0 logits: VOCA, AD-NeRF, RAD-NeRF / ER-NeRF (DeepSpeech path), DINet.

All four read 16 kHz int16 audio, compute the 50 Hz logits (``N50`` rows,
:class:`~avalign.systems.steps.DeepSpeechLogits`) and then:

- ``voca``: ``np.interp`` on times ``j/50 -> k/60`` to ``N = round(n/16000*60)``
  rows (edges held); 8 zero rows each side; frame ``k`` gets rows
  ``[k-8, k+8)``: ``[N, 16, 29]`` float64.
- ``ad-nerf``: the same at 50 -> 50 to ``R = round(n/16000*50)`` rows; a first
  window pass of size 1 (``range(0, R-1)``) drops the last row; 8 zero rows
  each side; frame ``k`` gets rows ``[2k-8, 2k+8)`` stride 2:
  ``[ceil((R-1)/2), 16, 29] = [R // 2, 16, 29]`` float64 (``aud.npy``).
- ``nerf-deepspeech``: the identical array under RAD-NeRF's / ER-NeRF's file
  name ``aud_ds.npy``.
- ``dinet``: logits ``[::2]`` (25 per second, ``N25 = ceil(N50/2)`` rows);
  ``layout="features"`` (default) returns them ``[N25, 29]`` float32 (what
  DINet's data processing stores as ``<clip>_deepspeech.txt``);
  ``layout="windows"`` returns what its inference loop feeds the network:
  edge-replicated by 2, frame ``k`` gets rows ``[k-2, k+3)`` transposed to
  ``[29, 5]``, and the loop ``range(5, N25 + 4)`` yields ``N25 - 1`` frames
  (the last frame is never synthesised): ``[N25 - 1, 29, 5]``.

Counts use the duration of the 16 kHz audio the preset receives. The
published scripts take the duration of the file before resampling
(``len(audio) / sr``); for a 16 kHz file the two agree, for other rates they
can differ by one row when ``d * fps`` lies within ``fps / 16000`` of a
rounding boundary. 16-bit PCM WAVs are read as the scripts read them
(:func:`~avalign.systems.base.lineage_audio`, bit-identical input).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from .base import Option, Preset, Reader, lineage_audio
from .layouts import ByOption, Every, TimeInterp, Windows
from .steps import DeepSpeechLogits

RATE = 50  # DeepSpeech steps per second

#: The lineage reads int16 WAVs, keeps the first channel, resamples with resampy.
LINEAGE = Reader(resampler="kaiser_best", scale="int16", channel=0, lineage=True)


def rows_at(req, fps: int) -> int:
    """``int(round(len / sr * fps))`` in the scripts' float arithmetic (Python rounds halves to even)."""
    return int(round(float(req.n_samples) / req.sample_rate * fps))


_COMMON = dict(reader=LINEAGE, feature=DeepSpeechLogits(), needs_model=True)

VOCA = Preset(
    name="voca", system="VOCA (TimoBolkart/voca)",
    rule="np.interp 50 -> 60 fps to round(d*60) rows; zero-pad 8; frame k gets rows [k-8, k+8)",
    shape="[round(d*60), 16, 29]", fixed_fps=Fraction(60),
    count=lambda req: rows_at(req, 60),
    layout=Windows(size=16, anchor=-8, edge="zeros", before=TimeInterp(RATE, 60, lambda req: rows_at(req, 60))),
    file_name=None,  # VOCA keeps the windows in memory (processed_audio), it saves no array file
    too_short="VOCA needs audio for at least one 60 fps frame", **_COMMON)

AD_NERF = Preset(
    name="ad-nerf", system="AD-NeRF (YudongGuo/AD-NeRF)",
    rule=("np.interp 50 -> 50 to R = round(d*50) rows; a size-1 window pass drops the last row; "
          "zero-pad 8; frame k gets rows [2k-8, 2k+8)"),
    shape="[ceil((R-1)/2), 16, 29]", fixed_fps=Fraction(25),
    count=lambda req: rows_at(req, 50) // 2,  # == ceil((R - 1) / 2) for R >= 0
    layout=Windows(start=lambda req: 2 * np.arange(req.rows), size=16, anchor=-8, edge="zeros",
                   before=TimeInterp(RATE, 50, lambda req: rows_at(req, 50), drop_last=True)),
    file_name="aud.npy", too_short="AD-NeRF needs audio for at least one 25 fps frame", **_COMMON)

NERF_DEEPSPEECH = dataclasses.replace(
    AD_NERF, name="nerf-deepspeech", file_name="aud_ds.npy",
    system="RAD-NeRF (ashawkey/RAD-NeRF), ER-NeRF (Fictionarry/ER-NeRF): DeepSpeech features")


def _n25(req) -> int:
    return (req.frames + 1) // 2


DINET = Preset(
    name="dinet", system="DINet (MRzzm/DINet)",
    rule=("logits [::2] (25 fps); layout=windows: edge-pad 2, frame k gets rows [k-2, k+3) as [29, 5], "
          "the loop yields N25-1 frames"),
    shape="[N25, 29] (layout=features) or [N25-1, 29, 5] (layout=windows)", fixed_fps=Fraction(25),
    count=lambda req: _n25(req) if req.options.layout == "features" else max(_n25(req) - 1, 0),
    layout=ByOption("layout", {
        "features": Windows(view="squeeze", before=Every(2)),
        "windows": Windows(size=5, anchor=-2, edge="clamp", view="channels", before=Every(2)),
    }),
    options_spec={"layout": Option("features", choices=("features", "windows"),
                                   help="features: the stored [N25, 29]; windows: the network's [29, 5] inputs")},
    file_name=None,  # DINet writes <clip>_deepspeech.txt with np.savetxt, not an .npy
    too_short="DINet needs audio for at least one 25 fps frame", **_COMMON)


__all__ = ["AD_NERF", "DINET", "NERF_DEEPSPEECH", "VOCA", "lineage_audio", "rows_at"]
