"""Presets of the systems fed by spectral features: Wav2Lip, SadTalker, syncnet_python, SyncTalk.

Each preset reproduces the array that its system builds, quirks included.
The systems' index arithmetic is Python floating point (``int(i * (80./fps))``,
``int(80. * (i / 25.))``); it is reproduced operation by operation, because at
some frame rates (24000/1001) it differs from exact rational arithmetic by one
mel frame at a few indices.

Shared facts (conventions.md, B1): Wav2Lip's mel at 80 Hz, ``M = 1 + n // 200``
frames for ``n`` samples at 16 kHz (:class:`~avalign.systems.steps.Wav2LipMel`);
mel frame ``t`` is centred at sample ``200 t`` and sees samples
``[200 t - 400, 200 t + 400)``; a window of 16 mel frames starting at ``s`` sees
``[200 s - 400, 200 s + 3400)`` (0.2 s, five frames of 25 fps video).
syncnet_python's MFCC at 100 Hz: frame ``k`` sees ``[160 k, 160 k + 400)``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .base import Option, Preset, Reader
from .layouts import Windows
from .steps import PsfMfcc, Wav2LipMel

#: Mel frames per window (``syncnet_mel_step_size`` / ``mel_step_size`` in the systems).
MEL_STEP = 16
#: Samples per 25 fps video frame at 16 kHz.
SAMPLES_PER_FRAME_25 = 640
#: syncnet_python: video frames per window, MFCC frames per video frame, MFCC frames per window.
SYNCNET_T, MFCC_PER_FRAME, MFCC_STEP = 5, 4, 20

LIBROSA_07 = Reader(resampler="kaiser_best")  # librosa < 0.10 resamples with resampy's kaiser_best


def pad_mode(default: str) -> dict:
    """The ``pad_mode`` option: the centring pad of the STFT (``reflect`` before librosa 0.9, zeros from 0.9)."""
    other = "constant" if default == "reflect" else "reflect"
    return {"pad_mode": Option(default, choices=(default, other), help="STFT centring pad (librosa era)")}


def start_index_25(frame_index) -> np.ndarray:
    """``int(80. * (i / 25.))`` for each ``i`` (float arithmetic, truncation toward zero), int64.

    The window start of Wav2Lip's ``crop_audio_window``, SadTalker and SyncTalk
    (``i`` may be negative: SadTalker's ``i - 2`` gives -6 and -3 for frames 0 and 1).
    """
    i = np.asarray(frame_index, dtype=np.float64)
    return np.trunc(80.0 * (i / 25.0)).astype(np.int64)


def mel_windows(start, edge: str) -> Windows:
    """Windows of 16 mel frames from ``start(req)``, laid out ``[80, 16]`` per row as the systems feed them."""
    return Windows(start=start, size=MEL_STEP, edge=edge, view="channels")


def _video_frames_25(req) -> int:
    """The video's frames, or for audio alone the whole 25 fps frames it holds (``n // 640``)."""
    return req.n_samples // SAMPLES_PER_FRAME_25 if req.video_frames is None else int(req.video_frames)


# ---------------------------------------------------------------------------
# Wav2Lip inference
# ---------------------------------------------------------------------------


def wav2lip_full_chunks(m: int, fps) -> int:
    """``C``: chunks that fit whole before Wav2Lip's loop stops: ``#{i : int(i * (80./fps)) + 16 <= M}``.

    Starts from the exact ``ceil((M - 15) * fps / 80)`` and corrects it by the
    system's float products (at most a step or two; never a walk towards ``M``).
    """
    if m < MEL_STEP:
        return 0
    fps = Fraction(fps)
    mult = 80.0 / float(fps)
    c = -(-((m - MEL_STEP + 1) * fps.numerator) // (80 * fps.denominator))
    for _ in range(4):
        if c > 0 and int((c - 1) * mult) + MEL_STEP > m:
            c -= 1
        elif int(c * mult) + MEL_STEP <= m:
            c += 1
        else:
            break
    return c


def wav2lip_chunks(m: int, fps) -> int:
    """Chunks Wav2Lip cuts from ``m`` mel frames: the full ones and the last at ``M - 16``; 0 under 16 frames."""
    return wav2lip_full_chunks(m, fps) + 1 if m >= MEL_STEP else 0


def wav2lip_starts(req) -> np.ndarray:
    """Mel start of every chunk, int64 ``(K,)``: ``int(i * (80./fps))`` then the last chunk at ``M - 16``."""
    m = req.frames
    if m < MEL_STEP:
        return np.zeros(0, np.int64)
    i = np.arange(wav2lip_full_chunks(m, req.fps), dtype=np.float64)
    return np.append(np.trunc(i * (80.0 / float(req.fps))).astype(np.int64), m - MEL_STEP)


WAV2LIP = Preset(
    name="wav2lip",
    system="Wav2Lip (Rudrabha/Wav2Lip, inference.py)",
    rule="chunk i = mel[:, s:s+16], s = int(i*80/fps); stop at the first overrun, last chunk = mel[:, M-16:]",
    shape="[K, 80, 16], K = ceil((M-15)*fps/80) + 1, M = 1 + n//200",
    reader=LIBROSA_07, feature=Wav2LipMel(),
    count=lambda req: wav2lip_chunks(req.frames, req.fps),
    layout=mel_windows(wav2lip_starts, "shift"),
    options_spec=pad_mode("reflect"), file_name="mel_chunks.npy",
    too_short="Wav2Lip needs at least 16 mel frames (3000 samples, 187.5 ms)")
"""Wav2Lip inference: mel chunks for any fps.

Chunk ``i`` is ``mel[:, s:s+16]`` with ``s = int(i * (80. / fps))`` (starts at
the frame's own time). The loop stops at the first ``i`` whose window overruns
the mel and appends that last chunk as ``mel[:, M-16:]``. 10.0 s at 25 fps:
M = 801, K = 247 (not 250: Wav2Lip drops the video's last frames). The count
depends on the audio only. Audio: librosa 0.7 (resampy ``kaiser_best``,
reflect-padded STFT); ``pad_mode="constant"`` is Wav2Lip run with librosa >= 0.9.
"""


# ---------------------------------------------------------------------------
# Wav2Lip's expert discriminator (training)
# ---------------------------------------------------------------------------


def syncnet_train_starts(req) -> np.ndarray:
    """Mel start of every kept training window ``int(80. * (i / 25.))``, ``i <= V - 5``, whole mel slices only;
    none when ``V <= 15`` (``len(img_names) <= 3 * syncnet_T``)."""
    v = _video_frames_25(req)
    if v <= 3 * SYNCNET_T:
        return np.zeros(0, np.int64)
    s = start_index_25(np.arange(v - SYNCNET_T + 1))
    return s[s + MEL_STEP <= req.frames]


WAV2LIP_SYNCNET = Preset(
    name="wav2lip-syncnet",
    system="Wav2Lip expert discriminator training (Rudrabha/Wav2Lip, color_syncnet_train.py)",
    rule="window i = mel[s:s+16], s = int(80*i/25), with frames i..i+4; windows short of mel or frames skipped",
    shape="[N, 80, 16], N = #{i <= V-5 : int(80i/25)+16 <= M} (0 if V <= 15)",
    reader=LIBROSA_07, feature=Wav2LipMel(), fixed_fps=Fraction(25), options_spec=pad_mode("reflect"),
    count=lambda req: len(syncnet_train_starts(req)), layout=mel_windows(syncnet_train_starts, "zeros"),
    file_name="syncnet_mels.npy",
    too_short="the discriminator needs more than 15 video frames and 16 mel frames per window")


# ---------------------------------------------------------------------------
# SadTalker
# ---------------------------------------------------------------------------


SADTALKER = Preset(
    name="sadtalker", system="SadTalker (OpenTalker/SadTalker, src/generate_batch.py)",
    rule="audio cut to int(n/640)*640; frame i = mel rows int(80*(i-2)/25)+0..15 clamped to [0, M-1]",
    shape="[T, 80, 16], T = int(n/640)",
    reader=LIBROSA_07, feature=Wav2LipMel(whole=SAMPLES_PER_FRAME_25), fixed_fps=Fraction(25),
    count=lambda req: int(req.n_samples / (req.sample_rate / 25)),
    layout=mel_windows(lambda req: start_index_25(np.arange(req.rows) - 2), "clamp"),  # frame i starts at i - 2
    options_spec=pad_mode("constant"), file_name="indiv_mels.npy",
    too_short="SadTalker needs one whole 25 fps frame (640 samples, 40 ms)")


# ---------------------------------------------------------------------------
# syncnet_python
# ---------------------------------------------------------------------------


SYNCNET = Preset(
    name="syncnet", system="syncnet_python (joonson/syncnet_python, SyncNetInstance.py)",
    rule="window v = MFCC13 frames [4v, 4v+20) (python_speech_features on int16), with frames v..v+4",
    shape="[N, 13, 20], N = min(V, n//640) - 5",
    reader=Reader(scale="int16"), feature=PsfMfcc(), fixed_fps=Fraction(25),
    count=lambda req: min(_video_frames_25(req), req.n_samples // SAMPLES_PER_FRAME_25) - SYNCNET_T,
    layout=Windows(start=lambda req: np.arange(req.rows, dtype=np.int64) * MFCC_PER_FRAME, size=MFCC_STEP,
                   edge="zeros", view="channels"),
    file_name="cct.npy",
    too_short="syncnet_python needs more than 5 frames of 25 fps video and audio (3200 samples)")
"""syncnet_python's audio input (``SyncNetInstance.evaluate``, LSE-C / LSE-D): MFCC on the int16 samples
that ``scipy.io.wavfile`` reads; ``N = min(V, floor(n / 640)) - 5`` (``lastframe``: the last possible window
is left out). syncnet_python resamples with ffmpeg; avalign uses soxr (identical for 16 kHz sources)."""


# ---------------------------------------------------------------------------
# SyncTalk
# ---------------------------------------------------------------------------


def synctalk_starts(req) -> np.ndarray:
    """Mel start of every output row: ``L = int((M - 16) / 80. * 25.) + 2`` windows at ``int(80. * (j / 25.))``
    (shifted back to ``M - 16``), the first and last repeated twice (``provider.py``)."""
    m = req.frames
    if m < MEL_STEP:
        return np.zeros(0, np.int64)
    s = np.minimum(start_index_25(np.arange(int((m - MEL_STEP) / 80.0 * 25.0) + 2)), m - MEL_STEP)
    return np.concatenate([s[:1], s[:1], s, s[-1:], s[-1:]])


SYNCTALK_MEL = Preset(
    name="synctalk-mel",
    system="SyncTalk (ZiqiaoPeng/SyncTalk, nerf_triplane/utils.py AudDataset + provider.py), before the encoder",
    rule="window j = mel rows int(80*j/25)+0..15 shifted back at the end; first and last windows repeated twice",
    shape="[N, 80, 16], N = int((M-16)/3.2) + 6, M = 1 + n//200",
    feature=Wav2LipMel(), fixed_fps=Fraction(25),  # librosa unpinned (>= 0.10): soxr, zero padding
    count=lambda req: len(synctalk_starts(req)),
    layout=mel_windows(synctalk_starts, "shift"),
    options_spec=pad_mode("constant"), file_name="aud_ave_mel.npy",
    too_short="SyncTalk needs at least 16 mel frames (3000 samples)")


__all__ = ["SADTALKER", "SYNCNET", "SYNCTALK_MEL", "WAV2LIP", "WAV2LIP_SYNCNET", "start_index_25",
           "syncnet_train_starts", "synctalk_starts", "wav2lip_chunks", "wav2lip_full_chunks", "wav2lip_starts"]
