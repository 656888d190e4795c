"""avalign explain: the rule, the exact row count and the audio each row receives.

Two small presets written against the Preset contract stand in for the real
ones (a Wav2Lip-like start-anchored window of 16 mel frames and a centred
40 ms window per video frame); a parametrised test covers every preset that
``avalign.presets()`` lists once they are merged.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import avalign
from avalign.cli import main
from avalign.errors import InputError
from avalign.explain import aligned_sources, explain, feature_spans, frame_sample_spans
from avalign.features import create
from avalign.systems import Option, Preset
from avalign.systems.layouts import Windows
from avalign.systems.steps import Step, Wav2LipMel


def _toy_starts(req) -> np.ndarray:
    """Wav2Lip's loop written plainly: starts int(i*80/fps) until one overruns, then the last 16 frames."""
    m, starts, i = req.frames, [], 0
    while True:
        s = int(i * Fraction(80) / req.fps)
        if s + 16 > m:
            starts.append(m - 16)
            return np.asarray(starts, np.int64)
        starts.append(s)
        i += 1


#: Wav2Lip-like: 80 Hz mel (centred, n_fft 800, hop 200); row i = mel[s:s+16], s = int(i*80/F); the loop
#: stops at the first window that overruns, whose chunk is the last 16 frames. A preset is a block of data.
WINDOW = Preset(
    name="toy-window", system="toy (Wav2Lip-like)",
    rule="row i is the 16 mel frames starting at int(i*80/fps); the last chunk is the final 16 frames",
    shape="[K, 80, 16]", feature=Wav2LipMel(), count=lambda req: len(_toy_starts(req)),
    layout=Windows(start=_toy_starts, size=16, edge="shift", view="channels"),
    options_spec={"pad_mode": Option("constant")})


@dataclass(frozen=True)
class Samples(Step):
    """A toy feature step: one 29-wide zero row per sample; row t sees the 640 samples centred on t."""

    family: ClassVar[str] = "toy"
    hop: ClassVar[int] = 1
    lo: ClassVar[int] = -320
    hi: ClassVar[int] = 320

    def frames(self, n_samples, opts):
        return n_samples

    def compute(self, audio, req, *, model=None, device=None):
        return np.zeros((audio.num_samples, 29), np.float32)


def _centres(req) -> np.ndarray:
    f = req.fps
    return (np.arange(req.rows, dtype=np.int64) * 16000 * f.denominator) // f.numerator


#: One row per video frame; row i receives the 40 ms centred on the frame's time.
CENTRED = Preset(
    name="toy-centred", system="toy (centred)",
    rule="row i is the 640 samples centred on the video frame's time i/fps", shape="[N, 29]",
    feature=Samples(),
    count=lambda req: int(req.video_frames) if req.video_frames is not None else
    math.floor(Fraction(req.n_samples, 16000) * req.fps),
    layout=Windows(start=_centres, view="squeeze"))


def WindowPreset():  # noqa: N802 - the toy presets' old spelling, used by test_check and test_plot
    return WINDOW


def CentredPreset():  # noqa: N802
    return CENTRED


# ---------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------


def test_window_preset_10s_at_25fps():
    ex = explain(WindowPreset(), duration=10, fps=25)
    assert (ex.n_samples, ex.rows, ex.video_frames) == (160000, 247, 250)  # Wav2Lip's 247 chunks
    rows = ex.table()
    assert [r.row for r in rows] == [0, 1, 2, 245, 246]
    assert (rows[0].start, rows[0].end, rows[0].pad_before) == (-400, 3400, 400)
    assert (rows[1].start, rows[1].end) == (200 * 3 - 400, 200 * 18 + 400)  # s = int(1*80/25) = 3
    assert (rows[-1].start, rows[-1].end, rows[-1].pad_after) == (200 * 785 - 400, 200 * 800 + 400, 400)
    start, centre, word = ex.anchoring()
    assert word == "start-anchored"
    text = ex.text()
    assert "preset toy-window (toy (Wav2Lip-like))" in text
    assert "audio 10 s = 160000 samples at 16 kHz; 250 video frames at 25 fps -> 247 rows [K, 80, 16]" in text
    assert f"rule: {WINDOW.rule}" in text
    first = next(line for line in text.splitlines() if line.startswith("0 "))
    assert first.split() == ["0", "0.0000", "s", "[-400,", "3400)", "[-0.0250,", "0.2125)", "400", "before", "the",
                             "start"]
    assert "400 after the end" in text
    assert "windows: start-anchored" in text


