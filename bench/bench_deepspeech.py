"""DeepSpeech v0.1.0 without TensorFlow: load time (first vs cached) and throughput on CPU.

Generates a synthetic frozen graph of the real sizes (n_hidden 2048, LSTM
2048 per direction, random weights, about 490 MB) in a temporary directory
with the tests' graph writer, then measures:

- first load: parse the ``.pb`` + validate + write the safetensors cache;
- cached load: the same call again (safetensors read, no protobuf parsing);
- network throughput: seconds of audio processed per second (inputs + torch
  network), one clip and a batch of clips (the LSTM's recurrent weights,
  134 MB, are read once per step for the whole batch), against the reference NumPy forward pass of the tests (float64,
  step-by-step LSTM) measured on the same audio in the same run.

Usage: ``python3 bench/bench_deepspeech.py [--seconds 10] [--batch 4] [--small] [--threads N] [--device cpu]``
(``--small`` uses n_hidden 256 for a quick run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length for throughput (s)")
    ap.add_argument("--ref-seconds", type=float, default=2.0, help="audio length for the NumPy reference (s)")
    ap.add_argument("--small", action="store_true", help="n_hidden 256 instead of the real 2048")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4, help="clips per batch for the batched throughput")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from helpers.deepspeech_graph import random_weights, write_graph
    from test_deepspeech import numpy_forward

    from avalign.features.deepspeech import input_vectors, load_weights, logits

    size = 256 if args.small else 2048
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AVALIGN_CACHE"] = str(Path(tmp) / "cache")
        pb = Path(tmp) / "output_graph.pb"
        t = time.perf_counter()
        weights = random_weights(n_hidden=size, n_cell=size, seed=0)
        write_graph(pb, weights)
        t_write = time.perf_counter() - t
        print(f"graph: n_hidden={size}, {pb.stat().st_size / 1e6:.1f} MB written in {t_write:.1f} s")

        t = time.perf_counter()
        load_weights(pb)
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        _, info = load_weights(pb)
        t_cached = time.perf_counter() - t
        assert info["cached"]
        print(f"first load (parse + validate + cache): {t_first:.2f} s")
        print(f"cached load (safetensors):             {t_cached:.3f} s   ratio {t_first / t_cached:.1f}x")

        rng = np.random.default_rng(0)
        n = int(args.seconds * 16000)
        audio = np.clip(rng.standard_normal(n) * 3000, -32768, 32767).astype(np.int16)
        logits([audio[:16000]], model=pb, device=args.device)  # warm-up: builds the network once
        t = time.perf_counter()
        out = logits([audio], model=pb, device=args.device)[0]
        t_net = time.perf_counter() - t
        print(f"avalign: {args.seconds:.1f} s of audio -> {out.shape[0]} logits in {t_net:.2f} s "
              f"= {args.seconds / t_net:.1f} s of audio per second ({torch.get_num_threads()} threads, {args.device})")

        if args.batch > 1:
            clips = [np.roll(audio, 1000 * i) for i in range(args.batch)]
            t = time.perf_counter()
            logits(clips, model=pb, device=args.device, batch_size=args.batch)
            t_batch = time.perf_counter() - t
            total = args.batch * args.seconds
            print(f"avalign, batch of {args.batch} clips: {total:.1f} s of audio in {t_batch:.2f} s "
                  f"= {total / t_batch:.1f} s of audio per second ({t_net * args.batch / t_batch:.1f}x one by one)")

        m = int(args.ref_seconds * 16000)
        t = time.perf_counter()
        ref = numpy_forward(weights, input_vectors(audio[:m]).astype(np.float64))
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        ours = logits([audio[:m]], model=pb, device=args.device)[0]
        t_ours = time.perf_counter() - t
        err = float(np.abs(ours - ref).max() / max(1.0, np.abs(ref).max()))
        print(f"NumPy reference: {args.ref_seconds:.1f} s in {t_ref:.2f} s = {args.ref_seconds / t_ref:.2f} s/s; "
              f"avalign {args.ref_seconds / t_ours:.1f} s/s -> {t_ref / t_ours:.1f}x faster; "
              f"max relative difference {err:.1e}")


if __name__ == "__main__":
    main()
