"""``avalign stream``: raw s16le PCM in (stdin or a file), framed ``.npy`` rows out (stdout or ``-o``)."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..errors import InputError

#: Bytes read per packet: 20 ms at the input rate (s16le mono).
PACKET_S = 0.02


def register(sub) -> None:
    p = sub.add_parser("stream", help="rows of video frames from live PCM (s16le), as it arrives",
                       description="Read raw s16le mono PCM from stdin or INPUT, write rows as framed .npy chunks "
                                   "(concatenated .npy arrays; avalign.streaming.read_chunks reads them) to stdout "
                                   "or -o FILE. Prints rows, latency and real-time factor to stderr at the end. "
                                   "Format, presets and latencies: docs/streaming.md.")
    p.add_argument("input", nargs="?", default="-", help="raw s16le PCM file, or - for stdin (default)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="streaming preset (wav2lip, sadtalker, syncnet, synctalk-mel, rad-nerf-stream, "
                                      "livetalking-wav2lip, livetalking-hubert, livetalking-whisper, ditto-online)")
    g.add_argument("--feature", help="feature (mel, mfcc, hubert, ...)")
    p.add_argument("--fps", help="video frame rate, e.g. 25 or 30000/1001")
    p.add_argument("--model", help="model directory for neural features")
    p.add_argument("--rate", type=int, default=16000, help="input sample rate in Hz (default 16000)")
    p.add_argument("--realtime", action="store_true", help="pace a file like a live source (20 ms packets)")
    p.add_argument("-o", "--output", help="write the framed .npy stream to this file instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..streaming import stream, write_chunk

    if args.preset is None and args.feature is None:
        args.feature = "mel"
    s = stream(args.preset, feature=args.feature, fps=args.fps, model=args.model, sample_rate_in=args.rate)
    if args.input == "-":
        src = sys.stdin.buffer
    else:
        if not os.path.isfile(args.input):
            raise InputError(f"{args.input}: no such file")
        src = open(args.input, "rb")
    tmp = None
    if args.output:
        tmp = f"{args.output}.part"
        out = open(tmp, "wb")
    else:
        out = sys.stdout.buffer
    packet = max(2, 2 * int(round(args.rate * PACKET_S)))
    busy, t0, odd = 0.0, time.perf_counter(), b""
    try:
        while True:
            data = src.read(packet) if args.realtime else src.read1(packet * 50) if hasattr(src, "read1") \
                else src.read(packet * 50)
            if not data:
                break
            data = odd + data
            whole = len(data) // 2 * 2
            data, odd = data[:whole], data[whole:]
            t = time.perf_counter()
            rows = s.push(np.frombuffer(data, dtype="<i2"))
            busy += time.perf_counter() - t
            write_chunk(out, rows)
            out.flush()
            if args.realtime:
                lag = t0 + s.samples_received / args.rate - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)
        t = time.perf_counter()
        write_chunk(out, s.flush())
        busy += time.perf_counter() - t
    except BaseException:
        if tmp:
            out.close()
            os.unlink(tmp)
        raise
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    if tmp:
        out.close()
        os.replace(tmp, args.output)
    else:
        out.flush()
    audio_s = s.samples_received / args.rate
    rtf = busy / audio_s if audio_s else 0.0
    print(f"avalign stream: {s.frames_emitted} rows at {s.fps} fps from {audio_s:.3f} s of audio; "
          f"latency {s.latency * 1000:.1f} ms (look-ahead {s.lookahead_s * 1000:.1f} ms); "
          f"real-time factor {rtf:.4f}", file=sys.stderr)
    return 0
