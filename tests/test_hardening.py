"""Issue 12 classes 1, 3 and 7: outputs that would destroy an input or a node, foreign feature files given to
``check``, and files cut short. Each case states the exact behaviour: exit code, the one stderr line, the
files left, the input's hash."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

from avalign import media, store, synth
from avalign.cli import main
from avalign.errors import InputError
from helpers.media_files import remux, write_audio


def run_cli(capsys, *args) -> tuple[int, list[str], str]:
    """``avalign ARGS`` in-process: (exit code, stderr lines, stdout)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.err.strip().splitlines(), out.out


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_refused(capsys, args, *, match: str) -> str:
    rc, err, out = run_cli(capsys, *args)
    assert rc == 2, (args, rc, err)
    assert len(err) == 1 and err[0].startswith("avalign: error: "), (args, err)
    assert match in err[0], (args, err[0])
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("harden")
    synth.write_wav(d / "s.wav", synth.speech_like(0.5))
    synth.write_clip(d / "c.mp4", fps=25, num_frames=25, bright_frames=(5,))
    return d


@pytest.fixture()
def work(media_dir, tmp_path) -> Path:
    for name in ("s.wav", "c.mp4"):
        (tmp_path / name).write_bytes((media_dir / name).read_bytes())
    return tmp_path


# ---------------------------------------------------------------------------
# Class 1: output paths
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["s.wav", "c.mp4"])
def test_output_onto_the_input_is_refused(capsys, work, name):
    before = sha256(work / name)
    line = assert_refused(capsys, ["extract", work / name, "-o", work / name], match="would overwrite the input")
    assert name in line
    assert sha256(work / name) == before
    assert sorted(p.name for p in work.iterdir()) == ["c.mp4", "s.wav"]


def test_sidecar_onto_the_input_is_refused(capsys, work):
    """``extract input.json -o input.npy``: the sidecar input.json would replace the input."""
    src = work / "input.json"
    src.write_bytes((work / "s.wav").read_bytes())  # a WAV named .json: media is read by content
    before = sha256(src)
    assert_refused(capsys, ["extract", src, "-o", work / "input.npy"], match="would overwrite the input")
    assert sha256(src) == before and not (work / "input.npy").exists()


@pytest.mark.parametrize("how", ["symlink", "hardlink", "sidecar-symlink"])
def test_output_through_a_link_to_the_input_is_refused(capsys, work, how):
    wav = work / "s.wav"
    before = sha256(wav)
    out = work / "o.npy"
    if how == "symlink":
        out.symlink_to(wav)
    elif how == "hardlink":
        os.link(wav, out)
    else:
        (work / "o.json").symlink_to(wav)
    assert_refused(capsys, ["extract", wav, "-o", out], match=f"would overwrite the input {wav}")
    assert sha256(wav) == before
    if how == "symlink":
        assert out.is_symlink() and os.readlink(out) == str(wav)
    elif how == "hardlink":
        assert os.stat(out).st_nlink == 2 and sha256(out) == before


