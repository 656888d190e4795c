"""A batch run: plan (what is already done), execute, record, summarise.

Plan: a clip is done when its manifest row says ``ok`` with the same recipe
hash and output, its source file is unchanged (size and mtime) and the
output file exists; a clip whose output and sidecar
exist with the same hash but has no row (killed between the save and the
row) gets its row back from the sidecar. An error row is kept while its
source file is unchanged (same size and mtime) unless errors are retried.
Everything else is computed. The driver is the only writer of the manifest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import progress as bars
from ..errors import InputError
from ..store import sidecar_path
from .manifest import MANIFEST_NAME, Manifest, read_recipe, write_recipe
from .progress import Progress
from .recipe import RecipeSpec
from .sources import Clip, read_source
from .work import Task, ok_row, source_stat

EXECUTORS = ("local", "ray")


@dataclass
class Summary:
    """Outcome of a run. ``exit_code``: 0 when every clip is ok, 1 when some failed."""

    total: int = 0
    computed: int = 0
    skipped: int = 0
    recovered: int = 0
    filtered: int = 0
    errors: list = field(default_factory=list)
    elapsed_s: float = 0.0
    audio_s: float = 0.0
    manifest: Path | None = None

    @property
    def ok(self) -> int:
        """Clips with features (neither failed nor left out by the sync thresholds)."""
        return self.total - len(self.errors) - self.filtered

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def line(self) -> str:
        """One line: counts, time, throughput, manifest."""
        rate = self.computed / self.elapsed_s if self.elapsed_s > 0 else 0.0
        xrt = self.audio_s / self.elapsed_s if self.elapsed_s > 0 else 0.0
        filtered = f", {self.filtered} skipped by the sync thresholds" if self.filtered else ""
        return (f"{self.ok}/{self.total} ok ({self.computed} computed, {self.skipped} already done,"
                f" {self.recovered} recovered){filtered}, {len(self.errors)} errors in {self.elapsed_s:.1f} s"
                f" ({rate:.2f} clips/s, {xrt:.3g} h of audio per hour = {xrt:.3g}x real time);"
                f" manifest {self.manifest}")


def output_path(clip: Clip, spec: RecipeSpec, *, system_names: bool, file_name: str | None = None) -> str:
    """Output of ``clip`` relative to OUT: ``<id>.npy`` or ``<id>/<system file name>``."""
    if system_names:
        return f"{clip.id}/{file_name or spec.file_name()}"
    return f"{clip.id}.npy"


def plan(clips: list[Clip], spec: RecipeSpec, out_dir: Path, rows: dict[str, dict], *,
         system_names: bool = False, retry_errors: bool = False) -> tuple[list[Task], list[Task], list[dict]]:
    """Split clips into (to compute, done or known bad, recovered rows)."""
    file_name = spec.file_name() if system_names else None
    todo, done, recovered = [], [], []
    for clip in clips:
        task = Task(clip, output_path(clip, spec, system_names=system_names, file_name=file_name),
                    spec.clip_hash(clip))
        npy = out_dir / task.output
        row = rows.get(clip.id)
        stat = source_stat(clip.source)
        same_source = row is not None and row.get("source_stat") in (None, list(stat or ()))
        if (row and row.get("status") == "ok" and row.get("recipe_hash") == task.recipe_hash
                and row.get("output") == task.output and same_source and npy.is_file()):
            done.append(task)
            continue
        # killed between the save and its row: no row for this recipe, but the output and its sidecar are there
        meta = _sidecar(npy) if row is None or row.get("recipe_hash") != task.recipe_hash else None
        if meta is not None and (meta.get("batch") or {}).get("recipe_hash") == task.recipe_hash:
            recovered.append(ok_row(Task(clip, task.output, task.recipe_hash, stat), meta, None) | {"recovered": True})
            done.append(task)
            continue
        if (not retry_errors and row and row.get("status") in ("error", "skipped") and stat is not None
                and row.get("recipe_hash") == task.recipe_hash and row.get("source_stat") == list(stat)):
            done.append(task)  # the same bad (or filtered-out) file: its row stands
            continue
        todo.append(Task(task.clip, task.output, task.recipe_hash, stat))
    return todo, done, recovered


def _sidecar(npy: Path) -> dict | None:
    if not npy.is_file():
        return None
    try:
        return json.loads(sidecar_path(npy).read_text())
    except (OSError, ValueError):
        return None


def check_same_recipe(out_dir: Path, spec: RecipeSpec, rows: dict) -> None:
    """InputError when ``out_dir`` already holds clips of another recipe (a mixed folder)."""
    held = read_recipe(out_dir)
    if not rows or held is None or held["recipe_id"] == spec.recipe_id():
        return
    raise InputError(f"{out_dir}: holds {len(rows)} clips of recipe {held['recipe_id']} ({held['kind']}), not of this "
                     f"run's recipe {spec.recipe_id()} ({spec.kind}); use another output folder, or --overwrite "
                     "to replace them")


def make_executor(executor, workers: int):
    """``"local"``, ``"ray"`` or an object with ``run(tasks, spec, out_dir, recipe)``."""
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        from .local import LocalExecutor

        return LocalExecutor(workers)
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(workers)
    raise InputError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")


def run_batch(src, out, *, spec: RecipeSpec, executor="local", workers: int = 1, system_names: bool = False,
              retry_errors: bool = False, overwrite: bool = False, quiet: bool = False) -> Summary:
    """Compute every clip of ``src`` into ``out``; resumable.

    Parameters
    ----------
    src : str or Path
        Folder of media files (recursive) or manifest (.jsonl or .csv with ``path``
        and optional ``id``, ``fps``, ``num_frames``).
    out : str or Path
        Output folder (created): outputs in a layout mirroring ``src``, plus
        ``manifest.jsonl`` and the batch's own ``.avalign/`` (``recipe.json``, lock).
    spec : RecipeSpec
        The recipe applied to every clip; ``spec.sync`` (a :class:`SyncSpec`)
        measures each clip's offset first, adds ``offset_frames``, ``offset_ms``,
        ``confidence``, ``lse_d``, ``lse_c`` to its row, skips clips outside the
        thresholds (status ``skipped``, ``reason``) and can apply the offset.
    executor : "local", "ray" or executor object
    workers : int
        Worker processes (local) or extractor actors (ray).
    system_names : bool
        ``OUT/<id>/<the system's file name>`` (``aud_hu.npy``) instead of ``OUT/<id>.npy``.
    retry_errors : bool
        Recompute clips with an error row even when their source file is unchanged.
    overwrite : bool
        Allow a recipe other than the one ``out`` already holds (its clips are
        recomputed); without it such a run is refused before anything is written.
    quiet : bool
        No progress bar.

    Returns
    -------
    Summary
    """
    import time

    start = time.perf_counter()
    spec.validate()  # a bad --fps or sync model refuses the run instead of writing an error row per clip
    clips = read_source(src)
    recipe = spec.build()  # refuses unknown names and options before any work (models load lazily)
    if spec.sync is not None and executor == "ray":
        raise InputError("--sync runs with the local executor (--executor local)")
    ex = make_executor(executor, workers)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: output path exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"{out_dir}: output folder is not writable")
    summary = Summary(total=len(clips), manifest=out_dir / MANIFEST_NAME)
    manifest = Manifest(out_dir / MANIFEST_NAME)
    with manifest:
        rows = manifest.read()
        if not overwrite:
            check_same_recipe(out_dir, spec, rows)
        todo, done, recovered = plan(clips, spec, out_dir, rows, system_names=system_names,
                                     retry_errors=retry_errors)
        write_recipe(out_dir, spec.identity(), spec.kind)
        for row in recovered:
            manifest.append(row)
        summary.skipped = len(done) - len(recovered)
        summary.recovered = len(recovered)
        progress = Progress(len(todo), quiet=quiet)
        try:
            with bars.suppressed():  # the batch bar counts clips; no per-clip bars under it
                for row in ex.run(todo, spec, out_dir, recipe=recipe) if todo else ():
                    manifest.append(row)
                    progress.update(row)
        finally:
            progress.close()
        summary.computed = progress.ok + progress.errors + progress.skipped
        summary.audio_s = progress.audio_s
        statuses, errors = manifest.compact([c.id for c in clips])
    wanted = {c.id for c in clips}
    summary.errors = [r for r in errors if r["id"] in wanted and r.get("status") != "skipped"]
    summary.filtered = sum(1 for c in clips if statuses.get(c.id) == "skipped")
    summary.errors += [{"id": c.id, "source": c.source, "status": "missing", "error": "no row"}
                       for c in clips if c.id not in statuses]
    summary.elapsed_s = time.perf_counter() - start
    return summary


__all__ = ["EXECUTORS", "Summary", "check_same_recipe", "output_path", "plan", "run_batch"]
