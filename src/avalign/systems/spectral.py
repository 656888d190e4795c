"""Presets of the systems fed by spectral features: Wav2Lip, SadTalker, syncnet_python, SyncTalk.

Each preset reproduces the array that its system builds, quirks included.
The systems' index arithmetic is Python floating point (``int(i * (80./fps))``,
``int(80. * (i / 25.))``); it is reproduced operation by operation, because at
some frame rates (24000/1001) it differs from exact rational arithmetic by one
mel frame at a few indices.

Shared facts (conventions.md, B1): Wav2Lip's mel at 80 Hz, ``M = 1 + n // 200``
frames for ``n`` samples at 16 kHz; mel frame ``t`` is centred at sample
``200 t`` and sees samples ``[200 t - 400, 200 t + 400)``; a window of 16 mel
frames starting at ``s`` sees ``[200 s - 400, 200 s + 3400)`` (0.2 s, five
frames of 25 fps video). syncnet_python's MFCC at 100 Hz: frame ``k`` sees
``[160 k, 160 k + 400)``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

import numpy as np

from ..align import windows
from ..errors import AudioTooShortError, InputError
from ..features.spectral import MFCC, WAV2LIP_MEL, Mel
from ..media import Audio
from .base import Preset

#: Mel frames per window (``syncnet_mel_step_size`` / ``mel_step_size`` in the systems).
MEL_STEP = 16
#: Mel hop and n_fft in samples at 16 kHz.
MEL_HOP, MEL_NFFT = 200, 800
#: Samples per 25 fps video frame at 16 kHz.
SAMPLES_PER_FRAME_25 = 640
#: syncnet_python: video frames per window, MFCC frames per video frame, MFCC frames per window.
SYNCNET_T, MFCC_PER_FRAME, MFCC_STEP = 5, 4, 20


def mel_frames(n_samples: int) -> int:
    """``M = 1 + n // 200``: frames of the centred Wav2Lip mel for ``n`` samples."""
    return 1 + int(n_samples) // MEL_HOP


def mel_window_spans(starts: np.ndarray) -> np.ndarray:
    """``[200 s - 400, 200 s + 3400)`` for windows of 16 mel frames starting at ``s``: int64 ``(rows, 2)``."""
    s = np.asarray(starts, dtype=np.int64) * MEL_HOP
    return np.stack([s - MEL_NFFT // 2, s + (MEL_STEP - 1) * MEL_HOP + MEL_NFFT // 2], axis=1)


def start_index_25(frame_index) -> np.ndarray:
    """``int(80. * (i / 25.))`` for each ``i`` (float arithmetic, truncation toward zero), int64.

    The window start of Wav2Lip's ``crop_audio_window``, SadTalker and SyncTalk
    (``i`` may be negative: SadTalker's ``i - 2`` gives -6 and -3 for frames 0 and 1).
    """
    i = np.asarray(frame_index, dtype=np.float64)
    return np.trunc(80.0 * (i / 25.0)).astype(np.int64)


def _mel_windows(mel: np.ndarray, starts: np.ndarray, *, edge: str) -> np.ndarray:
    """Windows of 16 mel frames, ``(rows, 80, 16)`` (the systems' ``mel[:, s:s+16]`` layout), float32."""
    if starts.shape[0] == 0:
        return np.zeros((0, mel.shape[1], MEL_STEP), np.float32)
    w = windows(mel, starts, size=MEL_STEP, anchor="start", edge=edge)  # (rows, 16, 80)
    return np.ascontiguousarray(w.transpose(0, 2, 1))


class _SpectralPreset(Preset):
    """Shared plumbing: option checks, the mel recipe, and a clear error when no row fits."""

    feature: ClassVar[str] = "mel"
    pad_mode: ClassVar[str] = "constant"
    #: Options a user may override (name -> allowed values).
    allowed: ClassVar[dict] = {}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.allowed))
        if unknown:
            known = ", ".join(sorted(self.allowed)) or "none"
            raise InputError(f"unknown option(s) for preset {self.name!r}: {', '.join(unknown)}; known: {known}")
        for key, value in options.items():
            if value not in self.allowed[key]:
                raise InputError(f"bad value {value!r} for option {key!r} of preset {self.name!r}; "
                                 f"expected one of {', '.join(map(repr, self.allowed[key]))}")
        super().__init__(**options)

    @property
    def mel_pad_mode(self) -> str:
        """Centring pad of the STFT: the system's librosa era unless overridden by ``pad_mode``."""
        return self.options.get("pad_mode", self.pad_mode)

    def mel(self, samples: np.ndarray) -> np.ndarray:
        """Wav2Lip's mel (B1) of ``samples`` at 16 kHz, time-major ``(M, 80)``."""
        return Mel(**WAV2LIP_MEL, pad_mode=self.mel_pad_mode).compute(samples)

    def _none_fit(self, n_samples: int, need: str) -> AudioTooShortError:
        return AudioTooShortError(
            f"audio of {n_samples} samples ({n_samples / self.sample_rate * 1000:.1f} ms) gives no "
            f"{self.name} windows: {need}")


