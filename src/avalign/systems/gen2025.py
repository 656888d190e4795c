"""Presets of the 2024–2026 systems on HuBERT, WavLM and Whisper: JoyVASA, Sonic, HunyuanVideo-Avatar,
UniTalker, Ditto (issue 15; the other systems of that issue live in ``gen2024.py``).

Each preset reproduces its system's array, quirks included (read at the systems' sources; see
``docs/presets-2025.md`` for the formulas and the files):

- ``joyvasa``: 4 s windows of HuBERT on raw samples, halved to 25 fps *after* the transformer
  (:class:`~avalign.systems.steps.MotionWindows`); 10 s of audio give 253 frames (the 1280 + 640
  zeros it adds count as frames).
- ``sonic``: whisper-tiny on 30 s windows, 10 states per 12.5 fps frame (or the 50-state window of its
  motion bucket), :class:`~avalign.systems.steps.WhisperStates`.
- ``hunyuan-avatar``: the first 30 s of log-mel only, at most 400 frames, 25 or 12.5 fps
  (:class:`~avalign.systems.steps.FirstWhisperWindow`); what it cuts goes to the sidecar.
- ``unitalker``: 25 s splits every 20 s, states stretched after the transformer to
  ``round(len/16000*fps)`` at the dataset's rate, cross-faded (:class:`~avalign.systems.steps.SplitStretch`).
- ``ditto``: its offline loop, 6480-sample chunks every 5 frames, state pairs averaged
  (:class:`~avalign.systems.steps.ChunkPairs`); its online mode is streaming work.

Arrays are float32; the models run in float32 as these systems run their audio encoders.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..errors import AudioTooShortError, InputError
from ..timing import fraction_str
from .base import Option, Preset
from .layouts import ByOption, Pick, Truncate, Windows
from .steps import (ChunkPairs, FirstWhisperWindow, MotionWindows, SplitStretch, WhisperStates, joyvasa_plan,
                    unitalker_rows)
from .whisper import OPTIONS as WHISPER_OPTIONS

SR = 16000
#: Samples per 25 fps frame (the ``len(audio) // 640`` of Sonic and HunyuanVideo-Avatar).
FRAME = 640
_RAW = "the model needs 400 samples (25 ms) for one frame"

# ---------------------------------------------------------------------------
# JoyVASA
# ---------------------------------------------------------------------------

#: ``audio_model`` of ``DitTalkingHead`` -> checkpoint (the released motion generator uses ``hubert_zh``).
JOYVASA_MODELS = {"hubert_zh": "TencentGameMate/chinese-hubert-base", "hubert": "facebook/hubert-base-ls960"}

JOYVASA = Preset(
    name="joyvasa",
    system="JoyVASA (jdh-algo/JoyVASA), src/modules/dit_talking_head.py extract_audio_feature, "
           "src/modules/common.py pad_audio, src/live_portrait_wmg_wrapper.py gen_motion_sequence",
    rule=("1280 zeros before, 640 after (n' = n + 1920); clip = int(n'/16000*25); W = 1 if clip <= 100 else "
          "ceil(clip/100) windows of 100 frames (64000 samples), the end padded (pad_mode) to W windows; each "
          "window reflect-padded to 64080 samples (pad_audio), HuBERT on the raw samples, its 200 last hidden "
          "states linearly interpolated to 100 after the transformer (frame j = mean of states 2j, 2j+1); the "
          "padded frames of the last window cut; each window is also conditioned on the previous window's last "
          "10 projected features (not part of this array)"),
    shape="[N, 768], N = 100 W - ceil(pad/640) (10 s -> 253)", fixed_fps=Fraction(25),
    feature=MotionWindows(),
    options_spec={"audio_model": Option("hubert_zh", choices=tuple(JOYVASA_MODELS),
                                        help="DitTalkingHead's audio_model (hubert_zh: the released checkpoint)"),
                  "pad_mode": Option("zero", choices=("zero", "replicate"),
                                     help="the motion generator's pad_mode (how the last window is filled)")},
    models=("audio_model", JOYVASA_MODELS), needs_model=True,
    count=lambda req: joyvasa_plan(req.n_samples)[2],
    layout=Windows(view="squeeze"), too_short=_RAW)

# ---------------------------------------------------------------------------
# Sonic
# ---------------------------------------------------------------------------

#: ``frame_num`` of Sonic's config: ``audio_len = min(limit, n // 640)``.
SONIC_LIMIT = 10000


#: Sonic's smallest ``audio_len``: below it the motion-bucket windows get fewer than 50 states.
SONIC_MIN = 11


def sonic_audio_len(req) -> int:
    """``min(10000, n // 640)``: Sonic's ``audio_len`` (25 fps frames); it keeps ``2 * audio_len`` states."""
    return min(SONIC_LIMIT, req.n_samples // FRAME)


def sonic_rows(req) -> int:
    """``audio_len // 2`` frames at 12.5 fps; refused below ``audio_len = 11`` (7040 samples), where the system
    fails: ``zeros_like(x[:, :24])`` pads only ``2 audio_len`` states, so the last 50-state bucket window comes
    out short and ``Audio2bucketModel`` cannot take it."""
    length = sonic_audio_len(req)
    if length < SONIC_MIN:
        raise AudioTooShortError(f"Sonic needs n//640 >= {SONIC_MIN} ({SONIC_MIN * FRAME} samples, "
                                 f"{SONIC_MIN * FRAME / SR:g} s): below that its motion-bucket windows are shorter "
                                 f"than 50 states; got {req.n_samples} samples")
    return length // 2


_SONIC_KEPT = Truncate(lambda req: 2 * sonic_audio_len(req))

SONIC = Preset(
    name="sonic",
    system="Sonic (jixiaozhong/Sonic), sonic.py test, src/dataset/test_preprocess.py get_audio_feature",
    rule=("transformers whisper-tiny feature extractor on 30 s windows (750*640 samples, each zero-padded and "
          "normalised alone), all hidden states (the last after the final layer norm), concatenated and cut to "
          "2*audio_len, audio_len = min(n//640, 10000); 4 zero states before, 6 after; row i (12.5 fps, "
          "step 2) takes states [4i-4, 4i+6); stream=bucket: the last state with 24 zeros before and 26 after, "
          "[4i-24, 4i+26) (Audio2bucketModel; the front pad is min(24, 2 audio_len) states, as zeros_like(x[:, :24]) "
          "gives); audio_len < 11 is refused (the system fails); generated at 12.5 fps, RIFE then doubles to "
          "2N-1 frames at 25"),
    shape="[N, 10, 5, 384], N = min(n//640, 10000)//2 (stream=bucket: [N, 50, 384]); 10 s -> 125",
    fixed_fps=Fraction(25, 2),
    feature=WhisperStates({"convention": "transformers", "long": "segments", "norm": "segment", "pad": "audio"}),
    count=sonic_rows,
    layout=ByOption("stream", {
        "audio": Windows(start=lambda req: 4 * np.arange(req.rows) - 4, size=10, edge="zeros", before=_SONIC_KEPT),
        "bucket": Windows(start=lambda req: 4 * np.arange(req.rows) - min(24, 2 * sonic_audio_len(req)), size=50,
                          edge="zeros",
                          before=Pick(-1, _SONIC_KEPT))}),
    options_spec={"stream": Option("audio", choices=("audio", "bucket"),
                                   help="audio: the audio2token input; bucket: the audio2bucket input"),
                  **{k: WHISPER_OPTIONS[k] for k in ("dtype", "batch_size")}},
    default_model="openai/whisper-tiny", needs_model=True,
    too_short="Sonic needs 7040 samples (0.44 s)")

# ---------------------------------------------------------------------------
# HunyuanVideo-Avatar
# ---------------------------------------------------------------------------

#: ``encode_audio``: ``num_frames = min(num_frames, 400)``.
HUNYUAN_LIMIT = 400
#: The rates ``encode_audio`` knows (option ``rate``; the system takes it from its input CSV, not the video).
HUNYUAN_RATES = {"25": Fraction(25), "12.5": Fraction(25, 2)}
#: Encoder states after the 4 zero states in front (1500 + 4): every 10-state window must fit.
_HUNYUAN_STATES = 1500 + 4


def hunyuan_step(req) -> int:
    """States per frame over 2: 1 at 25 fps, 2 at 12.5 fps (``step_ts``); other rates are refused (the system
    defines no ``step_ts`` for them and fails)."""
    f = Fraction(req.fps)
    if f == 25:
        return 1
    if f == Fraction(25, 2):
        return 2
    raise InputError(f"HunyuanVideo-Avatar runs at 25 or 12.5 fps only (encode_audio knows no other rate); "
                     f"got {fraction_str(f)} fps")


def hunyuan_rows(req) -> int:
    """``min(n // 640, 400)`` (``audio_len`` is counted at 25 fps whatever the rate).

    Refused: more than 400 frames with ``over="refuse"``, and a window past the 1504 states (12.5 fps from
    375 frames, where the system's ``torch.stack`` fails).
    """
    step = hunyuan_step(req)
    asked = req.n_samples // FRAME
    rows = min(asked, HUNYUAN_LIMIT)
    if asked > HUNYUAN_LIMIT and req.options.over == "refuse":
        raise InputError(f"HunyuanVideo-Avatar makes at most {HUNYUAN_LIMIT} frames; this audio asks for {asked} "
                         f"(n//640); cut it to {HUNYUAN_LIMIT * FRAME / SR:g} s or pass over=cut")
    if rows and 2 * step * (rows - 1) + 10 > _HUNYUAN_STATES:
        raise InputError(f"HunyuanVideo-Avatar fails at {fraction_str(Fraction(req.fps))} fps for {rows} frames: "
                         f"frame {(_HUNYUAN_STATES - 10) // (2 * step) + 1} onwards reads past the 30 s the encoder "
                         f"sees; at most {(_HUNYUAN_STATES - 10) // (2 * step) + 1} frames "
                         f"({((_HUNYUAN_STATES - 10) // (2 * step) + 1) * FRAME / SR:g} s of audio)")
    return rows


def hunyuan_report(req) -> dict:
    """What HunyuanVideo-Avatar drops on this input: frames past 400, audio past 30 s (empty when nothing)."""
    asked = req.n_samples // FRAME
    cut = {}
    if asked > req.rows:
        cut["frames"] = {"asked": asked, "kept": req.rows, "dropped": asked - req.rows,
                         "rule": f"at most {HUNYUAN_LIMIT} frames (encode_audio)"}
    if req.n_samples > 30 * SR:
        cut["audio"] = {"encoder_seconds": 30.0, "dropped_seconds": (req.n_samples - 30 * SR) / SR,
                        "rule": "only the first 3000 mel frames reach the encoder"}
    return {"cut": cut} if cut else {}


HUNYUAN_AVATAR = Preset(
    name="hunyuan-avatar",
    system="HunyuanVideo-Avatar (Tencent-Hunyuan/HunyuanVideo-Avatar), hymm_sp/data_kits/audio_preprocessor.py "
           "encode_audio, hymm_sp/data_kits/audio_dataset.py get_audio_feature",
    rule=("transformers whisper-tiny feature extractor on the first 30 s only (3000 mel frames, zero-padded, "
          "stored as float16), all 1500 hidden states (the last after the final layer norm), 4 zero states "
          "before; N = min(n//640, 400) frames (counted at 25 fps at either rate); frame f takes states "
          "[2 s f - 4, 2 s f + 6), s = 1 at 25 fps, 2 at 12.5 (option rate); what is cut is recorded (over=refuse refuses "
          "instead); the pipeline then pads to at least 129 frames (not part of this array)"),
    shape="[N, 10, 5, 384], N = min(n//640, 400); 10 s -> 250, 20 s -> 400",
    feature=FirstWhisperWindow(),
    count=hunyuan_rows,
    layout=Windows(start=lambda req: 2 * hunyuan_step(req) * np.arange(req.rows) - 4, size=10, edge="zeros"),
    options_spec={"rate": Option("25", choices=tuple(HUNYUAN_RATES),
                                 help="the fps given to the system (its CSV's fps column): 25 or 12.5"),
                  "over": Option("cut", choices=("cut", "refuse"),
                                 help="more than 400 frames: cut as the system does (recorded) or refuse")},
    rates=("rate", HUNYUAN_RATES), default_model="openai/whisper-tiny", needs_model=True, report=hunyuan_report,
    too_short="HunyuanVideo-Avatar makes one frame from 640 samples (40 ms)")

# ---------------------------------------------------------------------------
# UniTalker
# ---------------------------------------------------------------------------

#: ``audio_encoder_repo`` choices of ``config/unitalker.yaml`` (UniTalker-B: wavlm-base-plus; -L: XLSR-53).
UNITALKER_MODELS = {"wavlm-base-plus": "microsoft/wavlm-base-plus",
                    "wav2vec2-large-xlsr-53": "facebook/wav2vec2-large-xlsr-53"}
#: ``main/demo.py``: BIWI (D0) annotations at 25 fps, every other dataset at 30.
UNITALKER_FPS = {"D0": 25, "D1": 30, "D2": 30, "D3": 30, "D4": 30, "D5": 30, "D6": 30, "D7": 30}

UNITALKER = Preset(
    name="unitalker",
    system="UniTalker (X-niper/UniTalker), models/unitalker.py + models/wavlm.py (interpolate_pos 1), "
           "config/unitalker.yaml, main/demo.py split_long_audio / merge_out_list",
    rule=("processor normalisation of the file, then of each 25 s split (every 20 s); frame_num = "
          "round(len/16000*fps) with the dataset's fps (D0 BIWI 25, others 30); last hidden state stretched "
          "(align_corners=True) to frame_num after the transformer; splits merged with the 5 s linear "
          "cross-fade merge_out_list applies to the outputs"),
    shape="[N, 768] (xlsr-53: 1024), N = round(n/16000*fps) up to 25 s, else round(last/16000*fps) + 20 fps (S-1)",
    feature=SplitStretch(),
    count=lambda req: unitalker_rows(req.n_samples, req.fps)[1],
    layout=Windows(view="squeeze"),
    options_spec={"encoder": Option("wavlm-base-plus", choices=tuple(UNITALKER_MODELS),
                                    help="audio_encoder_repo of the checkpoint"),
                  "dataset": Option("D1", choices=tuple(UNITALKER_FPS),
                                    help="the output head's dataset (its annotation fps)")},
    models=("encoder", UNITALKER_MODELS), rates=("dataset", UNITALKER_FPS), needs_model=True, too_short=_RAW)

# ---------------------------------------------------------------------------
# Ditto (offline)
# ---------------------------------------------------------------------------

DITTO = Preset(
    name="ditto",
    system="Ditto (antgroup/ditto-talkinghead), core/atomic_components/wav2feat.py Wav2FeatHubert.wav2feat (offline)",
    rule=("num_f = ceil(n/16000*25); 2000 zeros before, 6480 after; 6480-sample chunks every 5 frames "
          "(int(i*0.04*16000)) each run alone through HuBERT on the raw samples; states [-14:-4] of each "
          "chunk averaged in pairs (5 frames per chunk); cut to num_f (the online mode is streaming)"),
    shape="[ceil(n/16000*25), 1024]", fixed_fps=Fraction(25),
    feature=ChunkPairs(), count=lambda req: req.frames, layout=Windows(view="squeeze"),
    default_model="facebook/hubert-large-ls960-ft", needs_model=True,
    too_short="Ditto makes one frame from 1 sample")


__all__ = ["DITTO", "HUNYUAN_AVATAR", "JOYVASA", "JOYVASA_MODELS", "SONIC", "UNITALKER", "UNITALKER_FPS",
           "UNITALKER_MODELS", "HUNYUAN_RATES", "hunyuan_report", "hunyuan_rows", "hunyuan_step", "sonic_audio_len", "sonic_rows"]
