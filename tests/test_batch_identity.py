"""Batch identity (issue 12, class 5): one clip, one id, one output; the batch's own files out of reach.

Ids are normalised (``d/./x`` is ``d/x``) and duplicates refused before any
work; a clip named ``recipe`` or ``manifest`` cannot overwrite the batch's
files; a symlink loop does not multiply clips; a folder holds one recipe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from avalign import synth
from avalign.batch import RecipeSpec, read_source, run_batch
from avalign.cli import main
from avalign.errors import InputError

SPEC = RecipeSpec(feature="mel", fps="25")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("ident")
    paths = []
    for i in range(2):
        p = d / f"w{i}.wav"
        synth.write_wav(p, synth.speech_like(0.5 + 0.25 * i, seed=i))
        paths.append(p)
    return paths


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def one_error_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


# -- ids -----------------------------------------------------------------------------------------


def test_equivalent_ids_are_one_id_and_refused_up_front(wavs, tmp_path, capsys):
    listing = tmp_path / "list.jsonl"
    listing.write_text("".join(json.dumps({"path": str(wavs[i % 2]), "id": cid}) + "\n"
                               for i, cid in enumerate(["d/x", "d/./x", "d//x"])))
    out = tmp_path / "out"
    assert main(["batch", str(listing), "-o", str(out), "-q"]) == 2
    line = one_error_line(capsys)
    assert f"two sources have the id 'd/x' once normalised ({wavs[0]} and {wavs[1]})" in line
    assert not out.exists()


def test_ids_are_stored_normalised(wavs, tmp_path):
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"path": str(wavs[0]), "id": "d/./x/"}) + "\n"
                       + json.dumps({"path": str(wavs[1]), "id": "e//y"}) + "\n")
    out = tmp_path / "out"
    run_batch(listing, out, spec=SPEC, quiet=True)
    assert [(r["id"], r["output"], r["status"]) for r in rows(out)] == [("d/x", "d/x.npy", "ok"),
                                                                         ("e/y", "e/y.npy", "ok")]
    assert files(out) == [".avalign/lock", ".avalign/recipe.json", "d/x.json", "d/x.npy", "e/y.json", "e/y.npy",
                          "manifest.jsonl"]


@pytest.mark.parametrize("cid", ["../x", "d/../../x", "/etc/x", ".avalign/recipe", "d/.hidden", "a\\b", ".",
                                 "manifest.jsonl"])
def test_ids_that_escape_or_reach_the_batch_files_are_refused(wavs, tmp_path, cid):
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"path": str(wavs[0]), "id": cid}) + "\n")
    with pytest.raises(InputError, match=r"list.jsonl:1: (bad id|id .* is reserved)"):
        read_source(listing)


# -- the batch's own files -----------------------------------------------------------------------


def test_clips_named_recipe_and_manifest_keep_their_files(wavs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "recipe.wav").write_bytes(wavs[0].read_bytes())
    (src / "manifest.wav").write_bytes(wavs[1].read_bytes())
    out = tmp_path / "out"
    s = run_batch(src, out, spec=SPEC, quiet=True)
    assert (s.total, s.computed, s.exit_code) == (2, 2, 0)
    assert files(out) == [".avalign/lock", ".avalign/recipe.json", "manifest.json", "manifest.jsonl",
                          "manifest.npy", "recipe.json", "recipe.npy"]
    assert "grid" in json.loads((out / "recipe.json").read_text())  # the clip's sidecar, not the batch's recipe
    batch_recipe = json.loads((out / ".avalign" / "recipe.json").read_text())
    assert batch_recipe["recipe_id"] == SPEC.recipe_id() and batch_recipe["kind"] == "feature:mel"
    again = run_batch(src, out, spec=SPEC, quiet=True)
    assert (again.computed, again.skipped, again.exit_code) == (0, 2, 0)
    assert [r["id"] for r in rows(out)] == ["manifest", "recipe"]


def test_a_folder_from_an_older_version_is_read(wavs, tmp_path):
    """Older runs kept recipe.json at the top of OUT: it still counts for the recipe check, then moves."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes(wavs[0].read_bytes())
    out = tmp_path / "out"
    run_batch(src, out, spec=SPEC, quiet=True)
    doc = json.loads((out / ".avalign" / "recipe.json").read_text())
    (out / ".avalign" / "recipe.json").unlink()
    (out / "recipe.json").write_text(json.dumps({"kind": doc["kind"], **doc["identity"]}))  # the old layout
    with pytest.raises(InputError, match="holds 1 clips of recipe"):
        run_batch(src, out, spec=RecipeSpec(feature="mfcc", fps="25"), quiet=True)
    s = run_batch(src, out, spec=SPEC, quiet=True)
    assert (s.computed, s.skipped) == (0, 1)
    assert not (out / "recipe.json").exists() and (out / ".avalign" / "recipe.json").is_file()


