"""Presets of the systems that feed wav2vec2 / HuBERT / CTC features to their networks.

Every preset reproduces its system's array, quirks included (see
``conventions.md`` rows rad-nerf, er-nerf-hubert, geneface-hubert,
genefacepp-hubert, faceformer, hallo, aniportrait, emotalk). The model runs
through :mod:`avalign.features.ssl` (steps :class:`~avalign.systems.steps.HubertClips`,
:class:`~avalign.systems.steps.StreamedLogits`, :class:`~avalign.systems.steps.StretchedSSL`);
the rows are cut by :class:`~avalign.systems.layouts.Windows`.
The CNN-level stretch of FaceFormer, Hallo, AniPortrait and EmoTalk runs
inside the model (``F.interpolate(..., align_corners=True)`` on the conv
features, as those systems do).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..features.ssl import ceil_frames
from .base import Preset, Reader
from .layouts import Windows
from .steps import HubertClips, StreamedLogits, StretchedSSL, hubert_clips, rad_nerf_windows

SR = 16000

# ---------------------------------------------------------------------------
# HuBERT presets: ER-NeRF, GeneFace, GeneFace++ (get_hubert_from_16k_speech, T = (n-80)//320 frames)
# ---------------------------------------------------------------------------

_HUBERT = dict(feature=HubertClips(), default_model="facebook/hubert-large-ls960-ft", needs_model=True,
               too_short="HuBERT needs 400 samples (25 ms) for one frame")
_CLIPS = "get_hubert_from_16k_speech: whole-file normalisation, 20 s clips (80-sample overlap) each run alone, " \
         "forced to T=(n-80)//320 frames"

ER_NERF_HUBERT = Preset(
    name="er-nerf-hubert", system="ER-NeRF (Fictionarry/ER-NeRF), data_utils/hubert.py",
    rule=f"{_CLIPS}; odd T drops the last; frame k = HuBERT frames 2k, 2k+1",
    shape="[T//2, 2, 1024]", fixed_fps=Fraction(25), file_name="aud_hu.npy",
    count=lambda req: req.frames // 2,
    layout=Windows(start=lambda req: 2 * np.arange(req.rows), size=2), **_HUBERT)

GENEFACE_HUBERT = Preset(
    name="geneface-hubert", system="GeneFace (yerfor/GeneFace), data_util/process_audio_hubert.py + dataset",
    rule=f"{_CLIPS}; T zero-padded to a multiple of 8; rows stay at 50 Hz: 25 fps video frame k uses row 2k",
    shape="[ceil(T/8)*8, 1024]", fixed_fps=Fraction(50), file_name="aud_hubert.npy",
    count=lambda req: -(-req.frames // 8) * 8,
    layout=Windows(edge="zeros", view="squeeze"), **_HUBERT)

GENEFACEPP_HUBERT = Preset(
    name="genefacepp-hubert",
    system="GeneFace++ (yerfor/GeneFacePlusPlus), data_gen/utils/process_audio/extract_hubert.py + dataset",
    rule=f"{_CLIPS}; T truncated to a multiple of 8; rows at 50 Hz: 25 fps video frame k = mean of rows 2k, 2k+1",
    shape="[T//8*8, 1024]", fixed_fps=Fraction(50), file_name="aud_hubert.npy",
    count=lambda req: req.frames // 8 * 8,
    layout=Windows(view="squeeze"),
    **{**_HUBERT, "too_short": "GeneFace++ keeps whole multiples of 8 HuBERT frames (2640 samples, 165 ms)"})

# ---------------------------------------------------------------------------
# RAD-NeRF: streamed CTC logits
# ---------------------------------------------------------------------------

RAD_NERF = Preset(
    name="rad-nerf", system="RAD-NeRF (ashawkey/RAD-NeRF), nerf/asr.py (--asr_save_feats)",
    rule=("320-sample chunks after 10 zero chunks; windows of 10 left / 50 mid / 10 right chunks, each "
          "normalised alone; logits [10:-9] per window ([10:] at the end); M=(n-80)//320; unfold k16 pad 8 "
          "stride 2: frame j gets logits [2j-8, 2j+8)"),
    shape="[M//2+1, 16, 44]", fixed_fps=Fraction(25), file_name="aud_eo.npy",
    reader=Reader(resampler="kaiser_best"),  # asr.py resamples non-16 kHz files with resampy
    feature=StreamedLogits(), default_model="cpierse/wav2vec2-large-xlsr-53-esperanto", needs_model=True,
    count=lambda req: req.frames // 2 + 1,
    layout=Windows(start=lambda req: 2 * np.arange(req.rows), size=16, anchor=-8, edge="zeros"),
    too_short="the model needs 400 samples (25 ms) for one frame")

# ---------------------------------------------------------------------------
# CNN-level stretch: FaceFormer, Hallo, AniPortrait, EmoTalk
# ---------------------------------------------------------------------------

_STRETCH = dict(feature=StretchedSSL(), default_model="facebook/wav2vec2-base-960h", needs_model=True,
                layout=Windows(view="squeeze"), too_short="the model needs 400 samples (25 ms) for one frame")


def _ceil_30(req) -> int:
    """``N = ceil(n / 16000 * 30)`` in the systems' float arithmetic."""
    return ceil_frames(req.n_samples, 30)