class Wav2Lip(_SpectralPreset):
    """Wav2Lip inference (Rudrabha/Wav2Lip, ``inference.py``): mel chunks for any fps.

    Rule: chunk ``i`` is ``mel[:, s:s+16]`` with ``s = int(i * (80. / fps))``
    (starts at the frame's own time). The loop stops at the first ``i`` whose
    window overruns the mel (``s + 16 > M``) and appends that last chunk as
    ``mel[:, M-16:]`` (shifted back inside).

    Count: ``K = C + 1`` with ``C = #{i >= 0 : int(i * 80/fps) + 16 <= M} = ceil((M - 15) * fps / 80)``
    (the float rounding of ``80./fps`` is reproduced), ``M = 1 + n // 200``.
    10.0 s at 25 fps: M = 801, K = 247 (not 250: Wav2Lip drops the video's
    last frames; ``full_frames[:len(mel_chunks)]``; when the audio is longer
    than the video it cycles the frames, ``i % len(frames)``). The count
    depends on the audio only, never on the video's frame count.

    Audio: librosa 0.7 (pinned by Wav2Lip): resampy ``kaiser_best``,
    reflect-padded centred STFT. ``pad_mode="constant"`` gives what Wav2Lip
    computes when run with librosa >= 0.9. Needs ``M >= 16`` (3000 samples).
    """

    name = "wav2lip"
    system = "Wav2Lip (Rudrabha/Wav2Lip, inference.py)"
    rule = "chunk i = mel[:, s:s+16], s = int(i*80/fps); stop at the first overrun, last chunk = mel[:, M-16:]"
    shape = "[K, 80, 16], K = ceil((M-15)*fps/80) + 1, M = 1 + n//200"
    resampler = "kaiser_best"
    pad_mode = "reflect"
    file_name = "mel_chunks.npy"
    allowed = {"pad_mode": ("reflect", "constant")}

    @staticmethod
    def full_chunks(m: int, fps) -> int:
        """``C``: chunks that fit whole before the loop stops (0 if ``m < 16``)."""
        if m < MEL_STEP:
            return 0
        fps = Fraction(fps)
        mult = 80.0 / float(fps)
        c = -(-((m - MEL_STEP + 1) * fps.numerator) // (80 * fps.denominator))  # exact ceil((M-15)*fps/80)
        while c > 0 and int((c - 1) * mult) + MEL_STEP > m:  # the system's float products, one by one
            c -= 1
        while int(c * mult) + MEL_STEP <= m:
            c += 1
        return c

    def starts(self, n_samples: int, fps) -> np.ndarray:
        """Mel start index of every chunk, int64 ``(K,)``; the last one is ``M - 16``."""
        m = mel_frames(n_samples)
        c = self.full_chunks(m, fps)
        if m < MEL_STEP:
            return np.zeros(0, np.int64)
        i = np.arange(c, dtype=np.float64)
        s = np.trunc(i * (80.0 / float(Fraction(fps)))).astype(np.int64)
        return np.append(s, m - MEL_STEP)

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        m = mel_frames(n_samples)
        return 0 if m < MEL_STEP else self.full_chunks(m, fps) + 1

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None, device=None):
        n = audio.num_samples
        starts = self.starts(n, fps)
        if starts.shape[0] == 0:
            raise self._none_fit(n, "Wav2Lip needs at least 16 mel frames (3000 samples, 187.5 ms)")
        return _mel_windows(self.mel(audio.samples), starts, edge="shift")

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        return mel_window_spans(self.starts(n_samples, fps))


