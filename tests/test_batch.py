"""Batch extraction: layout, manifest, resume after SIGKILL, error rows, process pool and Ray executors.

One dataset of 40 short clips (WAVs and MP4s from avalign.synth, 3 corrupt)
is computed once uninterrupted (the baseline); every other run must give
byte-identical outputs.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import avalign
from avalign import synth
from avalign.batch import Clip, Manifest, RecipeSpec, read_source, run_batch
from avalign.batch.local import LocalExecutor, _run_bucket
from avalign.batch.runner import plan
from avalign.batch.work import Task
from avalign.cli import main
from avalign.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SPEC = RecipeSpec(feature="mel", fps="25")
CORRUPT = {"s1/garbage", "s2/truncated", "s3/empty"}
N_CLIPS, N_OK = 40, 37


def make_dataset(root: Path) -> Path:
    """40 clips in 3 folders: 32 WAVs (1-2 s), 5 MP4s (25 fps), 3 corrupt files."""
    src = root / "src"
    for d in ("s1", "s2", "s3/deep"):
        (src / d).mkdir(parents=True, exist_ok=True)
    for i in range(32):
        folder = ("s1", "s2", "s3/deep")[i % 3]
        synth.write_wav(src / folder / f"w{i:02d}.wav", synth.speech_like(1.0 + (i % 9) / 8, seed=i))
    for i in range(5):
        synth.write_clip(src / "s2" / f"v{i}.mp4", fps=25, num_frames=30 + 3 * i, bright_frames=(10,))
    (src / "s1" / "garbage.wav").write_bytes(b"RIFF\x00\x00not really a wave file" * 20)
    (src / "s2" / "truncated.mp4").write_bytes((src / "s2" / "v0.mp4").read_bytes()[:300])
    (src / "s3" / "empty.flac").write_bytes(b"")
    return src


def outputs(out: Path) -> dict[str, object]:
    """Every .npy (bytes) and sidecar (parsed, without ``versions``, which lists the libraries a
    process happened to import) under ``out``, by relative path."""
    found = {}
    for p in sorted(out.rglob("*")):
        if ".avalign" in p.relative_to(out).parts:  # the batch's own files (recipe, lock)
            continue
        if p.suffix == ".npy":
            found[p.relative_to(out).as_posix()] = p.read_bytes()
        elif p.suffix == ".json":
            meta = json.loads(p.read_text())
            meta.pop("versions")
            found[p.relative_to(out).as_posix()] = meta
    return found


def manifest_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("batchdata"))


@pytest.fixture(scope="module")
def baseline(dataset, tmp_path_factory):
    """An uninterrupted in-process run: (out folder, summary)."""
    out = tmp_path_factory.mktemp("baseline") / "out"
    summary = run_batch(dataset, out, spec=SPEC, quiet=True)
    return out, summary


def cli(*args, env=None, **kw) -> subprocess.Popen:
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **(env or {}))
    code = "import sys; from avalign.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# -- sources -----------------------------------------------------------------------


def test_folder_files_sharing_a_stem_keep_their_extension(tmp_path):
    """clip.mp4 beside its extracted clip.wav: both are computed, ids keep the extension, others do not."""
    for name in ("clip.mp4", "clip.wav", "other.wav"):
        (tmp_path / name).write_bytes(b"x")
    assert [c.id for c in read_source(tmp_path)] == ["clip.mp4", "clip.wav", "other"]


def test_folder_source_ids_are_relative_paths(dataset):
    clips = read_source(dataset)
    assert len(clips) == N_CLIPS
    ids = [c.id for c in clips]
    assert ids == sorted(ids)
    assert "s3/deep/w02" in ids and "s2/v4" in ids and "s3/empty" in ids


def test_manifest_sources_jsonl_and_csv(tmp_path, dataset):
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": str(dataset / "s1" / "w00.wav"), "id": "spk/a", "fps": 30}) + "\n\n"
        + json.dumps({"path": str(dataset / "s2" / "w01.wav"), "num_frames": 12}) + "\n")
    a, b = read_source(tmp_path / "m.jsonl")
    assert (a.id, a.fps, a.num_frames) == ("spk/a", "30", None)
    assert (b.id, b.fps, b.num_frames) == ("w01", None, 12)
    sub = tmp_path / "clips"
    sub.mkdir()
    synth.write_wav(sub / "x.wav", synth.speech_like(1.0))
    (tmp_path / "m.csv").write_text("path,id,fps\nclips/x.wav,,25\n")
    (c,) = read_source(tmp_path / "m.csv")
    assert (c.id, c.source, c.fps) == ("clips/x", str(tmp_path / "clips" / "x.wav"), "25")


@pytest.mark.parametrize("text, message", [
    ('{"path": "a.wav"}\n{"path": "b/../a.wav", "id": "a"}\n', "two sources"),
    ('{"id": "x"}\n', "without a 'path'"),
    ('{"path": "a.wav", "id": "../up"}\n', "bad id"),
    ('{"path": "a.wav", "num_frames": 0}\n', "bad num_frames"),
    ('[1, 2]\n', "not a JSON object"),
])
def test_bad_manifests_are_refused(tmp_path, text, message):
    (tmp_path / "m.jsonl").write_text(text)
    with pytest.raises(InputError, match=message):
        read_source(tmp_path / "m.jsonl")


def test_missing_source_is_refused(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        read_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no media files"):
        read_source(tmp_path / "empty")


# -- recipe hash ---------------------------------------------------------------------


def test_recipe_hash_covers_parameters_not_device():
    clip = Clip(id="a", source="a.wav")
    h = SPEC.clip_hash(clip)
    assert RecipeSpec(feature="mel", fps="25", device="cpu").clip_hash(clip) == h
    for other in (RecipeSpec(feature="mel", fps="30"), RecipeSpec(feature="mfcc", fps="25"),
                  RecipeSpec(feature="mel", fps="25", options={"n_mels": 40}),
                  RecipeSpec(feature="mel", fps="25", offset_ms=10.0)):
        assert other.clip_hash(clip) != h
    assert SPEC.clip_hash(type(clip)(id="a", source="a.wav", fps="30")) != h


# -- the 40-clip run -----------------------------------------------------------------


def test_uninterrupted_run_outputs_and_error_rows(baseline, dataset):
    out, summary = baseline
    assert summary.exit_code == 1 and summary.total == N_CLIPS and summary.computed == N_CLIPS
    npys = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy"))
    assert len(npys) == N_OK
    assert "s3/deep/w02.npy" in npys and "s2/v3.npy" in npys
    rows = manifest_rows(out)
    assert [r["id"] for r in rows] == [c.id for c in read_source(dataset)]  # one row each, source order
    errors = {r["id"] for r in rows if r["status"] == "error"}
    assert errors == CORRUPT
    for r in rows:
        assert set(r) >= {"id", "source", "output", "shape", "grid", "status", "error", "timings", "recipe_hash"}
        if r["status"] == "error":
            assert r["output"] is None and r["error"]
            assert not (out / (r["id"] + ".npy")).exists()
        else:
            assert r["error"] is None and r["recipe_hash"] == SPEC.clip_hash(Clip(id=r["id"], source=r["source"]))
            assert r["grid"]["num_frames"] == r["shape"][0] and r["shape"][1] == 80


def test_outputs_equal_the_python_api(baseline, dataset):
    out, _ = baseline
    for row in manifest_rows(out):
        if row["status"] != "ok":
            continue
        values, meta = avalign.store.load(out / row["output"])
        ref = avalign.extract(row["source"], feature="mel", fps=25)
        np.testing.assert_array_equal(values, ref.values)
        assert meta["grid"] == ref.grid.to_dict() and meta["batch"]["id"] == row["id"]
    # a video clip keeps its frame count (the probe travelled with the decoded audio)
    assert np.load(out / "s2" / "v2.npy").shape[0] == 36


def test_rerun_recomputes_nothing(baseline, dataset):
    out, _ = baseline
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.np[y]")}
    rows_before = manifest_rows(out)
    summary = run_batch(dataset, out, spec=SPEC, quiet=True)
    assert (summary.skipped, summary.recovered, summary.computed) == (N_CLIPS, 0, 0)
    assert {r["id"] for r in summary.errors} == CORRUPT and summary.exit_code == 1  # known-bad files stand
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.np[y]")} == before
    assert manifest_rows(out) == rows_before  # timings untouched: nothing recomputed


def test_errors_are_retried_when_asked_or_when_the_file_changed(tmp_path, dataset):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.wav").write_bytes((dataset / "s1" / "w00.wav").read_bytes())
    (src / "bad.wav").write_bytes((dataset / "s1" / "garbage.wav").read_bytes())
    out = tmp_path / "out"
    assert run_batch(src, out, spec=SPEC, quiet=True).exit_code == 1
    s = run_batch(src, out, spec=SPEC, retry_errors=True, quiet=True)
    assert (s.computed, s.skipped, len(s.errors)) == (1, 1, 1)
    (src / "bad.wav").write_bytes((dataset / "s2" / "w01.wav").read_bytes())  # the file was fixed
    s = run_batch(src, out, spec=SPEC, quiet=True)
    assert (s.computed, s.skipped, s.exit_code) == (1, 1, 0)
    np.testing.assert_array_equal(np.load(out / "bad.npy"), avalign.extract(src / "bad.wav", feature="mel",
                                                                            fps=25).values)
    os.utime(src / "good.wav", ns=(1, 1))  # a changed source is recomputed
    s = run_batch(src, out, spec=SPEC, quiet=True)
    assert (s.computed, s.skipped) == (1, 1)
    assert len(manifest_rows(out)) == 2


def test_cli_pool_sigkill_resume_is_byte_identical(baseline, dataset, tmp_path):
    """Kill a 2-worker CLI run with SIGKILL after some outputs exist; the rerun completes all 37, same bytes."""
    ref_out, _ = baseline
    out = tmp_path / "out"
    proc = cli("batch", dataset, "-o", out, "--feature", "mel", "--fps", "25", "--workers", "2", "--quiet",
               env={"AVALIGN_BATCH_THROTTLE_S": "0.15"})
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.npy"))) < 6:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(out.rglob("*.npy")))
    assert proc.returncode == -signal.SIGKILL and done_at_kill < N_OK
    time.sleep(0.7)  # orphaned workers notice their parent is gone and exit
    with open(out / "manifest.jsonl", "ab") as fh:  # as if the kill had cut a row in half
        fh.write(b'{"id":"s1/w00","status":"o')
    proc = cli("batch", dataset, "-o", out, "--feature", "mel", "--fps", "25", "--workers", "2")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert f"{N_OK}/{N_CLIPS} ok" in stdout and "3 errors" in stdout
    assert "error s2/truncated" in stderr
    assert outputs(out) == outputs(ref_out)
    rows = manifest_rows(out)
    assert sorted(r["id"] for r in rows) == sorted(c.id for c in read_source(dataset))
    assert sum(r["status"] == "ok" for r in rows) == N_OK


def test_row_lost_at_kill_is_recovered_from_the_sidecar(baseline, dataset, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(baseline[0], out)
    rows = manifest_rows(out)
    kept = [r for r in rows if r["id"] != "s2/v1"]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    mtime = (out / "s2" / "v1.npy").stat().st_mtime_ns
    summary = run_batch(dataset, out, spec=SPEC, quiet=True)
    assert summary.recovered == 1 and summary.computed == 0
    assert (out / "s2" / "v1.npy").stat().st_mtime_ns == mtime
    (row,) = [r for r in manifest_rows(out) if r["id"] == "s2/v1"]
    assert row["status"] == "ok" and row["recovered"] and row["shape"] == [33, 80]


def test_outputs_are_written_off_the_compute_thread_and_rows_wait_for_them(baseline, dataset, tmp_path,
                                                                          monkeypatch):
    """The writer thread saves each output while the next clip computes (one at most waits); a row is
    recorded only once its output is in place, and the outputs are the same bytes."""
    from avalign.batch import manifest as manifest_mod
    from avalign.batch import work

    out = tmp_path / "out"
    threads, real_write, real_append = set(), work.write_output, manifest_mod.Manifest.append
    real_extract, held, most = work.extract_output, [0], [0]

    def write_output(task, values, meta, ctx):
        threads.add(threading.current_thread().name)
        time.sleep(0.01)  # a slow disk: slower than computing a clip, so unwritten outputs could pile up
        try:
            return real_write(task, values, meta, ctx)
        finally:
            held[0] -= 1

    def extract_output(*args, **kwargs):
        most[0] = max(most[0], held[0])  # outputs computed but not yet written when a clip starts
        time.sleep(0.05)  # a slow clip: its time must not count in the previous clip's total_s
        result = real_extract(*args, **kwargs)
        held[0] += 1
        return result

    def append(self, row):
        if row["status"] == "ok":
            assert (out / row["output"]).is_file() and (out / row["output"]).with_suffix(".json").is_file()
        return real_append(self, row)

    monkeypatch.setattr(work, "write_output", write_output)
    monkeypatch.setattr(work, "extract_output", extract_output)
    monkeypatch.setattr(manifest_mod.Manifest, "append", append)
    summary = run_batch(dataset, out, spec=SPEC, quiet=True)
    assert summary.computed == N_CLIPS and threads and all(t.startswith("avalign-write") for t in threads)
    assert most[0] == 1  # the writes overlapped the next clip, and never more than one waited
    for row in manifest_rows(out):
        if row["status"] == "ok":  # a clip's total ends with its own write, not after the next clip's 50 ms
            t = row["timings"]
            sleeps = 0.05 + 0.01  # its own slow clip and slow disk, outside the timed parts
            assert t["total_s"] - (t["decode_s"] + t["extract_s"] + t["write_s"]) - sleeps < 0.02, t
    assert outputs(out) == outputs(baseline[0])
    assert not list(out.rglob("*.tmp"))


def test_a_failed_write_is_that_clips_error_row(dataset, tmp_path, monkeypatch):
    """ENOSPC in the writer thread: that clip's error row, nothing of it left behind, the others go on."""
    from avalign import store

    real_fsync, seen = os.fsync, []

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        seen.append(name)
        if "w05.npy" in name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    out = tmp_path / "out"
    summary = run_batch(dataset, out, spec=SPEC, quiet=True)
    rows = {r["id"]: r for r in manifest_rows(out)}
    assert any("w05.npy" in n for n in seen)
    bad = rows["s3/deep/w05"]
    assert bad["status"] == "error" and "No space left on device" in bad["error"]
    assert not list((out / "s3" / "deep").glob("w05*")) and not list(out.rglob("*.tmp"))
    assert summary.total == N_CLIPS and sum(r["status"] == "ok" for r in rows.values()) == N_OK - 1


