"""Media files written in the tests: audio in any container PyAV writes, and remuxing (index first)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def write_audio(path: Path, x: np.ndarray, sr: int, codec: str, *, container=None, video_codec=None,
                 fps: int = 25, bit_rate: int | None = None) -> None:
    """Write mono ``x`` (float in [-1, 1]) at ``sr`` Hz with ``codec`` (and optionally a black video track);
    ``bit_rate`` in bits per second (default: the encoder's)."""
    import av

    with av.open(str(path), "w", format=container) as out:
        vs = None
        if video_codec:
            vs = out.add_stream(video_codec, rate=fps)
            vs.width = vs.height = 32
            vs.pix_fmt = "yuv420p"
        st = out.add_stream(codec, rate=sr)
        st.layout = "mono"
        if bit_rate:
            st.bit_rate = bit_rate
        fmt = st.codec_context.codec.audio_formats[0].name
        block = {"libopus": 960, "libmp3lame": 1152}.get(codec, 1024)
        for s in range(0, len(x), block):
            c = x[None, s:s + block]
            if fmt.startswith("s16"):
                c = np.clip(np.round(c * 32767), -32768, 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                c = np.round(c * 2147483647.0).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(c), format=fmt, layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sr, s, Fraction(1, sr)
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
        if vs is not None:
            for i in range(int(len(x) * fps / sr)):
                vf = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                vf.pts = i
                for p in vs.encode(vf):
                    out.mux(p)
            for p in vs.encode():
                out.mux(p)


def remux(src: Path, dst: Path, fmt: str | None = None) -> None:
    """Copy ``src``'s packets into ``dst``: MP4 with the index (moov) first, or ``fmt`` (e.g. ``matroska``),
    so that a file cut at its end still opens."""
    import av

    opts = {"movflags": "+faststart"} if fmt is None else {}
    with av.open(str(src)) as i, av.open(str(dst), "w", format=fmt, options=opts) as o:
        m = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for pk in i.demux():
            if pk.dts is None:
                continue
            pk.stream = m[pk.stream.index]
            o.mux(pk)