# -- symlinks ------------------------------------------------------------------------------------


def test_symlink_loop_and_links_visit_each_real_file_once(wavs, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.wav").write_bytes(wavs[0].read_bytes())
    (src / "sub" / "b.wav").write_bytes(wavs[1].read_bytes())
    os.symlink("..", src / "sub" / "loop")  # back to the parent: an endless tree when followed blindly
    os.symlink("sub", src / "alias")  # a second way into sub
    os.symlink("a.wav", src / "link.wav")  # a second name for a.wav
    os.link(src / "sub" / "b.wav", src / "sub" / "hard.wav")  # a hard link to b.wav
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "c.wav").write_bytes(wavs[1].read_bytes())
    os.symlink(outside, src / "ext")  # a linked folder outside src is followed once
    assert [(c.id, Path(c.source).relative_to(src).as_posix()) for c in read_source(src)] == [
        ("a", "a.wav"), ("ext/c", "ext/c.wav"), ("sub/b", "sub/b.wav")]
    out = tmp_path / "out"
    s = run_batch(src, out, spec=SPEC, quiet=True)
    assert (s.total, s.computed, s.exit_code) == (3, 3, 0)
    assert [r["id"] for r in rows(out)] == ["a", "ext/c", "sub/b"]
    assert [f for f in files(out) if f.endswith(".npy")] == ["a.npy", "ext/c.npy", "sub/b.npy"]


# -- one recipe per folder -----------------------------------------------------------------------


def test_mixed_recipe_folder_is_refused_in_one_line_unless_overwrite(wavs, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes(wavs[0].read_bytes())
    out = tmp_path / "out"
    assert main(["batch", str(src), "-o", str(out), "--feature", "mel", "--fps", "25", "-q"]) == 0
    capsys.readouterr()
    first = (out / "a.npy").read_bytes()
    mfcc = RecipeSpec(feature="mfcc", fps="25")
    assert main(["batch", str(src), "-o", str(out), "--feature", "mfcc", "--fps", "25", "-q"]) == 2
    line = one_error_line(capsys)
    assert line == (f"avalign: error: {out}: holds 1 clips of recipe {SPEC.recipe_id()} (feature:mel), not of this "
                    f"run's recipe {mfcc.recipe_id()} (feature:mfcc); use another output folder, or --overwrite to "
                    "replace them")
    assert (out / "a.npy").read_bytes() == first
    assert main(["batch", str(src), "-o", str(out), "--feature", "mfcc", "--fps", "25", "-q", "--overwrite"]) == 0
    assert (out / "a.npy").read_bytes() != first
    assert json.loads((out / ".avalign" / "recipe.json").read_text())["recipe_id"] == mfcc.recipe_id()
    capsys.readouterr()
    assert main(["batch", str(src), "-o", str(out), "--feature", "mfcc", "--fps", "25", "-q"]) == 0  # now its recipe
    assert "1/1 ok (0 computed, 1 already done" in capsys.readouterr().out