class Wav2LipSyncNet(_SpectralPreset):
    """Wav2Lip's expert lip-sync discriminator training windows (``color_syncnet_train.py``).

    Rule: window ``i`` is ``mel[s:s+16]`` with ``s = int(80. * (i / 25.))``,
    paired with video frames ``i .. i+4``. A window is kept when those five
    frames exist (``i + 4 < V``) and the mel slice is whole (``s + 16 <= M``;
    the training loop skips short slices). Videos of ``V <= 15`` frames are
    skipped entirely (``len(img_names) <= 3 * syncnet_T``).

    Layout (decided here): every valid training window in frame order,
    ``[N, 80, 16]`` (row ``i`` is the ``[80, 16]`` mel that the discriminator
    sees with frames ``i..i+4``; the dataset draws them at random).

    Count: ``N = #{0 <= i <= V - 5 : int(80 i / 25) + 16 <= M}`` (0 when
    ``V <= 15``), ``M = 1 + n // 200``, ``V`` the video's frame count or, for
    audio alone, ``n // 640`` (whole 25 fps frames). 10.0 s alone: V = 250, N = 246.

    Audio: librosa 0.7, resampy ``kaiser_best``, reflect padding; 25 fps fixed.
    """

    name = "wav2lip-syncnet"
    system = "Wav2Lip expert discriminator training (Rudrabha/Wav2Lip, color_syncnet_train.py)"
    rule = "window i = mel[s:s+16], s = int(80*i/25), with frames i..i+4; windows short of mel or frames skipped"
    shape = "[N, 80, 16], N = #{i <= V-5 : int(80i/25)+16 <= M} (0 if V <= 15)"
    fixed_fps = Fraction(25)
    resampler = "kaiser_best"
    pad_mode = "reflect"
    file_name = "syncnet_mels.npy"
    allowed = {"pad_mode": ("reflect", "constant")}

    def starts(self, n_samples: int, video_frames: int | None = None) -> np.ndarray:
        """Mel start of every kept window, int64 ``(N,)``."""
        v = n_samples // SAMPLES_PER_FRAME_25 if video_frames is None else int(video_frames)
        if v <= 3 * SYNCNET_T:
            return np.zeros(0, np.int64)
        s = start_index_25(np.arange(v - SYNCNET_T + 1))
        return s[s + MEL_STEP <= mel_frames(n_samples)]

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return int(self.starts(n_samples, video_frames).shape[0])

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None, device=None):
        starts = self.starts(audio.num_samples, video_frames)
        if starts.shape[0] == 0:
            raise self._none_fit(audio.num_samples, "the discriminator needs more than 15 video frames and "
                                 "16 mel frames per window")
        return _mel_windows(self.mel(audio.samples), starts, edge="zeros")

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        return mel_window_spans(self.starts(n_samples, video_frames))


