"""Decode speed: avalign.load_audio against soundfile.read and librosa.load, same files, same run.

    python3 bench/bench_decode.py                  # 10 minutes of real speech
    python3 bench/bench_decode.py --minutes 1 --repeat 3

Writes the real WAVs (``$AVALIGN_REAL_DATA``) at 16 kHz, concatenated and tiled to ``--minutes``,
as 16-bit WAV and FLAC at 16 kHz, FLAC at 44.1 kHz, AAC (.m4a, 44.1 kHz, 128 kb/s) and Opus (.opus,
48 kHz) through soundfile and PyAV (cached). Then, in one process, alternating, min of ``--repeat``
(wall and CPU seconds):

- at the file's own rate: ``avalign.load_audio(path, None)`` against
  ``soundfile.read(path, dtype="float32")`` (WAV, FLAC): ratio, and whether the samples are identical;
- at 16 kHz: ``avalign.load_audio(path, 16000)`` against ``librosa.load(path, sr=16000)``
  (librosa reads AAC/Opus only through audioread with an ffmpeg binary; without one it says so).

``x real time`` is audio seconds over CPU seconds (per core). avalign's figures include its probe.

``--whole`` instead runs each read as its own process under ``/usr/bin/time -v`` (wall, CPU, peak
RSS, interpreter and imports included), against ``python -c "import soundfile; soundfile.read(...)"``,
with ``python -c "import numpy"`` as the floor.
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

from helpers.media_files import write_audio  # noqa: E402
from speech import speech_wav, tiled_speech  # noqa: E402
from timev import best_in_process  # noqa: E402


def generate(workdir: Path, minutes: float) -> dict:
    """name -> path of the test files (cached by length)."""
    import soundfile

    from avalign import media

    names = {k: workdir / f"speech_{minutes:g}min_{k}" for k in
             ("16k.wav", "16k.flac", "44k.flac", "44k.m4a", "48k.opus")}
    if all(p.is_file() for p in names.values()):
        return names
    x = tiled_speech(minutes)
    speech_wav(minutes, workdir, x)
    soundfile.write(names["16k.flac"], x, 16000, subtype="PCM_16")
    soundfile.write(names["44k.flac"], media.resample(x, orig_sr=16000, target_sr=44100), 44100, subtype="PCM_16")
    for key, codec, fmt, rate, rate_bits in (("44k.m4a", "aac", "ipod", 44100, 128000),
                                              ("48k.opus", "libopus", "ogg", 48000, 64000)):
        write_audio(names[key], media.resample(x, orig_sr=16000, target_sr=rate), rate, codec, container=fmt,
                    bit_rate=rate_bits)
    return names


def whole(files: dict, audio_s: float, repeat: int) -> int:
    """Each read as a whole process: avalign against soundfile (WAV, FLAC), x real time per CPU second."""
    from timev import best_of, line, python

    print(f"{audio_s / 60:g} min of speech; whole processes under /usr/bin/time -v, min of {repeat}, alternating; "
          f"load {os.getloadavg()[0]:.1f}")
    print(line("floor: python -c 'import numpy'", best_of({"numpy": python("import numpy")}, repeat)["numpy"]))
    for key, path in files.items():
        runs = {"avalign": python(f"import avalign; avalign.load_audio({str(path)!r}, None)")}
        if key.endswith((".wav", ".flac")):
            runs["soundfile"] = python(f"import soundfile; soundfile.read({str(path)!r}, dtype='float32')")
        best = best_of(runs, repeat)
        print(line(f"{key} avalign.load_audio", best["avalign"], best.get("soundfile"))
              + f"  {audio_s / best['avalign'][1]:.0f}x real time per CPU s")
        if "soundfile" in best:
            print(line(f"{key} soundfile.read", best["soundfile"]))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--whole", action="store_true", help="whole processes under /usr/bin/time -v")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/avalign-bench")
    args = ap.parse_args(argv)
    import librosa
    import soundfile

    import avalign

    files = generate(Path(args.workdir), args.minutes)
    audio_s = args.minutes * 60
    if args.whole:
        return whole(files, audio_s, args.repeat)
    for p in files.values():  # warm-up: lazy imports on every side
        avalign.load_audio(p, 16000)
    print(f"{args.minutes:g} min of speech; min of {args.repeat}, alternating; load {os.getloadavg()[0]:.1f}")
    for key, path in files.items():
        native = key.endswith((".wav", ".flac"))
        fns = {"avalign": lambda: avalign.load_audio(path, None).samples}
        if native:
            fns["soundfile"] = lambda: soundfile.read(path, dtype="float32")[0]
        fns["avalign16k"] = lambda: avalign.load_audio(path, 16000).samples
        fns["librosa16k"] = lambda: librosa.load(path, sr=16000)[0]
        r = best_in_process(fns, args.repeat, catch=(Exception,))  # librosa without an AAC/Opus reader
        ours = r["avalign"]
        line = f"{key:9s} avalign {ours[0]:.3f} s (cpu {ours[1]:.3f}, {audio_s / ours[1]:.0f}x real time)"
        if native:
            sf_ = r["soundfile"]
            same = sf_[2].shape == ours[2].shape and np.array_equal(sf_[2], ours[2])
            line += (f" | soundfile {sf_[0]:.3f} s: ratio {sf_[0] / ours[0]:.2f}x (cpu {sf_[1] / ours[1]:.2f}x), "
                     f"identical {same}")
        a16, l16 = r["avalign16k"], r["librosa16k"]
        if l16[0] is None:
            line += f" | 16 kHz: avalign {a16[0]:.3f} s; librosa cannot read it here ({l16[2]})"
        else:
            n = min(a16[2].size, l16[2].size)
            line += (f" | 16 kHz: avalign {a16[0]:.3f} s, librosa {l16[0]:.3f} s: ratio {l16[0] / a16[0]:.2f}x, "
                     f"max abs diff {float(np.abs(a16[2][:n] - l16[2][:n]).max()):.2e}")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
