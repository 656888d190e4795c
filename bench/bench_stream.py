"""Streaming cost: per-push latency (p50 / p99) and real-time factor with 20 ms packets, CPU.

For each recipe, ``--seconds`` of speech-like audio is pushed in 320-sample
packets (20 ms at 16 kHz); each push is timed, in wall-clock time and in the
process's CPU time (``cpu``: robust to other load on the machine; for torch
it adds up its threads). The offline extraction of the
same audio is timed in the same run, and the ratio (stream total / offline)
printed (``-`` for a system loop, which has no offline recipe). Target: spectral p99 < 2 ms per packet. HuBERT-large is a
random-initialised model of the real architecture (``--layers`` transformer
layers, 24 in the checkpoint); ``ditto-online`` runs it in Ditto's loop. whisper-tiny is a random-initialised model of
the real architecture (4 blocks, 384 wide) streamed on bounded windows
(defaults: 200 ms per call, 1 s before, 200 ms after); its offline reference
pads every 30 s input, and the line after it times one padded 30 s encoder call
(what a loop that pads each window to 30 s pays per call).

    python3 bench/bench_stream.py --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import avalign  # noqa: E402
from avalign import synth  # noqa: E402
from avalign.media import Audio  # noqa: E402


def measure(name, make, offline, x, packet=320):
    s = make()
    times, cpu = [], []
    for a in range(0, len(x), packet):
        t, c = time.perf_counter(), time.process_time()
        s.push(x[a:a + packet])
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    t = time.perf_counter()
    s.flush()
    total = sum(times) + time.perf_counter() - t
    ratio = "     -"
    if offline is not None:  # a system loop has no offline recipe to compare with
        t = time.perf_counter()
        offline()
        ratio = f"{total / (time.perf_counter() - t):6.2f}"
    ms, cms = np.array(times) * 1000, np.array(cpu) * 1000
    dur = len(x) / 16000
    print(f"{name:28s} p50 {np.percentile(ms, 50):8.3f} ms  p99 {np.percentile(ms, 99):8.3f} ms  "
          f"max {ms.max():8.2f} ms  (cpu p50 {np.percentile(cms, 50):7.3f} p99 {np.percentile(cms, 99):8.3f} ms)  "
          f"RTF {total / dur:.4f}  stream/offline {ratio}  latency {s.latency * 1000:.1f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--layers", type=int, default=24, help="transformer layers of the HuBERT-large model")
    ap.add_argument("--no-neural", action="store_true")
    ap.add_argument("--no-hubert", action="store_true", help="skip HuBERT-large (whisper-tiny only)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    x = synth.speech_like(args.seconds, seed=0) if hasattr(synth, "speech_like") else (
        np.random.default_rng(0).standard_normal(int(args.seconds * 16000)) * 0.1).astype(np.float32)
    x = np.asarray(x, np.float32)
    audio = Audio(x, 16000)
    measure("mel (25 fps)", lambda: avalign.stream(feature="mel", fps=25),
            lambda: avalign.extract(audio, feature="mel", fps=25), x)
    measure("wav2lip", lambda: avalign.stream("wav2lip", fps=25), lambda: avalign.extract(audio, "wav2lip", fps=25), x)
    measure("syncnet", lambda: avalign.stream("syncnet"), lambda: avalign.extract(audio, "syncnet"), x)
    measure("livetalking-wav2lip", lambda: avalign.stream("livetalking-wav2lip"), None, x)
    if args.no_neural:
        return
    import ssl_models

    if not args.no_hubert:
        with tempfile.TemporaryDirectory() as d:
            path = str(ssl_models.build("hubert-large-ls960-ft", Path(d), layers=args.layers))
            measure(f"hubert-large ({args.layers} layers)",
                    lambda: avalign.stream(feature="hubert", model=path, fps=25),
                    lambda: avalign.extract(audio, feature="hubert", model=path, fps=25), x)
            measure(f"ditto-online ({args.layers} layers)", lambda: avalign.stream("ditto-online", model=path),
                    None, x)
    from avalign.features.whisper import load_encoder, save_random_model

    with tempfile.TemporaryDirectory() as d:
        path = str(save_random_model(d, size="tiny"))
        measure("whisper-tiny (4 blocks)", lambda: avalign.stream(feature="whisper", model=path, fps=25),
                lambda: avalign.extract(audio, feature="whisper", model=path, fps=25), x)
        enc = load_encoder(path)
        pad = np.zeros((1, 3000, enc.n_mels), np.float32)
        enc.states(pad, layers="last")
        t = time.perf_counter()
        for _ in range(3):
            enc.states(pad, layers="last")
        print(f"{'  one padded 30 s call':22s} {(time.perf_counter() - t) / 3 * 1000:8.1f} ms", flush=True)


if __name__ == "__main__":
    main()
