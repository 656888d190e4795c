"""``avalign probe FILE [--json]``."""

from __future__ import annotations

import json

from ..media import probe
from ..timing import fraction_str


def register(sub) -> None:
    p = sub.add_parser("probe", help="show streams, exact fps, frame count, start times")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    info = probe(args.file)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return 0
    print(f"{info.path}: {info.format}, {info.duration:.6g} s")
    if info.video:
        v = info.video
        print(f"  video #{v.index}: {v.codec} {v.width}x{v.height}, {fraction_str(v.fps)} fps"
              f" ({float(v.fps):.6g}), {v.num_frames} frames, starts at {float(v.start_time) * 1000:.3f} ms"
              + (f", variable frame rate (average {fraction_str(v.average_fps)} fps"
                 + (f", base {fraction_str(v.base_fps)}" if v.base_fps else "") + ")" if v.vfr else ""))
    if info.audio:
        a = info.audio
        print(f"  audio #{a.index}: {a.codec} {a.sample_rate} Hz, {a.channels} channel(s), {a.num_samples} samples,"
              f" starts at {float(a.start_time) * 1000:.3f} ms")
    if info.video and info.audio and info.audio_offset:
        print(f"  audio starts {float(info.audio_offset) * 1000:+.3f} ms from the first video frame")
    return 0
