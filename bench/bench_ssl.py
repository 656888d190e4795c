"""Benchmark: wav2vec2-family features on long audio, avalign chunked vs a plain transformers call.

CPU mode (default): real-time factor and peak RSS for 1, 10 and 60 minutes of
audio with a random-initialised wav2vec2-base architecture (12 layers, as
facebook/wav2vec2-base-960h), each measurement in its own subprocess so that
its peak RSS is its own. The plain call (processor + model on the whole clip)
is run only while its predicted peak stays under ``--plain-cap-gb``; beyond
that its memory is extrapolated from the measured points and reported as
such. Also reports the chunked-vs-full-context difference for the
layer-norm HuBERT-large architecture on 60 s of real speech.

GPU mode (``--device cuda --dtype float16 --batch``): hours of audio per
minute for the HuBERT-large architecture (24 layers) with length-bucketed
batches; self-contained (random init from config, no downloads), under ~3 min,
one result line.

    python3 bench/bench_ssl.py                       # 1, 10, 60 min on CPU
    python3 bench/bench_ssl.py --minutes 1 10        # shorter run
    python3 bench/bench_ssl.py --device cuda --dtype float16 --batch
"""

from __future__ import annotations

import argparse
import atexit
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.real import REAL  # noqa: E402

ENG = REAL / "musetalk_eng.wav"  # the real 60 s English clip


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def audio(minutes: float):
    """``minutes`` of speech: the real 60 s file tiled (float32, 16 kHz)."""
    import numpy as np

    from avalign.media import load_audio

    if ENG.exists():
        x = load_audio(ENG).samples
    else:  # self-contained (e.g. on a GPU machine without the shared data)
        from avalign.synth import speech_like

        x = np.asarray(speech_like(60.0), dtype=np.float32)
    n = int(minutes * 60 * 16000)
    return np.resize(x, n).astype(np.float32)


