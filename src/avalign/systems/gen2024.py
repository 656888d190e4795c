"""Presets of the 2024-2025 video-diffusion systems that feed all wav2vec2 layers, stretched to video frames.

Hallo2, MEMO, InfiniteTalk, MultiTalk, EchoMimicV3 and FLOAT all run a
wav2vec2 whose conv features are linearly stretched (``F.interpolate(...,
align_corners=True)``) to the video's frame count *before* the feature
projection and the transformer, keep hidden states 1..12 and differ in the
frame count, the clip padding, the loudness normalisation and the per-frame
windows. The model runs through :class:`~avalign.systems.steps.StretchedSSL`
(its ``calls`` say how each system cuts, pads and normalises the waveform);
the ``[i-2, i+2]`` windows are :class:`~avalign.systems.layouts.Windows`.
What these presets do not reproduce is said in each ``rule``: vocal
separation (Hallo2, MEMO), the emotion streams (MEMO, FLOAT), the learned
audio projections.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import InputError
from .base import Option, Preset, Reader
from .layouts import MirrorTail, Windows
from .steps import StretchCall, StretchedSSL

SR = 16000
WAV2VEC2_BASE = "facebook/wav2vec2-base-960h"
CHINESE_WAV2VEC2 = "TencentGameMate/chinese-wav2vec2-base"
_TOO_SHORT = "the model needs 400 samples (25 ms) for one frame"
#: the ±2 neighbouring frames concatenated per video frame (Hallo's process_audio_emb, the Wan systems' indices)
NEIGHBOURS = Windows(size=5, anchor=-2, edge="clamp")
_LAYERS = dict(output="layers", skip_embeddings=True)


# ---------------------------------------------------------------------------
# Clip padding: Hallo2 and MEMO
# ---------------------------------------------------------------------------


def padded_clips(n_samples: int, *, fps: int, clip: int, processed: int = 0, last: bool = True) -> tuple[int, int]:
    """``(seq_len, pad_frames)`` of one Hallo2 ``AudioProcessor.preprocess`` / MEMO ``preprocess_audio`` call.

    ``seq_len = ceil(n / 16000 * fps)`` (float arithmetic); when ``last`` and
    ``seq_len % clip != 0`` the normalised waveform gets ``pad_frames * (16000 // fps)`` zeros and
    ``seq_len`` grows by ``pad_frames = clip - (seq_len + processed) % clip`` (``processed``: frames
    of the earlier segments; Hallo2 tests ``seq_len``, not the total, before padding).
    """
    seq = math.ceil(n_samples / SR * fps)
    if last and clip > 0 and seq % clip != 0:
        return seq, clip - (seq + processed) % clip
    return seq, 0


def hallo2_segments(n_samples: int, *, seconds: int = 60, fps: int = 25, clip: int = 16) -> list[tuple]:
    """The ``use_cut`` segments of Hallo2's ``inference_long.py``: ``[(start, stop, seq_len, pad_frames)]``.

    The audio is cut into ``seconds``-long segments (``cut_audio``); each runs
    alone (its own normalisation and stretch); the last is padded as
    :func:`padded_clips` says, with the frames of the earlier ones as ``processed``.
    """
    seg = seconds * SR
    count = n_samples // seg + (1 if n_samples % seg else 0)
    out, processed = [], 0
    for i in range(count):
        a, b = i * seg, min((i + 1) * seg, n_samples)
        seq, pad = padded_clips(b - a, fps=fps, clip=clip, processed=processed, last=i == count - 1)
        out.append((a, b, seq, pad))
        processed += seq
    return out


def _hallo2_calls(req):
    return [StretchCall(a, b, b - a + pad * (SR // 25), seq + pad)
            for a, b, seq, pad in hallo2_segments(req.n_samples)]


def _memo_calls(req):
    seq, pad = padded_clips(req.n_samples, fps=30, clip=16)
    return [StretchCall(0, req.n_samples, req.n_samples + pad * (SR // 30), seq + pad)]


HALLO2 = Preset(
    name="hallo2",
    system="Hallo2 (fudan-generative-vision/hallo2), hallo/datasets/audio_processor.py preprocess + "
           "scripts/inference_long.py (configs/inference/long.yaml: use_cut, n_sample_frames 16, fps 25)",
    rule=("60 s segments, each normalised alone; per segment N_s = ceil(n_s/16000*25) conv-stretched frames; "
          "the last segment zero-padded (after normalisation, 640 samples a frame) by 16 - (N_total % 16) "
          "frames when its own N_s % 16 != 0; hidden states 1..12 stacked; frame i gets frames [i-2, i+2] "
          "clamped (vocal separation not reproduced)"),
    shape="[N, 5, 12, 768], N = sum N_s (+ pad)", fixed_fps=Fraction(25),
    feature=StretchedSSL(**_LAYERS, calls=_hallo2_calls), layout=NEIGHBOURS,
    default_model=WAV2VEC2_BASE, needs_model=True,
    count=lambda req: sum(seq + pad for _, _, seq, pad in hallo2_segments(req.n_samples)),
    too_short=_TOO_SHORT)

MEMO = Preset(
    name="memo",
    system="MEMO (memoavatar/memo), memo/utils/audio_utils.py preprocess_audio + configs/inference.yaml "
           "(fps 30, num_generated_frames_per_clip 16)",
    rule=("processor normalisation; N = ceil(n/16000*30), zero-padded after normalisation (533 samples a frame) "
          "to a multiple of 16 frames; conv features stretched to N; hidden states 1..12 stacked; frame i gets "
          "frames [i-2, i+2] clamped (vocal separation and the emotion stream not reproduced)"),
    shape="[ceil(N/16)*16, 5, 12, 768]", fixed_fps=Fraction(30),
    feature=StretchedSSL(**_LAYERS, calls=_memo_calls), layout=NEIGHBOURS,
    default_model=WAV2VEC2_BASE, needs_model=True,
    count=lambda req: sum(padded_clips(req.n_samples, fps=30, clip=16)), too_short=_TOO_SHORT)


# ---------------------------------------------------------------------------
# InfiniteTalk / MultiTalk (MeiGen-AI): Wan clips of 4k+1 frames
# ---------------------------------------------------------------------------


def wan_embedding_frames(n_samples: int) -> int:
    """``int(len / 16000 * 25)``: the frames ``get_embedding`` stretches the conv features to."""
    return int(n_samples / SR * 25)


def wan_rows(n_frames: int, *, mode: str, frame_num: int, motion_frame: int, max_frames: int,
             cut: str) -> int:
    """Video frames ``generate_infinitetalk`` / ``generate`` (MultiTalk) make from ``n_frames`` embedding rows.

    ``clip`` mode: one clip of ``frame_num`` frames. ``streaming``: clips of
    ``frame_num`` frames every ``frame_num - motion_frame`` until a clip ends
    at or past ``min(max_frames, n_frames)``, cut to ``max_frames``; when the
    last clip overruns the audio, InfiniteTalk (``cut="audio"``) cuts to the
    audio's frames, MultiTalk (``cut="miss"``) drops the overrun plus 3 frames.
    0 when the system refuses the audio (``n_frames <= frame_num``).
    """
    if frame_num % 4 != 1:
        raise InputError(f"bad frame_num {frame_num}: the Wan VAE needs 4k+1 frames per clip (81, 77, ...)")
    if motion_frame >= frame_num or motion_frame < 1:
        raise InputError(f"bad motion_frame {motion_frame}: must lie in [1, frame_num)")
    if n_frames <= frame_num:
        return 0
    if mode == "clip" or max_frames <= frame_num:
        return frame_num
    end = frame_num
    while True:
        end += frame_num - motion_frame
        if end >= min(max_frames, n_frames):
            break
    kept = min(end, max_frames)
    miss = end - n_frames + 3 if end >= n_frames else 0
    if miss == 0:
        return kept
    return min(kept, n_frames) if cut == "audio" else kept - miss


_WAN_READER = Reader(loudness=-23.0)  # librosa.load(sr=16000) then loudness_norm(x, 16000, lufs=-23)
_WAN_STEP = StretchedSSL(**_LAYERS, length=lambda req: wan_embedding_frames(req.n_samples))
_WAN_LAYOUT = Windows(size=5, anchor=-2, edge="clamp", before=MirrorTail(2))
_WAN_RULE = ("librosa 16 kHz, loudness normalised to -23 LUFS (pyloudnorm at 16 kHz; |L| > 100 left as is; no "
             "clipping); N = int(n/16000*25) conv-stretched frames, hidden states 1..12; frame i gets embedding "
             "rows [i-2, i+2] clamped at 0 and, past the end, the flipped tail the last clip appends; "
             "{rows}; one stream per speaker: run it on each person's track (cond_audio person1/person2; "
             "audio_type 'add' = each track zero-padded by the other's length, 'para' = as given)")


def _wan_options(motion_frame: int, max_frames: bool) -> dict:
    spec = {"mode": Option("clip", ("clip", "streaming"), "clip: one clip of frame_num frames; streaming: long video"),
            "frame_num": Option(81, help="frames per clip, 4k+1"),
            "motion_frame": Option(motion_frame, help="frames carried over between streaming clips")}
    if max_frames:
        spec["max_frames"] = Option(1000, help="--max_frame_num: streaming stops there")
    return spec


def _wan_count(cut: str, max_frames=None):
    def count(req) -> int:
        o = req.options
        return wan_rows(wan_embedding_frames(req.n_samples), mode=o.mode, frame_num=int(o.frame_num),
                        motion_frame=int(o.motion_frame),
                        max_frames=int(getattr(o, "max_frames", max_frames) or 0), cut=cut)
    return count


INFINITETALK = Preset(
    name="infinitetalk",
    system="InfiniteTalk (MeiGen-AI/InfiniteTalk), generate_infinitetalk.py get_embedding + "
           "wan/multitalk.py generate_infinitetalk",
    rule=_WAN_RULE.format(rows="clip mode: frame_num (81) frames; streaming: min(N, max_frames); "
                               "needs N > frame_num"),
    shape="[R, 5, 12, 768]", fixed_fps=Fraction(25), reader=_WAN_READER,
    feature=_WAN_STEP, layout=_WAN_LAYOUT, default_model=CHINESE_WAV2VEC2, needs_model=True,
    options_spec=_wan_options(9, True), count=_wan_count("audio"),
    too_short="the system refuses audio of frame_num (81) frames or fewer (3.24 s + 1 frame)")

MULTITALK = Preset(
    name="multitalk",
    system="MultiTalk (MeiGen-AI/MultiTalk), generate_multitalk.py get_embedding + wan/multitalk.py generate",
    rule=_WAN_RULE.format(rows="clip mode: frame_num (81) frames; streaming (at most 1000 frames): the clips' "
                               "frames less the overrun of the last clip and 3 more (N - 3 when N <= 1000); "
                               "needs N > frame_num"),
    shape="[R, 5, 12, 768]", fixed_fps=Fraction(25), reader=_WAN_READER,
    feature=_WAN_STEP, layout=_WAN_LAYOUT, default_model=CHINESE_WAV2VEC2, needs_model=True,
    options_spec=_wan_options(25, False), count=_wan_count("miss", 1000),
    too_short="the system refuses audio of frame_num (81) frames or fewer (3.24 s + 1 frame)")


# ---------------------------------------------------------------------------
# EchoMimicV3 (antgroup): 4k+1 frames, audio cut to the video
# ---------------------------------------------------------------------------


def echomimic_v3_frames(n_samples: int, video_length: int = 81) -> int:
    """``infer_flash.py``'s ``video_length_actual``: ``min(int(d*25), video_length)`` down to 4k+1 (0: none)."""
    v = min(int(n_samples / SR * 25), int(video_length))
    if v == 1:
        return 1
    v = (v - 1) // 4 * 4 + 1
    return max(v, 0)


def _echomimic_calls(req):
    cut = min(int(req.rows / 25 * SR), req.n_samples)
    return [StretchCall(0, cut, cut, req.rows)]


ECHOMIMIC_V3 = Preset(
    name="echomimic-v3",
    system="EchoMimicV3 (antgroup/echomimic_v3), infer_flash.py (get_audio_embed, loudness_norm)",
    rule=("librosa 16 kHz, loudness normalised to -23 LUFS on the whole file; V = min(int(d*25), video_length) "
          "rounded down to 4k+1; the audio cut to int(V/25*16000) samples, then processor normalisation; conv "
          "features stretched to V; hidden states 1..12; frame i gets frames [i-2, i+2] clamped (d from the "
          "16 kHz samples; the system asks moviepy for the file's duration)"),
    shape="[V, 5, 12, 768]", fixed_fps=Fraction(25), reader=Reader(loudness=-23.0),
    feature=StretchedSSL(**_LAYERS, calls=_echomimic_calls), layout=NEIGHBOURS,
    default_model=CHINESE_WAV2VEC2, needs_model=True,
    options_spec={"video_length": Option(81, help="--video_length: the most frames generated")},
    count=lambda req: echomimic_v3_frames(req.n_samples, req.options.video_length),
    too_short="one video frame needs 40 ms of audio")


# ---------------------------------------------------------------------------
# FLOAT (deepbrainai-research): replicate padding, fps as given
# ---------------------------------------------------------------------------


def float_frames(n_samples: int, fps) -> int:
    """``T = ceil(n * fps / 16000)`` (``FLOAT.sample``, float fps)."""
    return math.ceil(n_samples * float(fps) / SR)


def _float_calls(req):
    n = req.n_samples
    t = float_frames(n, req.fps)
    want = int(t * SR / float(req.fps))
    # AudioEncoder.inference: F.pad(a, (0, want - n), mode="replicate") of the normalised audio (a cut if shorter)
    return [StretchCall(0, n, want if want and n % want != 0 else n, t, fill="replicate")]


FLOAT = Preset(
    name="float",
    system="FLOAT (deepbrainai-research/float), models/float/FLOAT.py (sample, AudioEncoder.inference)",
    rule=("processor normalisation; T = ceil(n*fps/16000); the normalised audio replicate-padded to "
          "int(T*16000/fps) samples; conv features stretched to T; hidden states 1..12 (FLOAT flattens them to "
          "12*768 and projects them; the projection and the emotion encoder are not reproduced); the generator "
          "then reads 2 s clips (int(2*fps) frames, the last replicate-padded) plus the previous clip's last 10"),
    shape="[T, 12, 768]", feature=StretchedSSL(**_LAYERS, calls=_float_calls),
    layout=Windows(view="squeeze"), default_model=WAV2VEC2_BASE, needs_model=True,
    count=lambda req: float_frames(req.n_samples, req.fps), too_short=_TOO_SHORT)


__all__ = ["ECHOMIMIC_V3", "FLOAT", "HALLO2", "INFINITETALK", "MEMO", "MULTITALK", "echomimic_v3_frames",
           "float_frames", "hallo2_segments", "padded_clips", "wan_embedding_frames", "wan_rows"]
