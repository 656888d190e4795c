"""Decode and resample long AAC audio: avalign.load_audio against librosa.load, same file, same run.

    python3 bench/bench_decode.py              # one hour (generation takes a minute or two, cached)
    python3 bench/bench_decode.py --minutes 5  # quick run

Writes speech-like audio (avalign.synth.speech_like) at 44.1 kHz as AAC in .m4a
(PyAV) and as FLAC, then times, each in a fresh process (so that peak memory is
its own): avalign.load_audio(m4a, 16000), avalign.load_audio(flac, 16000),
librosa.load(m4a, sr=16000) and librosa.load(flac, sr=16000). librosa reads
AAC only through audioread with an ffmpeg binary or GStreamer; when that is
missing here the script says so and compares on the FLAC of the same audio.
Prints seconds (decode + resample; imports and a warm-up call excluded, shown apart), x real
time, ratio to librosa, max abs difference, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SR_IN = 44100
SR_OUT = 16000


def generate(workdir: Path, minutes: float) -> tuple[Path, Path]:
    """Write ``minutes`` of speech-like audio as AAC (.m4a) and FLAC, 44.1 kHz mono; cached by length."""
    import av

    from avalign.synth import speech_like

    m4a = workdir / f"speech_{minutes:g}min.m4a"
    flac = workdir / f"speech_{minutes:g}min.flac"
    if m4a.is_file() and flac.is_file():
        return m4a, flac
    workdir.mkdir(parents=True, exist_ok=True)
    total = int(round(minutes * 60 * SR_IN))
    chunk = 60 * SR_IN  # one minute at a time: bounded memory
    t0 = time.perf_counter()
    outs = []
    for path, codec, fmt, block in ((m4a, "aac", "ipod", 1024), (flac, "flac", "flac", 4608)):
        out = av.open(str(path) + ".part", "w", format=fmt)
        st = out.add_stream(codec, rate=SR_IN)
        st.layout = "mono"
        if codec == "aac":
            st.bit_rate = 128000
        outs.append((out, st, codec, block))
    pts = 0
    for i, start in enumerate(range(0, total, chunk)):
        x = speech_like(min(chunk, total - start) / SR_IN, sample_rate=SR_IN, seed=i)
        for out, st, codec, block in outs:
            fmt = st.codec_context.codec.audio_formats[0].name
            for s in range(0, x.size, block):
                c = x[None, s:s + block]
                if fmt.startswith("s16"):
                    c = np.clip(np.round(c * 32767), -32768, 32767).astype(np.int16)
                elif fmt.startswith("s32"):
                    c = (np.clip(np.round(c * 32767), -32768, 32767).astype(np.int32) << 16)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(c), format=fmt, layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = SR_IN, pts + s, Fraction(1, SR_IN)
                for p in st.encode(frame):
                    out.mux(p)
        pts += x.size
    for out, st, _, _ in outs:
        for p in st.encode():
            out.mux(p)
        out.close()
    os.replace(str(m4a) + ".part", m4a)
    os.replace(str(flac) + ".part", flac)
    print(f"generated {minutes:g} min of speech-like audio (AAC 128 kb/s .m4a and FLAC, 44.1 kHz mono) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return m4a, flac


def child(mode: str, path: str, out: str) -> None:
    """Run one decoder in this process; print JSON with seconds and peak RSS; save the samples."""
    t0 = time.perf_counter()
    if mode == "avalign":
        import avalign

        decode = lambda: avalign.load_audio(path, SR_OUT).samples  # noqa: E731
        # warm-up, like librosa's below: PyAV loads its modules on first use
        avalign.media.resample(np.zeros(SR_IN, np.float32), orig_sr=SR_IN, target_sr=SR_OUT)
        avalign.probe(path)
    else:
        import librosa

        decode = lambda: librosa.load(path, sr=SR_OUT)[0]  # noqa: E731
        try:  # warm-up: librosa imports its submodules lazily
            librosa.load(path, sr=SR_OUT, duration=1.0)
        except Exception:
            pass
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    y = decode()
    seconds = time.perf_counter() - t0
    np.save(out, y)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "import_s": import_s, "samples": int(y.size), "rss_mb": rss_mb}))


def run_child(mode: str, path: Path, workdir: Path) -> dict:
    out = workdir / f"out_{mode}_{path.suffix[1:]}.npy"
    r = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["out"] = out
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the test audio (default 60)")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/avalign-bench")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    workdir = Path(args.workdir)
    m4a, flac = generate(workdir, args.minutes)
    audio_s = args.minutes * 60
    import av
    import librosa

    print(f"audio: {audio_s:g} s at {SR_IN} Hz -> {SR_OUT} Hz; avalign {__import__('avalign').__version__}, "
          f"librosa {librosa.__version__}, PyAV {av.__version__}")
    runs = [("avalign", m4a), ("librosa", m4a), ("avalign", flac), ("librosa", flac)]
    res = {(mode, p.suffix): run_child(mode, p, workdir) for mode, p in runs}
    print(f"{'decoder':<9} {'file':<6} {'seconds':>8} {'x real time':>12} {'samples':>11} {'peak RSS MB':>12} "
          f"{'import s':>9}")
    for (mode, suffix), r in res.items():
        if "error" in r:
            print(f"{mode:<9} {suffix:<6} failed: {r['error'][:100]}")
            continue
        print(f"{mode:<9} {suffix:<6} {r['seconds']:8.2f} {audio_s / r['seconds']:12.0f} {r['samples']:11d} "
              f"{r['rss_mb']:12.0f} {r['import_s']:9.2f}")
    ref_key = (("librosa", ".m4a") if "error" not in res[("librosa", ".m4a")] else ("librosa", ".flac"))
    if ref_key[1] == ".flac":
        print("librosa cannot read AAC here (no ffmpeg binary / GStreamer for audioread): "
              "it is compared on the FLAC of the same audio")
    ref = res[ref_key]
    y_ref = np.load(ref["out"])
    for key in (("avalign", ".m4a"), ("avalign", ".flac")):
        r = res[key]
        if "error" in r:
            continue
        y = np.load(r["out"])
        n = min(y.size, y_ref.size)
        diff = float(np.abs(y[:n] - y_ref[:n]).max()) if n else float("nan")
        print(f"avalign {key[1]} vs librosa {ref_key[1]}: speed ratio (librosa s / avalign s) "
              f"{ref['seconds'] / r['seconds']:.2f}, "
              f"max abs diff {diff:.3g}, lengths {y.size} vs {y_ref.size}")
    for r in res.values():
        if "out" in r:
            Path(r["out"]).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
