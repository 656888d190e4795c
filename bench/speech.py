"""The benchmarks' long input: the real WAVs (``helpers.real.REAL``) at 16 kHz, concatenated and tiled.

Imported by the benches beside it (their folder is on ``sys.path``; they put ``src/`` and ``tests/`` there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.real import REAL


def tiled_speech(minutes: float) -> np.ndarray:
    """``minutes`` of real speech: the real WAVs at 16 kHz (sorted by name), concatenated and tiled."""
    from avalign import media

    x = np.concatenate([media.load_audio(p, 16000).samples for p in sorted(REAL.glob("*.wav"))])
    n = int(minutes * 60 * 16000)
    return np.tile(x, -(-n // x.size))[:n]


def speech_wav(minutes: float, workdir: Path, samples: np.ndarray | None = None) -> Path:
    """``workdir/speech_{minutes}min_16k.wav``: :func:`tiled_speech` (or ``samples``) as 16 kHz mono int16,
    written once (cached by length)."""
    path = workdir / f"speech_{minutes:g}min_16k.wav"
    if not path.is_file():
        import soundfile

        workdir.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, tiled_speech(minutes) if samples is None else samples, 16000, subtype="PCM_16")
    return path