def test_centred_preset_marks_edges():
    ex = explain(CentredPreset(), duration=2, fps="30000/1001")
    assert ex.rows == math.floor(Fraction(2) * Fraction(30000, 1001)) == 59
    assert ex.anchoring()[2] == "centred"
    r0, r_last = ex.row(0), ex.row(-1)
    assert (r0.start, r0.end, r0.pad_before, r0.pad_after) == (-320, 320, 320, 0)
    assert r_last.row == 58 and r_last.pad_after == 0
    assert ex.padded_rows() == 1
    assert "centred (median start -20.0 ms, centre +0.0 ms" in ex.text()


def test_fixed_fps_preset_refuses_another_rate():
    fixed = dataclasses.replace(CENTRED, name="toy-fixed", fixed_fps=Fraction(25))
    ex = explain(fixed, duration=4)
    assert ex.fps == 25 and ex.rows == 100
    assert explain(fixed, duration=4, fps=25).rows == 100
    with pytest.raises(InputError, match="runs at 25 fps only"):
        explain(fixed, duration=4, fps=30)


def _explain_contract(p, name):
    """Rule, count, spans and table of a preset agree with its contract (``p`` a Preset; ``name`` or ``p`` to explain)."""
    from avalign.check import diagnose

    for seconds in (3.2, 10):
        f = p.resolve_fps(p.fixed_fps or 25)
        ex = explain(name, duration=seconds, fps=f)
        n = round(seconds * p.sample_rate)
        vf = math.floor(Fraction(str(seconds)) * f)
        assert ex.rule and ex.rule == p.rule
        assert ex.rows == p.num_frames(n, f, vf)
        if ex.rows == 0 and seconds < 4:  # a system that refuses short audio (InfiniteTalk: 81 frames or fewer)
            continue
        assert ex.spans.shape == (ex.rows, 2) and ex.spans.dtype == np.int64
        assert np.all(ex.spans[:, 1] > ex.spans[:, 0])
        table = ex.table()
        assert [r.row for r in table] == sorted({i % ex.rows for i in (0, 1, 2, -2, -1)})
        assert f"-> {ex.rows} rows" in ex.text()
        # check's diagnosis runs the preset's rule at other rates without failing
        reasons = diagnose(ex.rows + 1, n_samples=n, sample_rate=p.sample_rate, fps=f, video_frames=vf, preset=p)
        assert reasons[0] == f"one row long: {ex.rows + 1} rows where preset {p.name}'s rule gives {ex.rows}"


@pytest.mark.parametrize("name", avalign.presets())
def test_every_available_preset_explains(name):
    """Covers the real presets once merged: rule, count and table rows agree with the contract."""
    _explain_contract(avalign.preset(name), name)


@pytest.mark.parametrize("toy", [WINDOW, CENTRED])
def test_contract_check_on_toy_presets(toy):
    _explain_contract(toy, toy)


# ---------------------------------------------------------------------------
# the generic feature path
# ---------------------------------------------------------------------------


def test_mel_linear_is_centred_with_padding_at_start():
    ex = explain(feature="mel", duration=10, fps=25, method="linear")
    assert ex.rows == 250
    r0, r1 = ex.row(0), ex.row(1)
    assert (r0.start, r0.end, r0.pad_before) == (-200, 200, 200)  # centred STFT frame 0
    assert (r1.start, r1.end) == (640 - 200, 640 + 200)  # frame 1 at 40 ms = mel frame 4 exactly
    assert ex.anchoring()[2] == "centred"
    assert "video frame i takes the feature linearly interpolated at its start time i/25 s; clamp beyond the ends" in ex.rule


def test_between_frames_linear_uses_two_neighbours():
    ex = explain(feature="mel", duration=1, fps="30000/1001", method="linear")
    t = Fraction(1001, 30000)  # 33.37 ms: between mel frames 3 and 4
    r = ex.row(1)
    assert (r.start, r.end) == (3 * 160 - 200, 4 * 160 + 200)
    assert math.isclose(r.frame_time, float(t))


def test_index_window_zero_rows_at_the_end():
    ex = explain(feature="mel", duration=10, fps=25, method="index", window=16, n_fft=800, hop_length=200)
    last = ex.row(-1)
    s = int(249 * 80 / 25)  # 796: rows 796..811, of which 801..811 are past the 801 mel frames
    assert last.zero_rows == 811 - 801 + 1
    assert last.start == 200 * s - 400 and last.end == 200 * 800 + 400
    assert "11 zero feature rows" in ex.text()


def test_mfcc_stack_rule_words():
    ex = explain(feature="mfcc", duration=2, fps=25, method="stack")
    assert "video frame i takes feature frames [4*i, 4*i+4) stacked; zeros beyond the ends" in ex.rule
    assert (ex.row(0).start, ex.row(0).end) == (0, 3 * 160 + 400)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2000, 60000), fps=st.sampled_from([24, 25, 30, Fraction(30000, 1001), 60]),
       window=st.integers(1, 20), anchor=st.sampled_from(["start", "centre", -3]))