class SadTalker(_SpectralPreset):
    """SadTalker's audio-to-coefficient input (OpenTalker/SadTalker, ``src/generate_batch.py``).

    Rule: the audio is cut (or zero-padded) to ``int(n / 640) * 640`` samples
    (whole 25 fps frames); the mel of that audio gives ``M = 1 + 640 T // 200``
    frames; frame ``i`` gets mel rows ``s .. s+15`` with ``s = int(80. * ((i - 2) / 25.))``
    (truncation toward zero: frame 0 starts at -6, frame 1 at -3), each index
    clamped to ``[0, M - 1]`` (edge rows replicated), layout ``[80, 16]``.

    Count: ``T = int(n / 640)`` (10.0 s -> 250); the video's frame count is
    not used (SadTalker renders ``T`` frames from the audio). 25 fps fixed.

    Audio: librosa 0.9.2 (pinned by SadTalker): resampy ``kaiser_best``,
    zero-padded centred STFT.
    """

    name = "sadtalker"
    system = "SadTalker (OpenTalker/SadTalker, src/generate_batch.py)"
    rule = "audio cut to int(n/640)*640; frame i = mel rows int(80*(i-2)/25)+0..15 clamped to [0, M-1]"
    shape = "[T, 80, 16], T = int(n/640)"
    fixed_fps = Fraction(25)
    resampler = "kaiser_best"
    pad_mode = "constant"
    file_name = "indiv_mels.npy"
    allowed = {"pad_mode": ("constant", "reflect")}

    @staticmethod
    def starts(n_frames: int) -> np.ndarray:
        """Unclamped mel start of frame ``i`` in ``range(n_frames)``: ``int(80. * ((i - 2) / 25.))``."""
        return start_index_25(np.arange(n_frames) - 2)

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        return int(n_samples / (self.sample_rate / 25))

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None, device=None):
        n = audio.num_samples
        t = self.num_frames(n, fps)
        if t == 0:
            raise self._none_fit(n, "SadTalker needs one whole 25 fps frame (640 samples, 40 ms)")
        length = t * SAMPLES_PER_FRAME_25
        x = audio.samples[:length]
        mel = self.mel(x)
        return _mel_windows(mel, self.starts(t), edge="clamp")

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        """Spans of the unclamped windows (before 0 where SadTalker replicates mel row 0)."""
        return mel_window_spans(self.starts(self.num_frames(n_samples, fps)))


