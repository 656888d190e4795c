"""End to end from the file: avalign's preset arrays against each system's own recipe, restated.

    python3 bench/bench_e2e.py                      # 10 min of real speech (the real WAVs tiled)
    python3 bench/bench_e2e.py --minutes 1 --repeat 3

For one WAV (16 kHz mono int16, written once from ``/work/shared/data/real/*.wav`` tiled, or
``--wav``), in one process, alternating the two sides, min of ``--repeat`` (wall and CPU):

- **wav2lip**: ``avalign.extract(path, "wav2lip", fps=25)`` against ``librosa.load(sr=16000)`` +
  Wav2Lip's ``audio.melspectrogram`` (lfilter pre-emphasis, ``librosa.stft`` with librosa 0.7's
  reflect padding, mel ``np.dot``, ``_amp_to_db`` - 20, symmetric normalisation to [-4, 4]) + the
  ``inference.py`` chunk loop (``start = int(i * 80 / fps)``, last chunk at ``M - 16``);
- **sadtalker**: the same mel (librosa >= 0.9 zero padding) of the audio cut to ``int(n / 640) * 640``
  and ``generate_batch.py``'s crop loop (rows ``int(80 * (i - 2) / 25) + 0..15`` clamped);
- **syncnet**: ``scipy.io.wavfile.read`` + ``python_speech_features.mfcc`` + ``SyncNetInstance``'s
  window loop (``cct[..., 4v:4v + 20]``, ``v < min(V, n // 640) - 5``).

The references are the ones the preset tests use (``tests/helpers/system_refs.py``).
Prints seconds, the ratio (recipe / avalign) and the max abs difference of the values (the recipes
compute in float64, avalign's mel in float32; shapes must agree).

``--whole`` instead times whole processes under ``/usr/bin/time -v`` (wall, CPU, peak RSS):
``avalign extract WAV --preset P -o x.npy`` against this script's ``--peer P`` (the recipe above,
then ``np.save``), each from a cold interpreter, as a user runs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.system_refs import ref_melspectrogram, ref_sadtalker, ref_syncnet, ref_wav2lip_chunks  # noqa: E402
from speech import speech_wav  # noqa: E402
from timev import best_in_process  # noqa: E402


def wav2lip_recipe(path: str, fps: float = 25.0) -> np.ndarray:
    """librosa.load + Wav2Lip's ``audio.melspectrogram`` (librosa 0.7's reflect padding) + inference.py's loop."""
    import librosa

    mel = ref_melspectrogram(librosa.load(path, sr=16000)[0], pad_mode="reflect")
    return np.asarray(ref_wav2lip_chunks(mel, fps))


def sadtalker_recipe(path: str) -> np.ndarray:
    """librosa.load + SadTalker's ``generate_batch.get_data`` audio part (librosa >= 0.9 zero padding)."""
    import librosa

    wav = librosa.load(path, sr=16000)[0]
    return np.asarray(ref_sadtalker(wav, lambda w: ref_melspectrogram(w, pad_mode="constant")))


def syncnet_recipe(path: str) -> np.ndarray:
    """scipy's wavfile.read + SyncNetInstance's MFCC windows, audio alone (``V = n // 640``)."""
    from scipy.io import wavfile

    _, audio = wavfile.read(path)
    return np.stack(ref_syncnet(audio, len(audio) // 640))


PEERS = {"wav2lip": wav2lip_recipe, "sadtalker": sadtalker_recipe, "syncnet": syncnet_recipe}
#: avalign's preset arguments per case (the fps each recipe assumes)
PRESET_ARGS = {"wav2lip": ["--fps", "25"], "sadtalker": [], "syncnet": []}


def whole(path: str, names: list[str], repeat: int, workdir: Path) -> int:
    """avalign's CLI against each recipe as a script, whole processes, min of ``repeat``, alternating."""
    from timev import best_of, line

    out = str(workdir / "e2e_out.npy")
    print(f"{path}: whole processes under /usr/bin/time -v, min of {repeat}, alternating; "
          f"load {os.getloadavg()[0]:.1f}")
    for name in names:
        runs = {"avalign": [sys.executable, "-c", "from avalign.cli import run; run()", "extract", path, "--preset",
                            name, *PRESET_ARGS[name], "-o", out, "-q"],
                "recipe": [sys.executable, __file__, "--peer", name, "--wav", path, "--out", out]}
        best = best_of(runs, repeat)
        print(line(f"{name} avalign extract", best["avalign"], best["recipe"]))
        print(line(f"{name} recipe script", best["recipe"]))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--wav", help="use this 16 kHz mono WAV instead of the tiled real speech")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", choices=("wav2lip", "sadtalker", "syncnet"))
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/avalign-bench")
    ap.add_argument("--whole", action="store_true", help="whole processes under /usr/bin/time -v")
    ap.add_argument("--peer", choices=tuple(PEERS), help="run one system's recipe on --wav, save to --out")
    ap.add_argument("--out", help="with --peer: the .npy to write")
    args = ap.parse_args(argv)
    if args.peer:
        np.save(args.out, PEERS[args.peer](args.wav))
        return 0
    import avalign

    path = args.wav or str(speech_wav(args.minutes, Path(args.workdir)))
    if args.whole:
        return whole(path, [args.only] if args.only else list(PEERS), args.repeat, Path(args.workdir))
    cases = {"wav2lip": (lambda: avalign.extract(path, "wav2lip", fps=25).values, lambda: wav2lip_recipe(path)),
             "sadtalker": (lambda: avalign.extract(path, "sadtalker").values, lambda: sadtalker_recipe(path)),
             "syncnet": (lambda: avalign.extract(path, "syncnet").values, lambda: syncnet_recipe(path))}
    if args.only:
        cases = {args.only: cases[args.only]}
    for ours, theirs in cases.values():  # warm-up (lazy imports on both sides), on the same file
        ours(), theirs()
    n = avalign.probe(path).audio.num_samples
    print(f"{path}: {n / 16000:.1f} s; min of {args.repeat}, alternating; load {os.getloadavg()[0]:.1f}")
    for name, (ours, theirs) in cases.items():
        best = best_in_process({"ours": ours, "theirs": theirs}, args.repeat)
        (*b_ours, y), (*b_theirs, ref) = best["ours"], best["theirs"]
        assert y.shape == ref.shape, (name, y.shape, ref.shape)
        diff = float(np.abs(y.astype(np.float64) - ref).max())
        print(f"{name:9s} avalign {b_ours[0]:.3f} s (cpu {b_ours[1]:.3f})  recipe {b_theirs[0]:.3f} s "
              f"(cpu {b_theirs[1]:.3f})  ratio {b_theirs[0] / b_ours[0]:.1f}x (cpu {b_theirs[1] / b_ours[1]:.1f}x)  "
              f"shape {tuple(y.shape)}  max abs diff {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
