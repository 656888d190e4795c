"""--offset-ms shifts audio against video (positive: audio later, zeros in front), checked on click/flash clips.

The clip's content is 80 ms out of sync: each click sits 80 ms after its flash
(at 30 fps, 2.4 frames late). Extracting with ``--offset-ms -80`` moves the
audio 80 ms earlier and puts the clicks back on the flash frames.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from avalign import extract
from avalign.check import check
from avalign.cli import main
from avalign.errors import InputError
from avalign.synth import click_track, write_clip

FPS, FRAMES, FLASHES, SR = 30, 90, (30, 60), 16000


def _clip(path, delay_s: float):
    """Flashes on FLASHES; the clicks ``delay_s`` seconds after them in the audio content."""
    n = int(Fraction(FRAMES, FPS) * SR)
    clicks = [round((Fraction(i, FPS) + Fraction(str(delay_s))) * SR) for i in FLASHES]
    write_clip(path, fps=FPS, num_frames=FRAMES, bright_frames=FLASHES, audio=click_track(n, clicks, length=64))
    return path


@pytest.fixture(scope="module")
def late_clip(tmp_path_factory):
    return _clip(tmp_path_factory.mktemp("offset") / "late80.mp4", 0.080)


@pytest.fixture(scope="module")
def early_clip(tmp_path_factory):
    return _clip(tmp_path_factory.mktemp("offset") / "early80.mp4", -0.080)


def _loud_frames(values: np.ndarray) -> list[int]:
    """The frame of the loudest row in each half of the clip (one click per half)."""
    energy = np.exp(values.astype(np.float64)).sum(axis=1)
    half = len(energy) // 2 - 5
    return [int(np.argmax(energy[:half])), half + int(np.argmax(energy[half:]))]


def test_without_offset_the_click_is_late(late_clip):
    a = extract(late_clip, feature="mel")
    assert a.values.shape[0] == FRAMES
    late = [f - b for f, b in zip(_loud_frames(a.values), FLASHES)]
    assert all(d in (2, 3) for d in late), late  # 80 ms = 2.4 frames at 30 fps


def test_offset_minus_80_puts_the_click_on_the_flash(late_clip, tmp_path, capsys):
    out = tmp_path / "fixed.npy"
    assert main(["extract", str(late_clip), "-o", str(out), "--offset-ms", "-80"]) == 0
    values = np.load(out)
    assert values.shape[0] == FRAMES
    assert _loud_frames(values) == list(FLASHES)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["offsets"]["offset_ms"] == -80.0
    assert meta["audio"]["clock"]["trimmed_start"] == 80 * SR // 1000  # 1280 samples cut in front
    r = check(late_clip, out)
    assert r.ok and "audio shifted by --offset-ms -80 (positive: audio later)" in r.lines


def test_positive_offset_delays_audio_with_zeros_in_front(early_clip):
    raw = extract(early_clip, feature="mel")
    assert all(f - b in (-3, -2) for f, b in zip(_loud_frames(raw.values), FLASHES))
    a = extract(early_clip, feature="mel", offset_ms=80)
    assert _loud_frames(a.values) == list(FLASHES)
    assert a.meta["audio"]["clock"]["padded_start"] == 1280
    assert a.meta["audio"]["num_samples"] == raw.meta["audio"]["num_samples"] + 1280


def test_offset_is_exact_in_samples(late_clip):
    """The shift is exactly offset_ms * sr / 1000 samples: the shifted signal equals the original moved."""
    base = extract(late_clip, feature="mel", fps=100, num_frames=250)
    shifted = extract(late_clip, feature="mel", fps=100, num_frames=250, offset_ms=50)  # 5 mel frames at 100 Hz
    assert np.allclose(shifted.values[5 + 2:200], base.values[2:195], atol=1e-4)


def test_bad_offset(late_clip, tmp_path, capsys):
    with pytest.raises(InputError):
        extract(late_clip, feature="mel", offset_ms="abc")
    with pytest.raises(SystemExit) as exc:  # argparse refuses it: one usage line, exit 2
        main(["extract", str(late_clip), "-o", str(tmp_path / "x.npy"), "--offset-ms", "abc"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x.npy").exists()
