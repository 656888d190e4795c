"""avalign check: feature files with and without a sidecar, right and deliberately wrong, explained in words."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from avalign import extract
from avalign.check import check, diagnose, native_counts, shape_mismatch
from avalign.cli import main
from avalign.errors import InputError
from avalign.store import save
from test_explain import CentredPreset, WindowPreset

SYNCTALK_N = 212885  # samples at 16 kHz (13.3053 s); 331 video frames at 25 fps


@pytest.fixture(scope="module")
def synctalk(real):
    return real / "synctalk_short_demo.mp4"


@pytest.fixture(scope="module")
def synctalk_mel(synctalk, tmp_path_factory):
    """avalign's own mel features for the real clip, with their sidecar."""
    out = tmp_path_factory.mktemp("check") / "mel.npy"
    a = extract(synctalk, feature="mel")
    save(out, a.values, a.meta)
    return out


def _plain(tmp_path, name, rows, *dims):
    """A feature file without a sidecar, as another tool would write it."""
    p = tmp_path / f"{name}.npy"
    np.save(p, np.zeros((rows, *dims), np.float32))
    return p


# ---------------------------------------------------------------------------
# files with a sidecar
# ---------------------------------------------------------------------------


def test_sidecar_match_reads_like_the_spec(synctalk, synctalk_mel):
    r = check(synctalk, synctalk_mel)
    assert r.ok and r.rows == r.expected == r.video_frames == 331
    assert r.lines[0] == ("audio 13.3053 s = 212885 samples at 16 kHz; 1331 feature frames at 100 Hz "
                          "(hop 10 ms, window 25 ms, first centre 0 ms) -> 331 rows for 331 video frames at 25 fps")
    assert r.max_time_error == 0.0
    assert r.lines[-1] == "OK: features match the video"


def test_sidecar_one_row_short(synctalk, synctalk_mel, tmp_path):
    v = np.load(synctalk_mel)[:-1]
    meta = json.loads(synctalk_mel.with_suffix(".json").read_text())
    out = tmp_path / "short.npy"
    save(out, v, meta)
    r = check(synctalk, out)
    assert not r.ok and r.expected == 331
    assert r.reasons[0] == "one row short: 330 rows where the 331 video frames give 331"
    assert r.lines[-1] == "MISMATCH: 330 rows, expected 331 (-1)"


def test_sidecar_made_for_the_wrong_fps(synctalk, tmp_path):
    a = extract(synctalk, feature="mel", fps=30)  # the user forced 30 fps on a 25 fps video
    out = tmp_path / "mel30.npy"
    save(out, a.values, a.meta)
    assert a.values.shape[0] == 397
    r = check(synctalk, out)
    assert not r.ok
    assert "note: the features were made for 30 fps; the video is 25 fps" in r.lines
    assert r.reasons == ["made for the wrong fps: 397 rows = the video's 13.24 s counted at 30 fps "
                         "(also 30000/1001 fps); this video is 25 fps (331 frames)"]


def test_sidecar_container_offset_shown(real, tmp_path):
    video = real / "retalking_face1.mp4"
    a = extract(video, feature="mel")
    out = tmp_path / "rt.npy"
    save(out, a.values, a.meta)
    r = check(video, out)
    assert r.ok and r.rows == 135
    assert abs(r.audio_offset + 0.033008) < 1e-6
    assert ("container: video starts at 33.008 ms, audio at 0.000 ms: audio starts -33.008 ms from the first "
            "video frame (-0.73 frames); honoured by the extraction") in r.lines


def test_sidecar_rows_at_the_wrong_times(synctalk, synctalk_mel, tmp_path):
    meta = json.loads(synctalk_mel.with_suffix(".json").read_text())
    meta["grid"]["t0"] = "3/100"  # every row 30 ms late: more than half a frame at 25 fps
    out = tmp_path / "late.npy"
    save(out, np.load(synctalk_mel), meta)
    r = check(synctalk, out)
    assert not r.ok and r.rows == r.expected == 331
    assert r.max_time_error == pytest.approx(0.03)
    assert r.reasons == ["rows are placed up to 30.000 ms from their video frames (more than half a frame)"]
    assert r.lines[-1] == "MISMATCH: 331 rows as expected, but their times do not match the video's frames"


