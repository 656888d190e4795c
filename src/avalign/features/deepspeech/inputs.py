"""DeepSpeech v0.1.0 inputs exactly as the VOCA lineage computes them.

1. Audio as int16 magnitudes at 16 kHz. The lineage reads the WAV with
   ``scipy.io.wavfile`` (int16), takes the first channel of a multi-channel
   file, and when the rate is not 16 kHz resamples ``audio.astype(float)``
   with ``resampy.resample`` (kaiser_best, output length
   ``int(n * 16000 / sr)``), then casts back with ``.astype(np.int16)``
   (truncation toward zero): :func:`lineage_int16`, :func:`read_wav`.
2. python_speech_features MFCC with 26 cepstra (25 ms / 10 ms frames, 512-point
   FFT, 26 filters, pre-emphasis 0.97, lifter 22, c0 replaced by the log frame
   energy): ``F100 = 1`` if ``n <= 400`` else ``1 + ceil((n - 400) / 160)``.
3. Every second frame: ``N50 = ceil(F100 / 2)``.
4. 9 zero frames before and after; step ``j`` sees frames ``[j - 9, j + 9]``
   flattened to 19 x 26 = 494 values (past, present, future).
5. One mean and one standard deviation over the whole ``(N50, 494)`` matrix.
"""

from __future__ import annotations

import numpy as np

from ...timing import psf_num_frames

SAMPLE_RATE = 16000
NUM_CEPSTRA = 26
NUM_CONTEXT = 9
FRAME_LEN, FRAME_STEP = 400, 160


def num_steps(n_samples: int) -> int:
    """Number of 50 Hz network steps (logits) for ``n_samples`` at 16 kHz: ``ceil(F100 / 2)``."""
    return (psf_num_frames(int(n_samples), frame_len=FRAME_LEN, step=FRAME_STEP) + 1) // 2


def lineage_int16(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """int16 samples at 16 kHz from int16-valued ``samples`` at ``sample_rate``, as the lineage does.

    ``resampy.resample(x.astype(float), sr, 16000).astype(np.int16)`` when
    ``sample_rate != 16000``, else ``x.astype(float).astype(np.int16)``.
    """
    x = np.asarray(samples).astype(np.float64)
    if int(sample_rate) != SAMPLE_RATE:
        import resampy

        x = resampy.resample(x, int(sample_rate), SAMPLE_RATE)
    return x.astype(np.int16)


def read_wav(path) -> tuple[np.ndarray, int, int]:
    """A WAV file read the lineage's way: ``(int16 samples at 16 kHz, source rate, source length)``.

    Uses ``scipy.io.wavfile`` and the first channel, so that a non-16 kHz
    file gives bit-identical samples to VOCA / AD-NeRF / DINet.
    """
    import scipy.io.wavfile

    from ...errors import MediaError

    try:
        sr, audio = scipy.io.wavfile.read(path)
    except (OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot read as WAV ({exc})") from None
    if audio.ndim != 1:
        audio = audio[:, 0]
    return lineage_int16(audio, sr), int(sr), int(audio.shape[0])


def mfcc(samples: np.ndarray) -> np.ndarray:
    """python_speech_features ``mfcc(samples, 16000, numcep=26)``, shape ``(F100, 26)``, on int16 magnitudes."""
    from ..spectral import MFCC

    return MFCC(numcep=NUM_CEPSTRA, input_scale="int16").compute(np.asarray(samples, dtype=np.float64))


def context_windows(features: np.ndarray, *, num_context: int = NUM_CONTEXT) -> np.ndarray:
    """Rows ``[j - c, j + c]`` of ``features`` (zeros outside) flattened: ``(T, (2c + 1) * D)``."""
    from ...framed import windows

    t, d = features.shape
    w = windows(features.astype(np.float64), np.arange(t), size=2 * num_context + 1, anchor=-num_context,
                edge="zeros")
    return w.reshape(t, (2 * num_context + 1) * d)


def input_vectors(samples: np.ndarray) -> np.ndarray:
    """Network inputs ``(N50, 494)`` float32 for int16-valued samples at 16 kHz (steps 2-5 above)."""
    feats = mfcc(samples)[::2]
    x = context_windows(feats)
    std = x.std()
    x = (x - x.mean()) / (std if std > 0 else 1.0)
    return x.astype(np.float32)
