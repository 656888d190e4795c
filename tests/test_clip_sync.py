"""End to end on a synthetic clip: a click in the audio at the instant a bright frame is shown.

The clip is H.264 + AAC written by synth.write_clip; the bright frames are
found by decoding the video (not taken from the writer), and the click must
land on them after ``avalign.extract(clip, feature="mel")``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import avalign
from avalign import synth

BRIGHT = (20, 45, 71)


def _bright_frames(path) -> list[int]:
    """Indices of the bright frames, by decoding the video."""
    import av

    with av.open(str(path)) as c:
        means = [f.to_ndarray(format="gray").mean() for f in c.decode(c.streams.video[0])]
    return [i for i, m in enumerate(means) if m > 128]


def _loudest(values: np.ndarray, k: int) -> list[int]:
    energy = np.exp(values).sum(axis=1)  # log-mel -> power per video frame
    return sorted(int(i) for i in np.argsort(energy)[-k:])


@pytest.mark.parametrize("fps", ["30000/1001", "24000/1001", "25"])
@pytest.mark.parametrize("audio_delay", [0.0, 0.2, 0.35])
def test_click_lands_on_bright_frame(tmp_path, fps, audio_delay):
    clip = tmp_path / "clip.mp4"
    facts = synth.write_clip(clip, fps=fps, num_frames=90, bright_frames=BRIGHT, audio_delay=audio_delay,
                             click_phase=0.5)
    assert _bright_frames(clip) == list(BRIGHT)
    info = avalign.probe(clip)
    assert info.video.fps == Fraction(fps) and info.video.num_frames == 90
    assert info.video.codec == "h264" and info.audio.codec == "aac"
    if audio_delay:
        assert info.audio_offset > 0  # the audio stream starts after the first video frame
    out = avalign.extract(clip, feature="mel")
    assert out.values.shape == (90, 80)
    assert _loudest(out.values, len(BRIGHT)) == list(BRIGHT)
    # the time of the loudest feature frame is within half a video frame of the middle of the bright frame
    feats = avalign.features.create("mel").extract(avalign.load_audio(clip).on_clock(0))
    energy = np.exp(feats.values).sum(axis=1)
    times = feats.grid.times()
    for frame, click in zip(BRIGHT, facts["click_times"]):
        near = (times > click - 0.1) & (times < click + 0.1)
        t_peak = times[near][np.argmax(energy[near])]
        assert abs(t_peak - (frame + 0.5) / float(Fraction(fps))) < 0.5 / float(Fraction(fps))


def test_ignoring_the_stream_offset_would_miss(tmp_path):
    """The same clip read on the audio's own clock puts the clicks 0.2 s (6 frames) early: the offset matters."""
    clip = tmp_path / "clip.mp4"
    synth.write_clip(clip, fps="30000/1001", num_frames=90, bright_frames=BRIGHT, audio_delay=0.2, click_phase=0.5)
    audio = avalign.load_audio(clip, clock="audio")
    out = avalign.extract(audio, feature="mel", fps="30000/1001", num_frames=90)
    assert _loudest(out.values, 3) != list(BRIGHT)


def test_offset_ms_moves_the_audio(tmp_path):
    clip = tmp_path / "clip.mp4"
    synth.write_clip(clip, fps=25, num_frames=90, bright_frames=BRIGHT, click_phase=0.5)
    late = avalign.extract(clip, feature="mel", offset_ms=120)  # 3 frames at 25 fps
    assert _loudest(late.values, 3) == [b + 3 for b in BRIGHT]
    early = avalign.extract(clip, feature="mel", offset_ms=-80)
    assert _loudest(early.values, 3) == [b - 2 for b in BRIGHT]