def test_sidecar_preset_on_a_variable_rate_video(real, tmp_path):
    """A preset places row i at i/fps as its system does; a VFR video is noted, not failed."""
    video = real / "retalking_face1.mp4"
    a = extract(video, recipe=CentredPreset())
    out = tmp_path / "c.npy"
    save(out, a.values, a.meta)
    r = check(video, out, preset=CentredPreset())
    assert r.ok and r.rows == 135
    assert any(line.startswith("note: preset toy-centred assumes constant 1350/61 fps; this variable-rate video's "
                               "frames are up to") for line in r.lines)


def test_sidecar_preset_rule(synctalk, tmp_path):
    a = extract(synctalk, recipe=WindowPreset())
    out = tmp_path / "w.npy"
    save(out, a.values, a.meta)
    r = check(synctalk, out, preset=WindowPreset())
    assert r.ok and r.rows == r.expected == 330
    assert "preset toy-window: its rule gives 330 rows for this audio ([K, 80, 16]); the video has 331 frames" in r.lines


# ---------------------------------------------------------------------------
# files made by other tools (no sidecar)
# ---------------------------------------------------------------------------


def test_plain_match(synctalk, tmp_path):
    r = check(synctalk, _plain(tmp_path, "ok", 331, 80))
    assert r.ok and r.lines[0] == ("audio 13.3053 s = 212885 samples at 16 kHz -> 331 rows (no sidecar) for 331 "
                                   "video frames at 25 fps")


@pytest.mark.parametrize("rows, reason", [
    (330, "one row short: 330 rows where the 331 video frames give 331"),
    (332, "one row long: 332 rows where the 331 video frames give 331"),
    (397, "made for the wrong fps: 397 rows = the video's 13.24 s counted at 30 fps (also 30000/1001 fps); "
          "this video is 25 fps (331 frames)"),
    (318, "made for the wrong fps: 318 rows = the video's 13.24 s counted at 24 fps; this video is 25 fps "
          "(331 frames)"),
    (665, "665 rows for 13.31 s: wav2vec2/HuBERT/WavLM give (n-80)//320 = 665 frames at 50 Hz, not n/320 = 665.266:"
          " made at the feature's native rate, not one row per video frame (331 expected at 25 fps)"),
    (1331, "1331 rows for 13.31 s: a centred 10 ms mel gives 1 + n//160 = 1331 frames at 100 Hz: made at the "
           "feature's native rate, not one row per video frame (331 expected at 25 fps)"),
    (1065, "1065 rows for 13.31 s: Wav2Lip's mel gives 1 + n//200 = 1065 frames at 80 Hz: made at the feature's "
           "native rate, not one row per video frame (331 expected at 25 fps)"),
    (1329, "1329 rows ~ 13.31 s x 100 Hz: looks like features at their native 100 Hz rate, not one row per video "
           "frame"),
])
def test_plain_wrong_files_explained(synctalk, tmp_path, rows, reason):
    r = check(synctalk, _plain(tmp_path, f"r{rows}", rows, 8))
    assert not r.ok and r.expected == 331
    assert r.reasons[0] == reason
    assert r.lines[-1] == f"MISMATCH: {rows} rows, expected 331 ({rows - 331:+d})"


