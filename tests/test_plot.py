"""avalign plot: the numbers it draws (asserted on their own) and the PNG for a real MP4."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

from avalign.cli import main
from avalign.errors import InputError
from avalign.plot import decode_thumbnails, plot, plot_data
from test_explain import WindowPreset

pytest.importorskip("matplotlib")


def png_size(path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_numbers_for_a_real_clip(real):
    d = plot_data(real / "synctalk_short_demo.mp4", feature="mel", frame=100)
    assert d["fps"] == 25 and d["num_frames"] == 331 and d["rows"] == 331 and d["frame"] == 100
    b = d["frame_bounds"]
    assert b.shape == (332,) and np.allclose(b, np.arange(332) / 25)
    # the default (interval) rule: row 100 shows [4.0, 4.04) s; at its middle, 4.02 s, sits mel frame 402
    assert d["window_samples"].tolist() == [402 * 160 - 200, 402 * 160 + 200]
    assert np.allclose(d["window"], [4.0075, 4.0325])
    assert d["spans"].shape == (331, 2) and np.allclose(d["spans"][0], [0.0075, 0.0325])
    z0, z1 = d["zoom"]
    assert z0 <= 4.0 - 5 / 25 and z1 >= 4.04 + 5 / 25 and z0 <= 3.9875 and z1 >= 4.0125
    assert d["thumb_frames"].tolist() == [98, 99, 100, 101, 102]
    assert d["heatmap"].shape == (1 + 212885 // 160, 80) and d["heatmap_times"][400] == pytest.approx(4.0)
    assert d["n_samples"] == 212885 and d["audio_offset"] == 0.0
    assert d["audio"].shape == d["audio_times"].shape and d["audio_times"][0] >= z0 - 1 / 16000
    assert np.all(d["envelope_min"] <= d["envelope_max"]) and d["envelope_times"][-1] < d["duration"]


def test_numbers_for_a_preset_window(real):
    d = plot_data(real / "synctalk_short_demo.mp4", WindowPreset(), frame=100)
    s = int(100 * 80 / 25)
    assert d["window_samples"].tolist() == [200 * s - 400, 200 * (s + 15) + 400]
    assert d["rows"] == 330 and d["num_frames"] == 331
    assert d["heatmap_label"].startswith("log-mel for display")
    assert d["zoom"][1] >= d["window"][1]


def test_numbers_for_a_variable_rate_clip_with_start_offset(real):
    d = plot_data(real / "retalking_face1.mp4", feature="mel")
    assert d["fps"] == Fraction(1350, 61) and d["num_frames"] == 135 and d["frame"] == 67
    assert d["audio_offset"] == pytest.approx(-0.033008, abs=1e-6)
    b = d["frame_bounds"]
    assert b[0] == 0.0 and np.all(np.diff(b) > 0)
    assert not np.allclose(np.diff(b), np.diff(b)[0])  # actual timestamps, not i / fps
    # interval on the frame's own timestamps: the two mel frames around the middle of [b67, b68)
    assert b[67] == pytest.approx(3.03333, abs=1e-4)
    mid = (b[67] + b[68]) / 2 * 100  # the middle of the frame's display interval, in mel frames
    first, last = math.floor(mid), math.ceil(mid)
    assert d["window_samples"].tolist() == [first * 160 - 200, last * 160 + 200]


def test_audio_only_needs_fps(real):
    with pytest.raises(InputError):
        plot_data(real / "imitator_audio1.wav")
    d = plot_data(real / "imitator_audio1.wav", fps=25)
    assert d["n_samples"] == 61334 and d["rows"] == 95 and d["thumb_frames"].size == 0


def test_thumbnails_decode(real):
    imgs = decode_thumbnails(real / "synctalk_short_demo.mp4", [0, 3], height=60)
    assert [i.shape for i in imgs] == [(60, 60, 3), (60, 60, 3)] and imgs[0].dtype == np.uint8


def test_png_for_a_real_mp4(real, tmp_path, capsys):
    out = tmp_path / "plot.png"
    assert main(["plot", str(real / "synctalk_short_demo.mp4"), "--frame", "100", "-o", str(out)]) == 0
    assert "row 100 of 331 receives 4.0075-4.0325 s" in capsys.readouterr().out
    assert out.is_file() and 50_000 < out.stat().st_size < 3_000_000
    assert png_size(out) == (1300, 950)
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_bad_input_leaves_no_file(real, tmp_path, capsys):
    out = tmp_path / "missing-folder" / "p.png"
    assert main(["plot", str(real / "synctalk_short_demo.mp4"), "-o", str(out)]) == 2
    out2 = tmp_path / "p.png"
    assert main(["plot", str(real / "synctalk_short_demo.mp4"), "--frame", "5000", "-o", str(out2)]) == 2
    assert main(["plot", str(real / "echomimic_a.mp4"), "-o", str(out2)]) == 2  # no audio
    err = capsys.readouterr().err
    assert err.count("avalign: error:") == 3
    assert not out2.exists() and not list(tmp_path.iterdir())


def test_plot_returns_data(real, tmp_path):
    d = plot(real / "synctalk_short_demo.mp4", tmp_path / "x.png", feature="mfcc", frame=-1)
    assert d["frame"] == 330 and (tmp_path / "x.png").is_file()