def test_changed_recipe_recomputes(tmp_path, dataset):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("w00.wav", "w03.wav"):
        (src / name).write_bytes((dataset / "s1" / name).read_bytes())
    out = tmp_path / "out"
    assert run_batch(src, out, spec=SPEC, quiet=True).computed == 2
    spec40 = RecipeSpec(feature="mel", fps="25", options={"n_mels": 40})
    before = outputs(out)
    with pytest.raises(InputError, match=f"holds 2 clips of recipe {SPEC.recipe_id()} .*this run's recipe "
                                         f"{spec40.recipe_id()}.*--overwrite"):
        run_batch(src, out, spec=spec40, quiet=True)  # a mixed folder: refused, nothing replaced
    assert outputs(out) == before
    s = run_batch(src, out, spec=spec40, overwrite=True, quiet=True)
    assert (s.computed, s.skipped, s.exit_code) == (2, 0, 0)
    assert np.load(out / "w00.npy").shape[1] == 40
    assert len(manifest_rows(out)) == 2


def test_system_names_layout(tmp_path, dataset, monkeypatch):
    src = tmp_path / "src" / "spk"
    src.mkdir(parents=True)
    (src / "a.wav").write_bytes((dataset / "s1" / "w00.wav").read_bytes())
    out = tmp_path / "out"
    run_batch(tmp_path / "src", out, spec=SPEC, system_names=True, quiet=True)
    assert (out / "spk" / "a" / "mel.npy").is_file()
    from avalign import systems

    class Fake:
        file_name = "aud_hu.npy"

    monkeypatch.setattr(systems, "get", lambda name, **kw: Fake())
    tasks, _, _ = plan(read_source(tmp_path / "src"), RecipeSpec(preset="fake"), out, {}, system_names=True)
    assert [t.output for t in tasks] == ["spk/a/aud_hu.npy"]