def test_fifo_output_is_refused_and_stays_a_fifo(capsys, work):
    fifo = work / "f.npy"
    os.mkfifo(fifo)
    assert_refused(capsys, ["extract", work / "s.wav", "-o", fifo], match="not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    side = work / "g.json"  # a FIFO in the sidecar's place is refused too
    os.mkfifo(side)
    assert_refused(capsys, ["extract", work / "s.wav", "-o", work / "g.npy"], match="not a regular file")
    assert stat.S_ISFIFO(os.lstat(side).st_mode) and not (work / "g.npy").exists()


@pytest.mark.parametrize("target", ["/proc/x.npy", "/sys/x.npy", "/dev/null", "/proc/self/fd/1"])
def test_system_folders_are_refused(capsys, work, target):
    assert_refused(capsys, ["extract", work / "s.wav", "-o", target], match="refusing to write under /")


@pytest.mark.parametrize("fail_at", ["sidecar", "array", "rename"])
def test_full_disk_mid_write_leaves_nothing(capsys, work, monkeypatch, fail_at):
    """ENOSPC while writing the sidecar, the array, or at the final rename: no .npy, no .json, no temp file."""
    out = work / "out" / "o.npy"
    out.parent.mkdir()
    real_fsync, real_replace = os.fsync, os.replace
    calls = {"fsync": 0, "replace": 0}

    def fsync(fd):
        calls["fsync"] += 1
        if (fail_at, calls["fsync"]) in (("sidecar", 1), ("array", 2)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    def replace(a, b):
        calls["replace"] += 1
        if fail_at == "rename" and calls["replace"] == 2:  # the sidecar is in place, the array fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(a, b)

    monkeypatch.setattr(store.os, "fsync", fsync)
    monkeypatch.setattr(store.os, "replace", replace)
    line = assert_refused(capsys, ["extract", work / "s.wav", "-o", out], match="No space left on device")
    assert "nothing was written" in line
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------------------
# Class 3: check with foreign files
# ---------------------------------------------------------------------------


def _npy_header(shape, descr="<f4") -> bytes:
    """A version 1.0 .npy header, written by hand (it may lie about the data that follows)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def _foreign(tmp: Path) -> list[tuple[str, Path, str]]:
    """(what, file, the words its one error line must hold)."""
    cases = []

    def add(what, name, data, match):
        p = tmp / name
        p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
        cases.append((what, p, match))

    np.savez(tmp / "z.npz", a=np.zeros(3))
    add("npz renamed .npy", "npz.npy", (tmp / "z.npz").read_bytes(), "zip archive (an .npz file?), not an .npy array")
    add("header claims terabytes", "huge.npy", _npy_header((10**12, 80)) + b"\0" * 64,
        "needs 320000000000000 bytes of data but the file holds 64")
    add("header claims a bit more", "short.npy", _npy_header((25, 80)) + b"\0" * (25 * 80 * 4 - 1),
        "needs 8000 bytes of data but the file holds 7999")
    add("text file", "text.npy", "hello\nthis is text\n", "not an .npy array (no NumPy header")
    add("empty file", "empty.npy", b"", "empty file, not an .npy array")
    add("garbled header", "garbled.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 12}   \n", "not an .npy array (bad header")
    add("object header", "obj.npy", _npy_header((3,), "|O") + b"\0" * 64, "dtype '|O'")
    add("string dtype", "str.npy", _npy_header((3,), "<U4") + b"\0" * 64, "dtype '<U4'")
    (tmp / "dir.npy").mkdir()
    cases.append(("a directory", tmp / "dir.npy", "is a directory"))
    return cases


def test_check_refuses_foreign_npy_files(capsys, media_dir, tmp_path):
    for what, path, match in _foreign(tmp_path):
        line = assert_refused(capsys, ["check", media_dir / "c.mp4", path], match=match)
        assert "pickled" not in line and "allow_pickle" not in line, (what, line)
        with pytest.raises(InputError):
            store.read_npy_header(path)


def test_npy_header_read_without_reading_the_data(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.zeros((7, 3, 2), np.float64), allow_pickle=False)
    shape, dtype, fortran, offset = store.read_npy_header(p)
    assert shape == (7, 3, 2) and dtype == np.float64 and fortran is False
    assert offset + 7 * 3 * 2 * 8 == p.stat().st_size


def _sidecar_case(tmp: Path, name: str, meta, *, rows: int = 25) -> Path:
    p = tmp / f"{name}.npy"
    np.save(p, np.zeros((rows, 80), np.float32))
    side = tmp / f"{name}.json"
    side.write_text(meta) if isinstance(meta, str) else side.write_text(json.dumps(meta))
    return p


@pytest.fixture(scope="module")
def good_meta(media_dir) -> dict:
    from avalign import extract

    return extract(media_dir / "c.mp4", feature="mel").meta


BAD_SIDECARS = [
    # (name, change to a good sidecar, the field the line names, words)
    ("grid-string", {"grid": "abc"}, "grid", "expected an object, got a string"),
    ("audio-int", {"audio": 5}, "audio", "expected an object, got an integer"),
    ("rate-zero-den", {"grid": {"rate": "25/0", "num_frames": 25}}, "grid.rate", "non-zero denominator"),
    ("rate-text", {"grid": {"rate": "fast", "num_frames": 25}}, "grid.rate", "is not a number"),
    ("frames-negative", {"grid": {"rate": "25", "num_frames": -3}}, "grid.num_frames", ">= 0, got -3"),
    ("frames-float", {"grid": {"rate": "25", "num_frames": 2.5}}, "grid.num_frames", "expected an integer"),
    ("frames-missing", {"grid": {"rate": "25"}}, "grid.num_frames", "missing"),
    ("timestamps", {"grid": {"rate": "25", "num_frames": 3, "timestamps": [0, 0.04]}}, "grid.timestamps",
     "2 timestamps for 3 frames"),
    ("sr-string", {"audio": {"sample_rate": "16k", "num_samples": 8000}}, "audio.sample_rate", "got a string"),
    ("sr-zero", {"audio": {"sample_rate": 0, "num_samples": 8000}}, "audio.sample_rate", ">= 1, got 0"),
    ("samples-bool", {"audio": {"sample_rate": 16000, "num_samples": True}}, "audio.num_samples", "got a boolean"),
    ("fps-zero-den", {"fps": "25/0"}, "fps", "non-zero denominator"),
    ("fps-zero", {"fps": "0"}, "fps", "must be positive"),
    ("fps-list", {"fps": [25]}, "fps", "got a list"),
    ("offset-text", {"offsets": {"offset_ms": "ten"}}, "offsets.offset_ms", "finite number"),
    ("preset-int", {"preset": 3}, "preset", "expected a string"),
    ("shape-text", {"shape": "25x80"}, "shape", "non-negative integers"),
]


@pytest.mark.parametrize("name,change,field,words", BAD_SIDECARS, ids=[c[0] for c in BAD_SIDECARS])
def test_check_names_the_bad_sidecar_field(capsys, media_dir, tmp_path, good_meta, name, change, field, words):
    meta = {**good_meta, **change}
    path = _sidecar_case(tmp_path, name, meta)
    line = assert_refused(capsys, ["check", media_dir / "c.mp4", path], match=f"bad sidecar: field {field}: ")
    assert words in line, line
    assert str(tmp_path / f"{name}.json") in line


@pytest.mark.parametrize("key", ["grid", "audio", "fps"])
def test_check_sidecar_missing_key(capsys, media_dir, tmp_path, good_meta, key):
    meta = {k: v for k, v in good_meta.items() if k != key}
    path = _sidecar_case(tmp_path, f"no-{key}", meta)
    assert_refused(capsys, ["check", media_dir / "c.mp4", path], match=f"bad sidecar: field {key}: missing")


def test_check_sidecar_not_json_and_not_ours(capsys, media_dir, tmp_path, good_meta):
    path = _sidecar_case(tmp_path, "broken", '{"avalign": "feature file", "grid": ')
    assert_refused(capsys, ["check", media_dir / "c.mp4", path], match="unreadable sidecar (not JSON")
    # a JSON beside the array that is not avalign's is ignored: the file is checked as another tool's
    for i, other in enumerate(([1, 2, 3], {"tool": "other"}, "null")):
        path = _sidecar_case(tmp_path, f"foreign{i}", other if isinstance(other, str) else json.dumps(other))
        rc, err, out = run_cli(capsys, "check", media_dir / "c.mp4", path)
        assert rc == 0 and err == [] and "(no sidecar)" in out, (other, err, out)
    # and the good sidecar passes
    rc, err, out = run_cli(capsys, "check", media_dir / "c.mp4", _sidecar_case(tmp_path, "good", good_meta))
    assert rc == 0 and "OK: features match the video" in out, (err, out)
    assert store.validate_sidecar(good_meta) is good_meta


def test_zero_denominator_fps_on_the_command_line(capsys, media_dir, tmp_path):
    for args in (["extract", media_dir / "s.wav", "-o", tmp_path / "o.npy", "--fps", "25/0"],
                 ["explain", "--preset", "wav2lip", "--fps", "25/0", "--samples", "16000"]):
        assert_refused(capsys, args, match="25/0")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Class 7: quiet truncation
# ---------------------------------------------------------------------------


def _decoded_samples(path: Path) -> int:
    """Reference: every sample PyAV's decoder gives until the data ends or breaks."""
    import av

    n = 0
    with av.open(str(path)) as c:
        try:
            for fr in c.decode(c.streams.audio[0]):
                n += fr.samples
        except av.error.FFmpegError:
            pass
    return n


@pytest.fixture(scope="module")
def cut_sources(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cut")
    synth.write_clip(d / "plain.mp4", fps=25, num_frames=100, bright_frames=(10,))
    remux(d / "plain.mp4", d / "clip.mp4")
    speech = synth.speech_like(3.0)
    write_audio(d / "plain.m4a", speech, 16000, "aac", container="ipod")
    remux(d / "plain.m4a", d / "audio.m4a")
    remux(d / "plain.mp4", d / "clip.mkv", "matroska")
    write_audio(d / "audio.flac", speech, 16000, "flac", container="flac")
    return {p.name: p for p in (d / "clip.mp4", d / "audio.m4a", d / "clip.mkv", d / "audio.flac")}


@pytest.mark.parametrize("name", ["clip.mp4", "audio.m4a", "clip.mkv", "audio.flac"])
def test_cut_files_report_or_refuse_the_missing_audio(capsys, cut_sources, tmp_path, name):
    """Cut at several offsets from the end: either all audio is there (exit 0, nothing reported), or the
    shortfall against the index is recorded and warned (exit 0), or refused above the limit (exit 2)."""
    src = cut_sources[name]
    data = src.read_bytes()
    info = media.probe(src)
    declared, sr = info.audio.num_samples, info.audio.sample_rate
    assert not media.load_audio(src, None).meta.get("missing_samples")  # the whole file: nothing missing
    seen = set()
    for cut in (1, 7, 60, 300, 1200, len(data) // 3):
        path = tmp_path / f"cut{cut}_{name}"
        path.write_bytes(data[:-cut])
        out = tmp_path / f"out{cut}.npy"
        rc, err, _ = run_cli(capsys, "extract", path, "-o", out, "-q")
        assert rc in (0, 2) and len(err) <= 1, (cut, rc, err)
        if rc == 2:
            assert "truncated" in err[0] or "corrupt" in err[0] or "not a readable" in err[0], err
            assert not out.exists() and not out.with_suffix(".json").exists()
            seen.add("refused")
            continue
        meta = json.loads(out.with_suffix(".json").read_text())["audio"]
        decoded = _decoded_samples(path)
        short = declared - min(decoded, declared)
        missing = meta.get("missing_samples", 0)
        if missing:
            assert missing == short and meta["missing_seconds"] == pytest.approx(missing / sr)
            assert missing <= media.missing_audio_limit(declared, sr)
            assert err == [f"avalign: warning: {path}: truncated file: {missing} audio samples "
                           f"({missing / sr:.3f} s) that its index declares are missing at the end "
                           f"(recorded as audio.missing_samples in the sidecar)"]
            seen.add("warned")
        else:
            assert err == [] and short <= (1024 if name.endswith(".mkv") else 0) + 2 * sr // 1000, (cut, short)
            seen.add("complete")
    assert "refused" in seen, seen
    if name in ("clip.mp4", "audio.flac"):
        assert "warned" in seen, seen  # a file cut by a few bytes loses its last packet: said so


def test_mp4_cut_one_byte_short_says_so(capsys, cut_sources, tmp_path):
    """The issue's case: an MP4 (index first) cut one byte short extracts, with the loss in the sidecar."""
    path = tmp_path / "cut.mp4"
    path.write_bytes(cut_sources["clip.mp4"].read_bytes()[:-1])
    rc, err, _ = run_cli(capsys, "extract", path, "-o", tmp_path / "o.npy")
    meta = json.loads((tmp_path / "o.json").read_text())
    assert rc == 0 and len(err) == 1 and err[0].startswith("avalign: warning: ") and "truncated file" in err[0]
    assert meta["audio"]["missing_samples"] > 0
    assert meta["grid"]["num_frames"] == 100  # the rows still follow the video's 100 frames exactly


def test_missing_audio_limit():
    assert media.missing_audio_limit(16000 * 100, 16000) == 16000  # 1 s of a 100 s file
    assert media.missing_audio_limit(16000 * 2, 16000) == 1600  # 5 % of a 2 s file
    err = media._missing_audio_error("x.mp4", 5000, 32000, 16000)
    assert "refused above 1 s or 5 %" in str(err) and "5000 (0.312 s, 15.6 %)" in str(err)