def test_index_window_spans_match_independent_formula(n, fps, window, anchor):
    grid = create("mel", n_fft=800, hop_length=200).grid(n)
    vf = math.floor(Fraction(n, 16000) * Fraction(fps))
    if vf == 0:
        return
    spans, zeros = feature_spans(grid, fps=fps, num_frames=vf, method="index", window=window, anchor=anchor,
                                 edge="zeros")
    off = {"start": 0, "centre": -(window // 2)}.get(anchor, anchor)
    t = grid.num_frames
    for i in range(vf):
        s = math.floor(i * Fraction(80) / Fraction(fps)) + off
        used = [j for j in range(s, s + window) if 0 <= j < t]
        assert zeros[i] == window - len(used)
        if used:
            assert (spans[i, 0], spans[i, 1]) == (200 * used[0] - 400, 200 * used[-1] + 400)


def test_aligned_sources_clamp_repeats_edges():
    grid = create("mel").grid(16000)
    lo, hi, zeros = aligned_sources(grid, fps=25, num_frames=25, method="index", window=5, anchor="centre",
                                    edge="clamp")
    assert lo[0] == 0 and hi[0] == 2 and zeros[0] == 0
    assert frame_sample_spans(grid)[0].tolist() == [-200, 200]


# ---------------------------------------------------------------------------
# real files and the command
# ---------------------------------------------------------------------------


def test_explain_real_video_uses_its_frames(real):
    ex = explain(feature="mel", source=real / "synctalk_short_demo.mp4")
    assert (ex.n_samples, ex.fps, ex.video_frames, ex.rows) == (212885, 25, 331, 331)
    ex = explain(WindowPreset(), source=real / "synctalk_short_demo.mp4")
    m = 1 + 212885 // 200
    assert m == 1065 and ex.rows == sum(1 for i in range(400) if i * 16 // 5 + 16 <= m) + 1 == 330
    assert ex.row(-1).end == 200 * (m - 1) + 400 and ex.row(-1).pad_after == 200 * (m - 1) + 400 - 212885
    assert f"{ex.row(-1).pad_after} after the end" in ex.text()


def test_explain_real_video_on_the_video_clock(real):
    """retalking_face1.mp4: the video starts 33 ms after the audio; rows sit on the video clock."""
    ex = explain(feature="mfcc", source=real / "retalking_face1.mp4")
    assert ex.video_frames == 135 and ex.fps == Fraction(1350, 61)
    full = avalign.load_audio(real / "retalking_face1.mp4", 16000, clock="audio").num_samples
    assert full - ex.n_samples == round(Fraction(33008, 1000000) * 16000)


def test_cli_explain(capsys):
    assert main(["explain", "--feature", "mel", "--duration", "10", "--fps", "25", "--rows", "0,-1"]) == 0
    out = capsys.readouterr().out
    # the default rule (interval): frame 0 shows [0, 40 ms); at its middle, 20 ms, sits mel frame 2 exactly
    assert "-> 250 rows" in out and "[120, 520)" in out and "interval-centred" in out
    assert main(["explain", "--duration", "1", "--fps", "25", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["rows"] == 25 and d["table"][0]["pad_before"] == 0 and d["anchoring"] == "interval-centred"


@pytest.mark.parametrize("argv", [
    ["explain", "--duration", "abc", "--fps", "25"],
    ["explain", "--duration", "0", "--fps", "25"],
    ["explain", "--duration", "1", "--fps", "0"],
    ["explain", "--duration", "1"],
    ["explain", "--preset", "no-such-preset", "--duration", "1", "--fps", "25"],
    ["explain", "--feature", "mel", "--duration", "1", "--fps", "25", "--rows", "x"],
])
def test_cli_explain_bad_input(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("avalign: error:") and err.count("\n") == 1


def test_explain_needs_a_length():
    with pytest.raises(InputError):
        explain(feature="mel", fps=25)


def test_spans_come_from_the_layout_that_builds_the_array(real):
    """explain's spans are the preset's own (the layout's indices through the step's frame span): no second source."""
    p = avalign.preset("wav2lip")
    ex = explain("wav2lip", duration=3, fps=25)
    req = p.request(48000, 25)
    starts = p.layout.starts(req, req.frames)
    np.testing.assert_array_equal(ex.spans, np.stack([200 * starts - 400, 200 * (starts + 15) + 400], axis=1))
    out = avalign.extract(avalign.Audio.from_array(np.zeros(48000, np.float32), 16000), "wav2lip", fps=25)
    np.testing.assert_array_equal(out.spans, ex.spans)
