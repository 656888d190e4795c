"""The `avalign` command as a subprocess: probe, extract, demo, and the bad-input contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avalign import synth

SRC = Path(__file__).resolve().parents[1] / "src"


def avalign(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("AVALIGN_DEBUG", None)
    return subprocess.run([sys.executable, "-c", "from avalign.cli import run; run()", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def avalign_many(arg_lists) -> list[subprocess.CompletedProcess]:
    """Run several commands concurrently (each is mostly interpreter start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: avalign(*args), arg_lists))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "clip.mp4"
    synth.write_clip(path, fps="30000/1001", num_frames=60, bright_frames=(30,), audio_delay=0.1, click_phase=0.5)
    return path


def test_probe_json(clip):
    r = avalign("probe", clip, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["duration"] > 0
    v, a = d["video"], d["audio"]
    assert v["fps"] == "30000/1001" and v["num_frames"] == 60 and v["start_time"] == 0.0 and v["vfr"] is False
    assert a["sample_rate"] == 16000 and a["channels"] == 1 and a["start_time"] > 0 and a["num_samples"] > 0
    assert d["audio_offset"] == pytest.approx(a["start_time"])


def test_probe_text_real(real):
    r = avalign("probe", real / "retalking_face1.mp4")
    assert r.returncode == 0, r.stderr
    assert "1350/61 fps" in r.stdout and "135 frames" in r.stdout and "variable frame rate" in r.stdout
    assert "starts at 33.008 ms" in r.stdout and "-33.008 ms" in r.stdout


def test_extract_writes_array_and_sidecar(clip, tmp_path):
    out = tmp_path / "feat.npy"
    r = avalign("extract", clip, "-o", out)
    assert r.returncode == 0, r.stderr
    values = np.load(out)
    assert values.shape == (60, 80) and values.dtype == np.float32
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["feature"] == "mel"
    assert meta["recipe"]["n_mels"] == 80 and meta["recipe"]["hop_length"] == 160  # parameters
    assert meta["grid"]["rate"] == "30000/1001" and meta["grid"]["num_frames"] == 60
    assert meta["video"]["fps"] == "30000/1001" and meta["video"]["num_frames"] == 60
    assert meta["offsets"]["audio_start_on_video_clock"] > 0 and meta["offsets"]["offset_ms"] == 0
    assert meta["versions"]["avalign"] and meta["versions"]["numpy"] and meta["versions"]["av"]
    assert meta["shape"] == [60, 80]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feat.json", "feat.npy"]
    # the bright frame is the loudest row
    assert int(np.argmax(np.exp(values).sum(axis=1))) == 30


def test_extract_options(real, tmp_path):
    out = tmp_path / "x.npy"
    r = avalign("extract", real / "imitator_audio1.wav", "-o", out, "--fps", "25", "--method", "index",
                "--window", "4", "--anchor", "-2", "--edge", "clamp", "--option", "n_mels=40", "-q")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    values = np.load(out)
    assert values.shape == (95, 4, 40)  # floor(3.833375 s * 25) frames
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["align"]["method"] == "index" and meta["align"]["anchor"] == -2 and meta["recipe"]["n_mels"] == 40


def _bad_inputs(real: Path, tmp: Path, clip: Path) -> list[tuple[str, list]]:
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp / "notes.wav"
    text.write_text("not audio\n" * 100)
    folder = tmp / "folder"
    folder.mkdir()
    cut = tmp / "cut.mp4"
    data = (real / "synctalk_short_demo.mp4").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    a_file = tmp / "a_file"
    a_file.write_text("x")
    wav = real / "carlini_sample.wav"
    return [
        ("missing file", [tmp / "missing.mp4"]),
        ("a directory", [folder]),
        ("not media", [text]),
        ("no audio stream", [real / "echomimic_a.mp4"]),
        ("empty file", [empty]),
        ("truncated file", [cut]),
        ("fps 0", [wav, "--fps", "0"]),
        ("fps -1", [wav, "--fps", "-1"]),
        ("fps -1 (=)", [wav, "--fps=-1"]),
        ("fps abc", [wav, "--fps", "abc"]),
        ("fps nan", [wav, "--fps", "nan"]),
        ("unknown preset", [wav, "--preset", "no-such-preset"]),
        ("unknown feature", [wav, "--feature", "no-such-feature"]),
        ("unknown option", [wav, "--option", "no_such_option=1"]),
        ("option named like a flag", [wav, "--feature", "mel", "--option", "window=hamming"]),
        ("bad method", [clip, "--method", "cubic"]),
        ("bad edge", [clip, "--edge", "wrap"]),
        ("zero frames", [wav, "--num-frames", "0"]),
        ("bad anchor", [clip, "--anchor", "middle", "--window", "3"]),
    ]


def test_bad_input_one_line_exit_2_no_output(real, tmp_path, clip):
    work = tmp_path / "work"
    work.mkdir()
    cases = _bad_inputs(real, work, clip)
    outdirs = [tmp_path / f"out{i}" for i in range(len(cases))]
    for d in outdirs:
        d.mkdir()
    results = avalign_many([["extract", *args, "-o", d / "o.npy"] for (_, args), d in zip(cases, outdirs)])
    for (what, _), r, d in zip(cases, results, outdirs):
        assert r.returncode == 2, (what, r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (what, r.stderr)
        assert lines[0].startswith("avalign: error: ") and "Traceback" not in r.stderr, (what, r.stderr)
        assert r.stdout == "", what
        assert list(d.iterdir()) == [], (what, list(d.iterdir()))  # no output, no temp file
    # probe gives the same contract for the bad files (a silent video probes fine)
    files = [args[0] for what, args in cases[:6] if what != "no audio stream"]
    for f, r in zip(files, avalign_many([["probe", f] for f in files])):
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, f


def test_unwritable_output(real, tmp_path):
    wav = real / "carlini_sample.wav"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [tmp_path / "no_such_dir" / "o.npy", a_file / "o.npy", tmp_path]  # missing folder, file as folder, dir
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    if not os.access(ro, os.W_OK):  # root can write anywhere: then this case says nothing
        cases.append(ro / "o.npy")
    try:
        for out, r in zip(cases, avalign_many([["extract", wav, "-o", out] for out in cases])):
            assert r.returncode == 2, (out, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "readonly"]
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_usage_errors_exit_2():
    arg_lists = [[], ["extract"], ["no-such-command"], ["extract", "x.wav"]]
    for args, r in zip(arg_lists, avalign_many(arg_lists)):
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr


def test_demo(tmp_path):
    out = tmp_path / "demo"
    r = avalign("demo", "--out", out)
    assert r.returncode == 0, r.stderr
    assert (out / "example.mp4").is_file() and (out / "mel.npy").is_file() and (out / "mel.json").is_file()
    assert "loudest video frames: [60, 150, 240]" in r.stdout
    assert np.load(out / "mel.npy").shape == (299, 80)


def test_presets_lists_the_available_presets():
    import avalign

    r = avalign_many([["presets", "--json"], ["presets"]])
    assert all(x.returncode == 0 for x in r), [x.stderr for x in r]
    rows = json.loads(r[0].stdout)
    assert [row["name"] for row in rows] == avalign.presets()
    assert r[1].stdout.splitlines()[0].split()[:2] == ["preset", "output"]
    assert len(r[1].stdout.splitlines()) == 1 + len(rows)