FACEFORMER = Preset(
    name="faceformer", system="FaceFormer (EvelynFan/FaceFormer), wav2vec.py linear_interpolation (vocaset)",
    rule=("processor normalisation; conv features (512) stretched (align_corners) to N = video frames, "
          "or int(M/50*30) without a video, before the projection and transformer; last hidden state"),
    shape="[N, 768]", fixed_fps=Fraction(30),
    count=lambda req: int(req.video_frames) if req.video_frames is not None else int(req.frames / float(50) * 30),
    **_STRETCH)

ANIPORTRAIT = Preset(
    name="aniportrait",
    system="AniPortrait (Zejun-Yang/AniPortrait), src/audio_models (prepare_audio_feature, seq_len)",
    rule="processor normalisation; N = ceil(n/16000*30); conv features stretched to N; last hidden state",
    shape="[N, 768]", fixed_fps=Fraction(30), count=_ceil_30, **_STRETCH)

HALLO = Preset(
    name="hallo",
    system="Hallo (fudan-generative-vision/hallo), hallo/datasets/audio_processor.py + process_audio_emb",
    rule=("processor normalisation; N = ceil(n/16000*25); conv features stretched to N; hidden states 1..12 "
          "stacked; frame i gets frames [i-2, i+2] clamped (vocal separation not included)"),
    shape="[N, 5, 12, 768]", fixed_fps=Fraction(25),
    count=lambda req: ceil_frames(req.n_samples, 25),
    **{**_STRETCH, "feature": StretchedSSL(output="layers", skip_embeddings=True),
       "layout": Windows(size=5, anchor=-2, edge="clamp")})

EMOTALK = Preset(
    name="emotalk", system="EmoTalk (psyai-net/EmoTalk_release), model.py predict (content encoder only)",
    rule=("processor normalisation; N = ceil(n/16000*30); conv features stretched to N; last hidden state of "
          "the content encoder (the emotion stream is not included)"),
    shape="[N, 1024]", fixed_fps=Fraction(30), count=_ceil_30,
    **{**_STRETCH, "default_model": "jonatasgrosman/wav2vec2-large-xlsr-53-english"})


__all__ = ["ANIPORTRAIT", "EMOTALK", "ER_NERF_HUBERT", "FACEFORMER", "GENEFACEPP_HUBERT", "GENEFACE_HUBERT", "HALLO",
           "RAD_NERF", "hubert_clips", "rad_nerf_windows"]