# -- manifest safety -----------------------------------------------------------------


def test_manifest_cuts_torn_tail_and_compacts(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_bytes(b'{"id":"a","status":"error"}\n{"id":"b","status":"ok"}\n{"id":"a","status":"ok"}\n{"id":"c","st')
    m = Manifest(path)
    assert set(m.read()) == {"a", "b"}
    with m:
        assert path.read_bytes().endswith(b'"ok"}\n')  # torn row cut before appending
        m.append({"id": "c", "status": "ok"})
        m.append({"id": "d", "status": "error", "error": "bad"})
        statuses, errors = m.compact(["c", "b", "a"])
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["c", "b", "a", "d"]
    assert statuses == {"a": "ok", "b": "ok", "c": "ok", "d": "error"}
    assert errors == [{"id": "d", "status": "error", "error": "bad"}]
    assert Manifest(path).read(None)["a"] == {"id": "a", "status": "ok"}


def test_second_run_on_the_same_folder_is_refused(tmp_path):
    path = tmp_path / "manifest.jsonl"
    with Manifest(path):
        with pytest.raises(InputError, match="another batch run"):
            Manifest(path).open()


# -- CLI usage -----------------------------------------------------------------------


def test_cli_exit_codes(tmp_path, dataset, capsys, monkeypatch):
    assert main(["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "o"), "--feature", "mel"]) == 2
    assert "no such folder" in capsys.readouterr().err
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes((dataset / "s1" / "w00.wav").read_bytes())
    assert main(["batch", str(src), "-o", str(tmp_path / "o"), "--feature", "nope"]) == 2
    assert main(["batch", str(src), "-o", str(tmp_path / "o"), "--feature", "mel", "--option", "bogus=1"]) == 2
    assert not (tmp_path / "o" / "a.npy").exists()
    assert main(["batch", str(src), "-o", str(tmp_path / "o"), "--feature", "mel", "--fps", "25", "-q"]) == 0
    assert "1/1 ok" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main(["batch", str(src), "-o", str(tmp_path / "o2"), "--feature", "mel", "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "avalign[ray]" in err


# -- process pool: a crashing worker ------------------------------------------------


def crash_on_w03(tasks):
    """Bucket function for the pool test: the worker dies on clip w03 (as a segfaulting decoder would)."""
    if any(t.clip.id.endswith("w03") for t in tasks):
        os._exit(3)
    return [row | {"threads": os.environ.get("OMP_NUM_THREADS")} for row in _run_bucket(tasks)]


@pytest.mark.parametrize("chunked", [False, True])
def test_worker_crash_becomes_one_error_row(chunked, tmp_path, dataset, monkeypatch):
    if chunked:  # the crash takes down a submission of 3 clips: each is then run on its own
        from avalign.batch import local

        monkeypatch.setattr(local, "chunks", lambda groups, workers: [groups[:3], groups[3:]])
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"w{i:02d}.wav").write_bytes((dataset / ("s1", "s2", "s3/deep")[i % 3] / f"w{i:02d}.wav").read_bytes())
    out = tmp_path / "out"
    env_before = os.environ.get("OMP_NUM_THREADS")
    summary = run_batch(src, out, spec=SPEC, executor=LocalExecutor(2, threads=1, fn=crash_on_w03), quiet=True)
    assert [r["id"] for r in summary.errors] == ["w03"] and "worker process died" in summary.errors[0]["error"], summary.errors
    assert len(list(out.glob("*.npy"))) == 5
    rows = manifest_rows(out)
    assert len(rows) == 6 and all(r["threads"] == "1" for r in rows if r["status"] == "ok")  # capped workers
    assert os.environ.get("OMP_NUM_THREADS") == env_before  # the driver's own setting is restored



def test_workers_that_cannot_start_stop_the_run(tmp_path, dataset):
    """A script without a main guard: every spawned worker dies while starting. The run stops with one
    clear error instead of blaming (and recording as errors) every clip."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"w{i:02d}.wav").write_bytes((dataset / "s1" / "w00.wav").read_bytes())
    script = tmp_path / "noguard.py"
    script.write_text("from avalign.batch import RecipeSpec, run_batch\n"
                      f"run_batch({str(src)!r}, {str(tmp_path / 'out')!r}, spec=RecipeSpec(feature='mel', fps='25'), "
                      "workers=2, quiet=True)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(avalign.__file__).parents[1]))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0 and "worker processes cannot start" in p.stderr.splitlines()[-1]
    rows = manifest_rows(tmp_path / "out") if (tmp_path / "out" / "manifest.jsonl").exists() else []
    assert not [r for r in rows if r["status"] == "error"]


class _BreakingPool:
    """A stand-in process pool: the first bucket's worker dies, and every later submit then fails
    as ProcessPoolExecutor's does once broken; the pools made afterwards run buckets normally."""

    made = 0

    def __init__(self):
        _BreakingPool.made += 1
        self.broken = _BreakingPool.made == 1

    def submit(self, fn, *args):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        f = Future()
        if self.broken and getattr(self, "submitted", False):
            raise BrokenProcessPool("a worker died")
        self.submitted = True
        if self.broken:
            f.set_exception(BrokenProcessPool("a worker died"))
        else:
            f.set_result(fn(*args))
        return f

    def shutdown(self, wait=True, cancel_futures=False):
        pass


def _ok_rows(group):
    return [{"id": t.clip.id, "status": "ok"} for t in group]


def _tasks(n: int) -> list[Task]:
    return [Task(Clip(f"c{i}", f"/nonexistent/c{i}.wav"), f"c{i}.npy", "h") for i in range(n)]


@pytest.mark.parametrize("n", [6, 200])
def test_pool_break_during_submit_loses_no_bucket(n, monkeypatch):
    """A submit refused by a pool that broke meanwhile keeps its chunk pending (none lost, none doubled)."""
    ex = LocalExecutor(2, threads=1, fn=_ok_rows)
    _BreakingPool.made = 0
    monkeypatch.setattr(ex, "_new_pool", lambda spec, out_dir, workers: _BreakingPool())
    rows = list(ex._pool([[t] for t in _tasks(n)], None, None))
    assert sorted(r["id"] for r in rows) == sorted(f"c{i}" for i in range(n))


def test_chunks_shrink_towards_the_end():
    """Short clips go to workers several buckets at a time; the last submissions hold one bucket each,
    every bucket exactly once, in order."""
    from avalign.batch.local import CHUNK_BUCKETS, chunks

    groups = [[t] for t in _tasks(200)]
    sent = chunks(groups, 2)
    assert [g for c in sent for g in c] == groups
    sizes = [len(c) for c in sent]
    assert sizes[0] == CHUNK_BUCKETS and sizes[-8:] == [1] * 8 and sizes == sorted(sizes, reverse=True)
    assert len(chunks(groups[:5], 2)) == 5  # few clips: one per submission


def test_chunks_bounded_by_source_bytes(tmp_path, monkeypatch):
    """A chunk's source files stay under CHUNK_BYTES (long clips spread over the workers)."""
    from avalign.batch import local

    tasks = []
    for i in range(64):
        p = tmp_path / f"c{i}.wav"
        p.write_bytes(bytes(1000))
        tasks.append(Task(Clip(f"c{i}", str(p)), f"c{i}.npy", "h"))
    monkeypatch.setattr(local, "CHUNK_BYTES", 2500)
    assert max(len(c) for c in local.chunks([[t] for t in tasks], 1)) == 2


# -- Ray -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ray_local():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_matches_local(ray_local, baseline, dataset, tmp_path):
    out = tmp_path / "out"
    summary = run_batch(dataset, out, spec=SPEC, executor="ray", workers=2, quiet=True)
    assert summary.exit_code == 1 and {r["id"] for r in summary.errors} == CORRUPT
    assert outputs(out) == outputs(baseline[0])
    rows = manifest_rows(out)
    assert [r["id"] for r in rows] == [r["id"] for r in manifest_rows(baseline[0])]
    strip = [{k: v for k, v in r.items() if k not in ("timings", "error")} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k not in ("timings", "error")}
                     for r in manifest_rows(baseline[0])]


def test_batch_reads_audio_as_the_preset_does(tmp_path, real, monkeypatch):
    """A preset with its own reader (DeepSpeech lineage: scipy WAV, first channel, resampy, int16 cast)
    gives the same array in a batch as through ``avalign.extract`` on a 22 kHz WAV."""
    from helpers.deepspeech_graph import write_graph

    monkeypatch.setenv("AVALIGN_CACHE", str(tmp_path / "cache"))
    graph = tmp_path / "output_graph.pb"
    write_graph(graph, n_hidden=16, n_cell=8, seed=5)
    src = tmp_path / "src"
    src.mkdir()
    (src / "voca.wav").write_bytes((real / "voca_test_sentence.wav").read_bytes())
    spec = RecipeSpec(preset="ad-nerf", model=str(graph))
    summary = run_batch(src, tmp_path / "out", spec=spec, quiet=True)
    assert summary.exit_code == 0
    ref = avalign.extract(src / "voca.wav", preset="ad-nerf", model=graph).values
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "voca.npy"), ref)


def test_a_clip_that_gives_zero_rows_is_an_error_row_as_in_extract(tmp_path):
    """--fps 0.1 on 2 s of audio: no frame; `avalign extract` refuses to write it, so batch does too."""
    src = tmp_path / "src"
    src.mkdir()
    synth.write_wav(src / "short.wav", synth.speech_like(2.0, seed=1))
    synth.write_wav(src / "long.wav", synth.speech_like(12.0, seed=2))
    out = tmp_path / "out"
    summary = run_batch(src, out, spec=RecipeSpec(feature="mel", fps="0.1"), quiet=True)
    rows = {r["id"]: r for r in manifest_rows(out)}
    assert rows["short"]["status"] == "error" and "gives 0 rows for 2.000 s of audio" in rows["short"]["error"]
    assert not list(out.glob("short*")) and rows["long"]["status"] == "ok" and summary.exit_code == 1
    assert np.load(out / "long.npy").shape[0] == 1