def child(args) -> None:
    """One measurement in this process; prints one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    x = audio(args.minutes)
    base = peak_rss_gb()
    t = time.perf_counter()
    if args.child == "avalign":
        from avalign.features import create

        ex = create("wav2vec2", model=args.model, chunk_seconds=args.chunk, context_seconds=args.context)
        y = ex.compute(x)
        frames = y.shape[0]
    else:
        import transformers as tf

        fe = tf.AutoFeatureExtractor.from_pretrained(args.model)
        model = tf.AutoModel.from_pretrained(args.model).eval()
        with torch.inference_mode():
            frames = model(fe(x, sampling_rate=16000, return_tensors="pt").input_values).last_hidden_state.shape[1]
    sec = time.perf_counter() - t
    print(json.dumps({"mode": args.child, "minutes": args.minutes, "seconds": sec, "rtf": sec / (args.minutes * 60),
                      "peak_rss_gb": peak_rss_gb(), "audio_rss_gb": base, "frames": int(frames)}))


def measure(mode: str, minutes: float, model: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--minutes", str(minutes), "--model", model,
           "--chunk", str(args.chunk), "--context", str(args.context), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)
    return {"mode": mode, "minutes": minutes, "failed": (proc.stderr.strip().splitlines() or ["?"])[-1],
            "returncode": proc.returncode}


def chunk_difference() -> str:
    """Max |chunked - full| on 60 s of real speech, HuBERT-large architecture (1 layer)."""
    import numpy as np

    import ssl_models
    from avalign.features import create

    d = ssl_models.model_dirs()["hubert-large-ls960-ft"]
    x = audio(1.0)
    full = create("hubert", model=str(d), chunk_seconds=0)
    y = full.compute(x)
    out = []
    for c, ctx in ((20, 5), (10, 1)):
        diff = np.abs(full.with_options(chunk_seconds=c, context_seconds=ctx).compute(x) - y).max()
        out.append(f"chunk {c}s/context {ctx}s: max |diff| {diff:.3f} (values std {y.std():.2f})")
    return "; ".join(out)


def cpu(args) -> None:
    import ssl_models

    tmp = Path(tempfile.mkdtemp(prefix="avalign_bench_"))
    atexit.register(shutil.rmtree, tmp, True)
    model = str(ssl_models.build("wav2vec2-base-960h", tmp / "w2v", layers=12, seed=0))
    print(f"model: wav2vec2-base-960h architecture, 12 layers, random init ({model}); "
          f"chunk {args.chunk}s, context {args.context}s, {args.threads} threads")
    rows = {}
    for m in args.minutes:
        rows[("avalign", m)] = r = measure("avalign", m, model, args)
        print(f"avalign  {m:5.1f} min: " + (f"{r['seconds']:8.1f} s  RTF {r['rtf']:.4f}  peak RSS {r['peak_rss_gb']:.2f} GB"
                                            if "seconds" in r else f"FAILED {r['failed']}"), flush=True)
    # plain transformers: measure while the predicted peak stays under the cap
    plain = []
    for m in [0.5, 1.0, 2.0] + [m for m in args.minutes if m > 2.0]:
        if len(plain) >= 2:
            (m0, g0), (m1, g1) = plain[-2], plain[-1]
            predicted = g1 + (g1 - g0) / (m1 - m0) * (m - m1)
            if predicted > args.plain_cap_gb:
                print(f"plain    {m:5.1f} min: not run: predicted peak RSS {predicted:.1f} GB (linear from "
                      f"{m0:g} and {m1:g} min) exceeds the {args.plain_cap_gb:g} GB cap"
                      + (" and the 20 GB limit" if predicted > 20 else ""), flush=True)
                continue
        r = measure("plain", m, model, args)
        rows[("plain", m)] = r
        if "seconds" in r:
            plain.append((m, r["peak_rss_gb"]))
            print(f"plain    {m:5.1f} min: {r['seconds']:8.1f} s  RTF {r['rtf']:.4f}  peak RSS {r['peak_rss_gb']:.2f} GB",
                  flush=True)
        else:
            print(f"plain    {m:5.1f} min: FAILED ({r['failed']})", flush=True)
    if len(plain) >= 2:
        (m0, g0), (m1, g1) = plain[-2], plain[-1]
        slope = (g1 - g0) / (m1 - m0)
        at20 = m1 + (20 - g1) / slope if slope > 0 else float("inf")
        print(f"plain call: peak RSS grows ~{slope:.2f} GB per minute of audio; predicted to pass 20 GB at "
              f"~{at20:.1f} min")
    one = rows.get(("avalign", 1.0)) or rows.get(("avalign", 1))
    for m in args.minutes:
        r = rows.get(("avalign", m))
        if one and r and "seconds" in r and "seconds" in one and m != 1:
            print(f"avalign time {m:g} min / 1 min = {r['seconds'] / one['seconds']:.1f}x (linear = {m:g}x)")
        p = rows.get(("plain", m))
        if r and p and "seconds" in r and "seconds" in p:
            print(f"{m:g} min: avalign/plain time {r['seconds'] / p['seconds']:.2f}, "
                  f"RSS {r['peak_rss_gb']:.2f} vs {p['peak_rss_gb']:.2f} GB")
    done = sorted(m for m in args.minutes if "seconds" in rows.get(("avalign", m), {}))
    if len(done) >= 2 and max(args.minutes) < 60:
        a, b = rows[("avalign", done[0])], rows[("avalign", done[-1])]
        per_min = (b["peak_rss_gb"] - a["peak_rss_gb"]) / (done[-1] - done[0])
        print(f"avalign 60 min not measured in this run: peak RSS grows {per_min:.3f} GB per minute of audio "
              f"-> ~{b['peak_rss_gb'] + per_min * (60 - done[-1]):.2f} GB at 60 min (linear extrapolation)")
    if not args.no_chunk_diff:
        print("hubert-large architecture, 60 s real speech, chunked vs full context: " + chunk_difference())


def gpu(args) -> None:
    import numpy as np
    import torch

    import ssl_models
    from avalign.features import create

    tmp = Path(tempfile.mkdtemp(prefix="avalign_bench_"))
    atexit.register(shutil.rmtree, tmp, True)
    d = ssl_models.build("hubert-large-ls960-ft", tmp / "hubert", layers=args.layers, seed=0)
    ex = create("hubert", model=str(d), device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                chunk_seconds=args.chunk, context_seconds=args.context)
    rng = np.random.default_rng(0)
    speech = audio(1.0)
    clips = [np.roll(speech, int(rng.integers(0, len(speech))))[: int(s * 16000)]
             for s in rng.uniform(5, 40, size=args.clips)]
    ex.compute_many(clips[:2])  # warm-up (model load, kernels)
    sync = torch.cuda.synchronize if ex.device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    out = ex.compute_many(clips)
    sync()
    sec = time.perf_counter() - t
    hours = sum(len(c) for c in clips) / 16000 / 3600
    assert all(o.shape[0] == ex.num_frames(len(c)) for o, c in zip(out, clips))
    where = torch.cuda.get_device_name() if ex.device.startswith("cuda") else "cpu"
    print(f"RESULT hubert-large architecture ({args.layers} layers) {args.dtype} on {where} "
          f"batch {args.batch_size}: {hours / (sec / 60):.2f} hours of audio per minute "
          f"({hours * 60:.1f} min of audio in {len(clips)} clips took {sec:.1f} s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0, 60.0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch", action="store_true", help="GPU batching benchmark (HuBERT-large)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--clips", type=int, default=96)
    p.add_argument("--layers", type=int, default=24, help="transformer layers of the GPU benchmark model")
    p.add_argument("--chunk", type=float, default=20.0)
    p.add_argument("--context", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plain-cap-gb", type=float, default=14.0)
    p.add_argument("--no-chunk-diff", action="store_true")
    p.add_argument("--child", choices=["avalign", "plain"])
    p.add_argument("--model")
    args = p.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    if args.child:
        args.minutes = args.minutes[0]
        child(args)
    elif args.batch:
        gpu(args)
    else:
        cpu(args)


if __name__ == "__main__":
    main()