class SyncNet(_SpectralPreset):
    """syncnet_python's audio input (joonson/syncnet_python, ``SyncNetInstance.evaluate``): LSE-C / LSE-D.

    Rule: ``python_speech_features.mfcc(audio, 16000)`` with all defaults (13
    cepstra, 25 ms / 10 ms, 26 filters, nfft 512, pre-emphasis 0.97, lifter 22,
    log energy as c0, no window) on the int16 samples that ``scipy.io.wavfile``
    reads (ffmpeg ``-ac 1 -ar 16000 pcm_s16le``); window ``v`` is MFCC frames
    ``[4v, 4v + 20)`` paired with video frames ``v .. v+4``, layout ``[13, 20]``.

    Count: ``N = min(V, floor(n / 640)) - 5`` (``lastframe`` in the source;
    the last possible window is left out), ``V`` the video's frame count or
    ``n // 640`` for audio alone. 10.0 s at 25 fps: 245. 25 fps fixed.

    Audio: int16 magnitudes. syncnet_python resamples with ffmpeg's default
    resampler; avalign uses soxr (identical for 16 kHz sources).
    """

    name = "syncnet"
    system = "syncnet_python (joonson/syncnet_python, SyncNetInstance.py)"
    rule = "window v = MFCC13 frames [4v, 4v+20) (python_speech_features on int16), with frames v..v+4"
    shape = "[N, 13, 20], N = min(V, n//640) - 5"
    fixed_fps = Fraction(25)
    scale = "int16"
    feature = "mfcc"
    file_name = "cct.npy"

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        v = n_samples // SAMPLES_PER_FRAME_25 if video_frames is None else int(video_frames)
        return max(min(v, n_samples // SAMPLES_PER_FRAME_25) - SYNCNET_T, 0)

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None, device=None):
        n = audio.num_samples
        rows = self.num_frames(n, fps, video_frames)
        if rows == 0:
            raise self._none_fit(n, "syncnet_python needs more than 5 frames of 25 fps video and audio (3200 samples)")
        mfcc_ext = MFCC(input_scale="int16")
        samples = mfcc_ext.prepare(audio).samples  # int16 magnitudes whatever the input scale
        mfcc = mfcc_ext.compute(samples)  # (F, 13)
        starts = np.arange(rows, dtype=np.int64) * MFCC_PER_FRAME
        w = windows(mfcc, starts, size=MFCC_STEP, anchor="start", edge="zeros")  # (N, 20, 13)
        return np.ascontiguousarray(w.transpose(0, 2, 1))

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        """MFCC frames ``[4v, 4v+20)`` see samples ``[640 v, 640 v + 3440)``."""
        v = np.arange(self.num_frames(n_samples, fps, video_frames), dtype=np.int64)
        start = v * SAMPLES_PER_FRAME_25
        return np.stack([start, start + (MFCC_STEP - 1) * 160 + 400], axis=1)


class SyncTalkMel(_SpectralPreset):
    """SyncTalk's audio-visual encoder input (ZiqiaoPeng/SyncTalk, ``nerf_triplane/utils.py`` ``AudDataset``).

    Rule: ``L = int((M - 16) / 80. * 25.) + 2`` windows; window ``j`` is mel
    rows ``s .. s+15`` with ``s = int(80. * (j / 25.))``, shifted back to
    ``M - 16`` when it would overrun; each window (layout ``[80, 16]``) goes
    through the 512-d audio encoder, and ``provider.py`` repeats the first
    and the last embedding twice: ``[e0, e0, e0 .. e(L-1), e(L-1), e(L-1)]``.
    This preset returns the windows in that final order, so that the encoder
    applied row by row gives SyncTalk's ``aud_features`` exactly: output row
    ``i`` holds the window starting at ``int(3.2 * (i - 2))`` (clamped to the
    first and last windows). The encoder itself is not included.

    Count: ``N = int((M - 16) / 3.2) + 6``, ``M = 1 + n // 200``
    (10.0 s -> 251). Needs ``M >= 16`` (3000 samples). 25 fps fixed.

    Audio: SyncTalk leaves librosa unpinned (>= 0.10 today): soxr resampling,
    zero-padded centred STFT.
    """

    name = "synctalk-mel"
    system = "SyncTalk (ZiqiaoPeng/SyncTalk, nerf_triplane/utils.py AudDataset + provider.py), before the encoder"
    rule = "window j = mel rows int(80*j/25)+0..15 shifted back at the end; first and last windows repeated twice"
    shape = "[N, 80, 16], N = int((M-16)/3.2) + 6, M = 1 + n//200"
    fixed_fps = Fraction(25)
    resampler = "soxr_hq"
    pad_mode = "constant"
    file_name = "aud_ave_mel.npy"
    allowed = {"pad_mode": ("constant", "reflect")}

    @staticmethod
    def windows_count(m: int) -> int:
        """``L = int((M - 16) / 80. * 25.) + 2``: the encoder's windows before the repeats (0 if ``M < 16``)."""
        if m < MEL_STEP:
            return 0
        return int((m - MEL_STEP) / 80.0 * 25.0) + 2

    def starts(self, n_samples: int) -> np.ndarray:
        """Mel start of every output row, int64 ``(N,)`` (repeats included)."""
        m = mel_frames(n_samples)
        n_windows = self.windows_count(m)
        if n_windows == 0:
            return np.zeros(0, np.int64)
        s = np.minimum(start_index_25(np.arange(n_windows)), m - MEL_STEP)
        return np.concatenate([s[:1], s[:1], s, s[-1:], s[-1:]])

    def num_frames(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> int:
        n_windows = self.windows_count(mel_frames(n_samples))
        return n_windows + 4 if n_windows else 0

    def compute(self, audio: Audio, *, fps: Fraction, video_frames: int | None, model=None, device=None):
        starts = self.starts(audio.num_samples)
        if starts.shape[0] == 0:
            raise self._none_fit(audio.num_samples, "SyncTalk needs at least 16 mel frames (3000 samples)")
        return _mel_windows(self.mel(audio.samples), starts, edge="shift")

    def sources(self, n_samples: int, fps: Fraction, video_frames: int | None = None) -> np.ndarray:
        return mel_window_spans(self.starts(n_samples))


__all__ = ["SadTalker", "SyncNet", "SyncTalkMel", "Wav2Lip", "Wav2LipSyncNet", "mel_frames", "mel_window_spans",
           "start_index_25"]