def test_plain_preset_rule_and_shape(synctalk, tmp_path):
    good = check(synctalk, _plain(tmp_path, "w", 330, 80, 16), preset=WindowPreset())
    assert good.ok and good.expected == 330
    assert good.lines[0] == ("audio 13.3053 s = 212885 samples at 16 kHz; preset toy-window ([K, 80, 16]) gives 330 "
                             "rows for 331 video frames at 25 fps; the file has 330 rows (no sidecar)")
    per_frame = check(synctalk, _plain(tmp_path, "w331", 331, 80, 16), preset=WindowPreset())
    assert not per_frame.ok
    assert per_frame.reasons[:2] == [
        "one row long: 331 rows where preset toy-window's rule gives 330",
        "331 rows = one per video frame, but preset toy-window's rule gives 330 ([K, 80, 16]): made by another recipe?"]
    transposed = check(synctalk, _plain(tmp_path, "wt", 330, 16, 80), preset=WindowPreset())
    assert not transposed.ok
    assert transposed.reasons == ["shape (330, 16, 80): dimension 1 is 16, the rule [K, 80, 16] says 80"]
    assert transposed.lines[-1] == "MISMATCH: 330 rows as expected, but the shape is wrong"


def test_plain_preset_wrong_fps(synctalk, tmp_path):
    # a centred preset file made for 30 fps: one row per frame of the same span at 30 fps, 331 * 30/25 = 397
    r = check(synctalk, _plain(tmp_path, "c30", 397, 29), preset=CentredPreset())
    assert r.reasons == ["made for the wrong fps: 397 rows = toy-centred's rule at 30 fps (also 30000/1001 fps); "
                         "this video is 25 fps (331 frames)"]


def test_plain_container_offset(real, tmp_path):
    r = check(real / "retalking_face1.mp4", _plain(tmp_path, "rt", 135, 80))
    assert r.ok
    assert any(line.startswith("container: video starts at 33.008 ms") and "ignores this" in line
               for line in r.lines)


# ---------------------------------------------------------------------------
# diagnose and shape rules alone
# ---------------------------------------------------------------------------


def test_diagnose_the_wav2vec2_off_by_one():
    """1 s at 50 fps: 50 video frames, but wav2vec2 gives 49 frames."""
    reasons = diagnose(49, n_samples=16000, sample_rate=16000, fps=50, video_frames=50)
    assert reasons[0] == "one row short: 49 rows where the 50 video frames give 50"
    assert ("49 rows for 1.00 s: wav2vec2/HuBERT/WavLM give (n-80)//320 = 49 frames at 50 Hz, not n/320 = 50: "
            "made at the feature's native rate, not one row per video frame (50 expected at 50 fps)") in reasons


def test_diagnose_counts_from_duration_and_other_rates():
    # 10.0125 s at 30000/1001: the video has 300 frames, floor(10.0125 * 29.97) = 300, ceil = 301
    assert diagnose(300, n_samples=160200, sample_rate=16000, fps=Fraction(30000, 1001), video_frames=300) == []
    r = diagnose(301, n_samples=160200, sample_rate=16000, fps=Fraction(30000, 1001), video_frames=300)
    assert r[0] == "one row long: 301 rows where the 300 video frames give 300"
    assert r[1] == ("301 rows = ceil(duration x fps) = ceil(10.01 s x 30000/1001): counted from the audio's length, "
                    "not the video's 300 frames")
    # audio at 44.1 kHz is measured at 16 kHz for the native counts
    assert native_counts(16000)[0][1] == 49
    r = diagnose(49, n_samples=44100, sample_rate=44100, fps=25, video_frames=25)
    assert any("(n-80)//320 = 49" in x for x in r)


def test_diagnose_another_preset(monkeypatch):
    """A file made with one preset, checked against another: the count is recognised."""
    import avalign.check as c

    monkeypatch.setattr(c, "known_presets", lambda: [WindowPreset(), CentredPreset()])
    window_rows = WindowPreset().num_frames(160000, Fraction(25))  # 247
    r = diagnose(window_rows, n_samples=160000, sample_rate=16000, fps=25, video_frames=250, preset=CentredPreset())
    assert r == ["247 rows = preset toy-window's rule ([K, 80, 16]): made with toy-window instead of toy-centred?"]
    r = diagnose(247, n_samples=160000, sample_rate=16000, fps=25, video_frames=250)
    assert r[-1] == "247 rows = preset toy-window's rule ([K, 80, 16]): made with toy-window?"


