"""Benchmark: avalign's mel and MFCC against the references, in one run.

(a) the Wav2Lip mel recipe written with librosa as the systems do
    (``scipy.signal.lfilter`` pre-emphasis, ``librosa.stft``, ``np.abs``,
    mel ``np.dot``, level), librosa < 0.9 padding (reflect);
(b) avalign's ``Mel(**WAV2LIP_MEL, pad_mode="reflect")``;
and python_speech_features' ``mfcc`` on int16 audio against avalign's ``MFCC``.

Prints the best-of-N wall time (and CPU time) of each, the speed ratio and the maximum
absolute difference (mel: on the normalised [-4, 4] scale; MFCC: also
relative to the largest reference value). Run::

    PYTHONPATH=src python3 bench/bench_spectral.py            # 10 minutes of speech-like audio
    PYTHONPATH=src python3 bench/bench_spectral.py --seconds 60 --repeat 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.signal


def wav2lip_librosa(wav: np.ndarray) -> np.ndarray:
    """The Wav2Lip recipe as its audio.py writes it, returning ``(80, M)``."""
    import librosa

    y = scipy.signal.lfilter([1, -0.97], [1], wav)
    d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect")
    mel_basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    s = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), np.dot(mel_basis, np.abs(d)))) - 20
    return np.clip((2 * 4.0) * ((s + 100) / 100) - 4.0, -4.0, 4.0)


def best_time(fn, repeat: int):
    """``((best wall seconds, best CPU seconds of this process), last result)`` over ``repeat`` calls.

    CPU time (all threads) is printed too: on a shared machine the wall time
    depends on the other processes, the CPU time much less.
    """
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return (wall, cpu), out


def report(label: str, ref_name: str, t_ref, t_ours, tail: str) -> None:
    print(f"{label} {ref_name} {t_ref[0]:7.3f} s | avalign {t_ours[0]:7.3f} s | {t_ref[0] / t_ours[0]:5.1f}x faster "
          f"(CPU time {t_ref[1]:.3f} s vs {t_ours[1]:.3f} s: {t_ref[1] / t_ours[1]:.1f}x) | {tail}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="audio length (default 600 = 10 minutes)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best is reported")
    args = ap.parse_args(argv)

    import python_speech_features

    from avalign.features.spectral import MFCC, WAV2LIP_MEL, Mel
    from avalign.synth import speech_like

    x = speech_like(args.seconds)
    print(f"audio: {args.seconds:.0f} s speech-like at 16 kHz ({x.shape[0]} samples), best of {args.repeat}")

    mel = Mel(**WAV2LIP_MEL, pad_mode="reflect")
    mel.compute(x[:16000])  # warm the caches (filter bank, window, FFT plans)
    wav2lip_librosa(x[:16000])
    t_ref, ref = best_time(lambda: wav2lip_librosa(x), args.repeat)
    t_ours, ours = best_time(lambda: mel.compute(x), args.repeat)
    diff = float(np.abs(ours - ref.T).max())
    report("mel ", "librosa recipe", t_ref, t_ours, f"max abs diff {diff:.2e} (normalised [-4, 4] scale), "
           f"shape {ours.shape}")

    xi = np.round(x * 32767).astype(np.int16)
    mfcc = MFCC(input_scale="int16")
    xf = xi.astype(np.float32)
    t_ref, ref = best_time(lambda: python_speech_features.mfcc(xi, 16000), args.repeat)
    t_ours, ours = best_time(lambda: mfcc.compute(xf), args.repeat)
    diff = float(np.abs(ours - ref).max())
    report("mfcc", "psf           ", t_ref, t_ours, f"max abs diff {diff:.2e}, relative "
           f"{diff / float(np.abs(ref).max()):.2e}, shape {ours.shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
