"""Synthetic test clips: clicks in the audio at the instants of bright video frames.

Used by the demo, the tests and the benchmarks; written with PyAV (H.264 or
MPEG-4 video, AAC or PCM audio), no ffmpeg binary needed.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from .timing import parse_fps


def speech_like(seconds: float, *, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Deterministic speech-like audio (harmonics with a wandering pitch and a syllable envelope), float32."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    x = x * env + 0.01 * rng.standard_normal(n)
    return (0.3 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def click_track(num_samples: int, click_samples, *, sample_rate: int = 16000, length: int = 32,
                amplitude: float = 0.9) -> np.ndarray:
    """Silence with short clicks (decaying noise bursts of ``length`` samples) starting at ``click_samples``."""
    x = np.zeros(num_samples, np.float32)
    rng = np.random.default_rng(1)
    burst = (amplitude * rng.uniform(-1, 1, length) * np.exp(-np.arange(length) / (length / 4))).astype(np.float32)
    for s in click_samples:
        s = int(s)
        if 0 <= s < num_samples:
            x[s:s + length] = burst[: num_samples - s]
    return x


def write_clip(path, *, fps="30000/1001", num_frames: int = 90, bright_frames=(45,), sample_rate: int = 16000,
               audio: np.ndarray | None = None, audio_delay: float = 0.0, video_codec: str = "libx264",
               audio_codec: str = "aac", size: int = 64, click_shift: float = 0.0,
               frame_times=None, click_phase: float = 0.0) -> dict:
    """Write a clip whose audio clicks when ``bright_frames`` are shown.

    Each click sits ``click_phase`` of its bright frame's display interval
    after the frame appears (0: the instant it appears; 0.5: the middle).

    ``audio_delay`` (seconds, >= 0) starts the audio stream that much later
    than the video stream (its first packet's timestamp), keeping the click
    content aligned to the bright frames unless ``audio`` is given.
    ``click_shift`` (seconds, either sign) puts each click that much after its
    bright frame instead: a clip out of sync by a known amount. ``frame_times``
    (seconds from frame 0, increasing, ``num_frames`` of them) gives the frames
    those timestamps instead of ``i / fps``: a variable-rate clip. Returns the
    facts a test needs: fps, frame count, click times (seconds on the video clock).
    """
    import av

    fps_f = parse_fps(fps)
    if frame_times is None:
        times = [Fraction(i) / fps_f for i in range(num_frames)]
        time_base = 1 / fps_f
    else:
        if len(frame_times) != num_frames:
            raise ValueError(f"{len(frame_times)} frame times given for {num_frames} frames")
        time_base = Fraction(1, 90000)
        times = [Fraction(round(float(t) * 90000), 90000) for t in frame_times]
    duration = times[-1] + 1 / fps_f
    ends = times[1:] + [duration]
    shift = Fraction(click_shift).limit_denominator(10**6)
    phase = Fraction(click_phase).limit_denominator(1000)
    click_times = [times[i] + phase * (ends[i] - times[i]) + shift for i in bright_frames]
    if audio is None:
        n = int(duration * sample_rate)
        clicks = [round((t - Fraction(audio_delay).limit_denominator(10**6)) * sample_rate) for t in click_times]
        audio = click_track(n, clicks, sample_rate=sample_rate)
    out = av.open(os.fspath(path), "w")
    try:
        vs = out.add_stream(video_codec, rate=fps_f)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.time_base = vs.codec_context.time_base = time_base
        if video_codec == "libx264":
            vs.options = {"preset": "ultrafast", "bf": "0"}
        as_ = out.add_stream(audio_codec, rate=sample_rate)
        as_.layout = "mono"
        delay_samples = int(round(audio_delay * sample_rate))
        bright = set(bright_frames)
        frames = []
        for i in range(num_frames):
            img = np.full((size, size, 3), 250 if i in bright else 20, np.uint8)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = int(times[i] / time_base)
            frames.append(vf)
        for vf in frames:
            for pkt in vs.encode(vf):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        fmt = "fltp" if audio_codec in ("aac", "libopus", "libvorbis") else "s16"
        block = 1024
        samples = np.asarray(audio, np.float32)
        for start in range(0, samples.shape[0], block):
            chunk = samples[start:start + block][None, :]
            if fmt == "s16":
                chunk = np.clip(np.round(chunk * 32767), -32768, 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
            af.sample_rate = sample_rate
            af.pts = start + delay_samples
            af.time_base = Fraction(1, sample_rate)
            for pkt in as_.encode(af):
                out.mux(pkt)
        for pkt in as_.encode():
            out.mux(pkt)
    finally:
        out.close()
    return {"fps": fps_f, "num_frames": num_frames, "click_times": [float(t) for t in click_times],
            "frame_times": [float(t) for t in times],
            "bright_frames": list(bright_frames), "sample_rate": sample_rate, "audio_delay": audio_delay}


def write_wav(path, samples: np.ndarray, sample_rate: int = 16000, channels: int = 1) -> None:
    """Write 16-bit PCM WAV with PyAV (``samples`` float in [-1, 1], shape ``(n,)`` or ``(channels, n)``)."""
    import av

    x = np.atleast_2d(np.asarray(samples, np.float32))
    if x.shape[0] != channels:
        x = np.repeat(x[:1], channels, axis=0)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(os.fspath(path), "w", format="wav") as out:
        st = out.add_stream("pcm_s16le", rate=sample_rate)
        st.layout = layout
        block = 4096
        for start in range(0, pcm.shape[1], block):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start:start + block].T.reshape(1, -1)),
                                            format="s16", layout=layout)
            fr.sample_rate = sample_rate
            fr.pts = start
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
