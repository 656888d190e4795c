"""``avalign batch --sync`` (issue 16): each clip's offset and confidence in its manifest row, clips outside
the thresholds skipped, and ``--apply-sync`` through the same path as ``avalign sync --apply``.

Clips are generated here: flashes with a click each, the click shifted by a known amount (as in
tests/test_sync.py), and one clip without flashes (no event: a low onset confidence).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import avalign
from avalign import synth
from avalign.batch import RecipeSpec, SyncSpec, run_batch
from avalign.cli import main

FLASHES = (20, 45, 71)
SYNC_COLUMNS = ("offset_frames", "offset_ms", "confidence", "lse_d", "lse_c")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("bsync") / "src"
    src.mkdir()
    # a: clicks 80 ms before their flashes (correction +80 ms = +2 frames); b: 200 ms after (-5 frames)
    synth.write_clip(src / "a.mp4", fps=25, num_frames=90, bright_frames=FLASHES, click_shift=-0.08)
    synth.write_clip(src / "b.mp4", fps=25, num_frames=90, bright_frames=FLASHES, click_shift=0.2)
    synth.write_clip(src / "c.mp4", fps=25, num_frames=90, bright_frames=(),
                     audio=synth.click_track(57600, [16000, 30000], length=32))
    return src


def rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def npy_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy"))


def test_onset_thresholds_skip_and_apply(clips, tmp_path, capsys):
    spec = RecipeSpec(feature="mel", sync=SyncSpec(method="onset", min_confidence=8, max_offset=3, apply=True))
    out = tmp_path / "out"
    s = run_batch(clips, out, spec=spec, quiet=True)
    assert (s.total, s.computed, s.filtered, s.ok, s.errors, s.exit_code) == (3, 3, 2, 1, [], 0)
    assert "1/3 ok" in s.line() and "2 skipped by the sync thresholds" in s.line()
    r = rows(out)
    assert [r[k]["status"] for k in "abc"] == ["ok", "skipped", "skipped"]
    for row in r.values():
        assert set(SYNC_COLUMNS) <= set(row) and row["lse_d"] is None and row["lse_c"] is None
        assert row["offset_frames"] == pytest.approx(row["offset_ms"] * 25 / 1000)
    assert abs(r["a"]["offset_ms"] - 80) <= 5 and r["a"]["confidence"] >= 8
    assert abs(r["b"]["offset_ms"] + 200) <= 5
    assert r["b"]["reason"] == f"sync offset {r['b']['offset_frames']:+.2f} frames outside --max-offset 3"
    assert r["c"]["confidence"] < 8
    assert r["c"]["reason"] == f"sync confidence {r['c']['confidence']:.3f} < --min-confidence 8"
    assert npy_files(out) == ["a.npy"] and r["b"]["output"] is None and r["c"]["output"] is None
    # the offset used is the one measured, recorded in the sidecar as avalign sync --apply records it
    meta = json.loads((out / "a.json").read_text())
    assert meta["offsets"]["offset_ms"] == meta["offsets"]["sync"]["offset_ms"] == r["a"]["offset_ms"]
    assert main(["sync", str(clips / "a.mp4"), "--apply", "-o", str(tmp_path / "ref.npy"), "--json"]) == 0
    capsys.readouterr()
    assert np.array_equal(np.load(out / "a.npy"), np.load(tmp_path / "ref.npy"))
    ref = json.loads((tmp_path / "ref.json").read_text())
    assert ref["offsets"] == meta["offsets"]
    # a rerun keeps every row (skipped clips are not measured again while their file is unchanged)
    again = run_batch(clips, out, spec=spec, quiet=True)
    assert (again.computed, again.skipped, again.filtered, again.exit_code) == (0, 3, 2, 0)


def test_onset_without_thresholds_measures_only(clips, tmp_path, capsys):
    """No threshold, no --apply-sync: every clip extracted as without --sync, the offsets in the rows only."""
    out = tmp_path / "out"
    code = main(["batch", str(clips), "-o", str(out), "--feature", "mel", "--sync", "onset", "-q"])
    assert code == 0 and "3/3 ok" in capsys.readouterr().out
    r = rows(out)
    assert [r[k]["status"] for k in "abc"] == ["ok"] * 3
    assert abs(r["a"]["offset_ms"] - 80) <= 5 and abs(r["b"]["offset_ms"] + 200) <= 5
    meta = json.loads((out / "b.json").read_text())
    assert meta["offsets"]["offset_ms"] == 0.0 and "sync" not in meta["offsets"]  # nothing applied, nothing claimed
    assert np.array_equal(np.load(out / "b.npy"), avalign.extract(clips / "b.mp4", feature="mel").values)


@pytest.mark.parametrize("args, message", [
    (["--min-confidence", "3"], "--min-confidence goes with --sync"),
    (["--sync", "onset", "--apply-sync", "--offset-ms", "10"], "give it or --offset-ms, not both"),
    (["--sync", "syncnet"], "--sync syncnet needs the network's weights"),
    (["--sync", "onset", "--max-offset", "-1"], "bad max-offset -1.0"),
    (["--sync", "onset", "--sync-crop", "1,2"], "crop"),
    (["--sync", "onset", "--sync-seconds", "0"], "bad duration 0.0: must be positive seconds"),
])
def test_bad_sync_usage_is_refused_up_front(clips, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["batch", str(clips), "-o", str(out), "-q", *args]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    from avalign.sync import syncnet as sn

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sncw") / "syncnet_v2.model"
    torch.save(sn.build().state_dict(), path)
    return path


def test_syncnet_columns_and_a_confidence_no_random_net_reaches(clips, tmp_path, capsys, random_weights):
    """Random weights: the paper metrics are in the row, and --min-confidence above any random confidence skips."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.mp4").write_bytes((clips / "a.mp4").read_bytes())
    out = tmp_path / "out"
    code = main(["batch", str(src), "-o", str(out), "-q", "--feature", "mel", "--sync", "syncnet", "--model",
                 str(random_weights), "--min-confidence", "1000", "--max-offset", "6", "--sync-seconds", "1",
                 "--sync-vshift", "3"])
    assert code == 0, capsys.readouterr().err
    row = rows(out)["a"]
    assert row["status"] == "skipped" and row["output"] is None and npy_files(out) == []
    assert all(isinstance(row[k], float) for k in SYNC_COLUMNS)
    assert row["confidence"] == row["lse_c"] and row["lse_d"] > 0
    assert row["offset_frames"] == int(row["offset_frames"]) and abs(row["offset_frames"]) <= 3
    assert row["offset_ms"] == pytest.approx(row["offset_frames"] * 40)
    assert row["reason"] == f"sync confidence {row['confidence']:.3f} < --min-confidence 1000"
    # the recipe records the weights file: it is part of what decides which clips are kept
    recipe = json.loads((out / ".avalign" / "recipe.json").read_text())
    assert recipe["identity"]["sync"]["model"] == str(random_weights) and recipe["identity"]["model"] is None


def test_weights_of_another_network_are_refused_before_any_clip(clips, tmp_path, capsys):
    other = tmp_path / "other.model"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    out = tmp_path / "out"
    assert main(["batch", str(clips), "-o", str(out), "-q", "--sync", "syncnet", "--sync-model", str(other)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "not syncnet_python's SyncNet weights" in err[0]
    assert not out.exists()