def test_diagnose_nothing_common():
    assert diagnose(7, n_samples=160000, sample_rate=16000, fps=25, video_frames=250) == [
        "7 rows where 250 are expected (-243); no common mistake explains it"]


def test_shape_rules():
    assert shape_mismatch("[K, 80, 16]", (10, 80, 16)) is None
    assert shape_mismatch("[T//2,2,1024]", (10, 2, 768)) == "shape (10, 2, 768): dimension 2 is 768, the rule " \
                                                            "[T//2,2,1024] says 1024"
    assert shape_mismatch("[N,768]", (10,)) == "shape (10) has 1 dimensions; the rule [N,768] has 2"
    assert shape_mismatch("whatever", (3, 4)) is None


# ---------------------------------------------------------------------------
# the command: exit codes 0 / 1 / 2
# ---------------------------------------------------------------------------


def test_cli_exit_codes(synctalk, synctalk_mel, real, tmp_path, capsys):
    assert main(["check", str(synctalk), str(synctalk_mel)]) == 0
    assert "OK: features match the video" in capsys.readouterr().out
    short = _plain(tmp_path, "short", 330, 80)
    assert main(["check", str(synctalk), str(short)]) == 1
    out = capsys.readouterr().out
    assert "why: one row short" in out and "MISMATCH: 330 rows, expected 331 (-1)" in out
    assert main(["check", str(synctalk), str(short), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is False and d["expected"] == 331 and d["reasons"][0].startswith("one row short")
    scalar = tmp_path / "scalar.npy"
    np.save(scalar, np.float32(3))
    text = tmp_path / "text.npy"
    text.write_text("not an array")
    for argv in ([str(synctalk), str(tmp_path / "missing.npy")],
                 [str(tmp_path / "missing.mp4"), str(short)],
                 [str(real / "imitator_audio1.wav"), str(short)],  # no video stream
                 [str(real / "echomimic_a.mp4"), str(short)],  # no audio stream
                 [str(synctalk), str(scalar)],
                 [str(synctalk), str(text)],
                 [str(synctalk), str(short), "--preset", "no-such-preset"]):
        assert main(["check", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("avalign: error:") and err.count("\n") == 1


def test_check_rejects_scalar(synctalk, tmp_path):
    p = tmp_path / "s.npy"
    np.save(p, np.float32(1))
    with pytest.raises(InputError):
        check(synctalk, p)


def test_plain_preset_with_container_offset_accepts_either_reading(real, tmp_path):
    """retalking_face1.mp4: audio starts 33 ms before the video. Another tool reads all of it (97710 samples);
    avalign extract reads from the first video frame (97182 samples). Both counts are accepted, and said."""
    video = real / "retalking_face1.mp4"
    p, fps = WindowPreset(), Fraction(1350, 61)
    full, clock = p.num_frames(97710, fps), p.num_frames(97182, fps)
    assert full != clock
    r = check(video, _plain(tmp_path, "full", full, 80, 16), preset=p)
    assert r.ok and r.expected == full
    r = check(video, _plain(tmp_path, "clock", clock, 80, 16), preset=p)
    assert r.ok and r.expected == clock
    assert any(line.startswith("the file follows the rule for the audio from the first video frame on (97182 samples")
               for line in r.lines)
    r = check(video, _plain(tmp_path, "bad", clock - 1, 80, 16), preset=p)
    assert not r.ok and r.expected == full



def test_shape_rule_with_alternatives_accepts_each():
    """A preset whose option gives another shape (Sonic's bucket stream) names both; either passes check."""
    from avalign.check import shape_mismatch

    rule = "[N, 10, 5, 384], N = min(n//640, 10000)//2 (stream=bucket: [N, 50, 384]); 10 s -> 125"
    assert shape_mismatch(rule, (125, 10, 5, 384)) is None
    assert shape_mismatch(rule, (125, 50, 384)) is None
    assert "the rule [N, 10, 5, 384]" in shape_mismatch(rule, (125, 50, 383))
    assert "dimension 2 is 15" in shape_mismatch("[K, 80, 16]", (3, 80, 15))
