"""``avalign demo --out DIR``: make an example clip and run the main job on it (no network, no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..api import extract
from ..check import check
from ..store import save
from ..synth import click_track, speech_like, write_clip
from .. import systems


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate an example clip and extract aligned features from it")
    p.add_argument("--out", default="avalign-demo", help="folder for the example and its outputs")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = out / "example.mp4"
    sr, seconds, fps = 16000, 10.0, "30000/1001"
    n = int(seconds * sr)
    bright = (60, 150, 240)
    clicks = [round((i + 0.5) * 1001 / 30000 * sr) for i in bright]  # in the middle of each bright frame
    audio = speech_like(seconds, sample_rate=sr) * 0.1 + click_track(n, clicks, sample_rate=sr, length=160)
    write_clip(clip, fps=fps, num_frames=int(seconds * 30000 / 1001), bright_frames=bright, audio=audio)
    print(f"wrote {clip}: 10 s of speech-like audio, H.264 at 30000/1001 fps, AAC; clicks on frames {bright}")
    jobs = [("mel", dict(feature="mel")), *([("wav2lip", dict(preset="wav2lip"))]
                                          if "wav2lip" in systems.names() else [])]
    for name, kw in jobs:
        aligned = extract(clip, **kw)
        npy, _ = save(out / f"{name}.npy", aligned.values, aligned.meta)
        print(f"{name}: {npy} shape {list(aligned.values.shape)}")
        report = check(clip, npy)
        print("  " + report.text().replace("\n", "\n  "))
        if name == "mel":
            energy = np.exp(aligned.values).sum(axis=1)
            loud = sorted(int(i) for i in np.argsort(energy)[-3:])
            print(f"  loudest video frames: {loud} (the clicks were put on {list(bright)})")
    return 0
