"""The work on one clip, shared by every executor: decode, extract, save, and the manifest row.

Decoding (:func:`decode`) and extraction (:func:`extract_and_save`) are
separate steps so that Ray can run them in separate stages; the local
executor runs both in one worker. Both produce the same bytes as
``avalign.extract(path, ...)`` followed by ``avalign.store.save``: the
decoded audio carries the file's probe (``extract(audio, info=...)``).

Any exception on a clip becomes an error row; the batch goes on.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import AvalignError
from .recipe import RecipeSpec
from .sources import Clip

#: Seconds to sleep after each clip (debugging and interruption tests only; 0 = off).
THROTTLE_ENV = "AVALIGN_BATCH_THROTTLE_S"


@dataclass(frozen=True)
class Task:
    """A clip to compute, where its output goes (relative to OUT) and the hash it will carry."""

    clip: Clip
    output: str
    recipe_hash: str
    source_stat: tuple[int, int] | None = None


def source_stat(path) -> tuple[int, int] | None:
    """``(size in bytes, mtime in ns)`` of a source file, None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class Context:
    """Per-process state: the spec, the output folder, and the recipe built once on first use."""

    def __init__(self, spec: RecipeSpec, out_dir, recipe=None):
        self.spec = spec
        self.out_dir = Path(out_dir)
        self._recipe = recipe

    @property
    def recipe(self):
        if self._recipe is None:
            self._recipe = self.spec.build()
        return self._recipe


def decode(task: Task, recipe, loudness=None, info=None):
    """Probe (unless ``info`` is the probe already) and decode the clip's audio as :func:`avalign.extract` does.

    Returns
    -------
    (Audio, MediaInfo)
        Samples at the recipe's rate and scale, and the file's probe.
    """
    from ..pipeline import read_audio
    from ..media import probe

    info = info if info is not None else probe(task.clip.source)
    return read_audio(task.clip.source, recipe, info=info, loudness=loudness), info


def measure_sync(task: Task, ctx: Context, info=None):
    """The clip's measured audio-video offset (:func:`avalign.sync`) when the recipe asks for it, else None.

    ``info``: the clip's probe, when the caller has it.
    """
    sync_spec = ctx.spec.sync
    if sync_spec is None:
        return None
    from ..sync import sync

    device = _sync_device(ctx.spec.device)
    return sync(task.clip.source, method=sync_spec.method, crop=sync_spec.crop, vshift=sync_spec.vshift,
                seconds=sync_spec.seconds, device=device, info=info, net=sync_spec.net(device))


def _sync_device(device: str | None) -> str:
    return "cuda" if (device or "").startswith("cuda") else "cpu"


def sync_columns(result) -> dict:
    """The manifest columns of a measured offset (``lse_d``/``lse_c``: SyncNet only, else None)."""
    return {"offset_frames": result.offset_frames, "offset_ms": result.offset_ms, "confidence": result.confidence,
            "lse_d": result.lse_d, "lse_c": result.lse_c}


def extract_and_save(task: Task, audio, info, ctx: Context, features=None) -> tuple[dict, dict]:
    """Extract features from decoded audio and save them atomically under ``OUT/task.output``.

    Returns
    -------
    (meta, timings)
        The sidecar written and seconds spent extracting and writing.
    """
    values, meta, extract_s = extract_output(task, audio, info, ctx, features=features)
    write_s, _ = write_output(task, values, meta, ctx)
    _throttle()
    return meta, {"extract_s": extract_s, "write_s": write_s}


def extract_output(task: Task, audio, info, ctx: Context, features=None, synced=None):
    """The clip's array and sidecar, not yet written: ``(values, meta, seconds spent)``.

    ``synced``: a :class:`~avalign.sync.SyncResult` to apply (``--apply-sync``): the features are
    extracted with its offset, which the sidecar records (:func:`avalign.sync.extract_synced`, the
    path of ``avalign sync --apply``).
    """
    from ..api import extract

    t0 = time.perf_counter()
    kwargs = ctx.spec.extract_kwargs(task.clip)
    if synced is not None:
        from ..sync import extract_synced

        aligned = extract_synced(audio, synced, recipe=ctx.recipe, info=info, features=features, **kwargs)
    else:
        aligned = extract(audio, recipe=ctx.recipe, info=info, features=features, **kwargs)
    meta = dict(aligned.meta)
    meta["batch"] = {"id": task.clip.id, "recipe_hash": task.recipe_hash}
    return aligned.values, meta, round(time.perf_counter() - t0, 6)


def write_output(task: Task, values, meta: dict, ctx: Context) -> tuple[float, float]:
    """Save ``values`` and ``meta`` atomically under ``OUT/task.output``: ``(seconds spent, perf_counter at the end)``.

    Adds ``shape`` and ``dtype`` to ``meta`` (for the manifest row) after the sidecar is written.
    """
    from ..store import refuse_empty, save

    t0 = time.perf_counter()
    refuse_empty(values, meta)  # as `avalign extract`: zero rows is that clip's error row, not an empty .npy
    npy = ctx.out_dir / task.output
    npy.parent.mkdir(parents=True, exist_ok=True)
    save(npy, values, meta, inputs=(task.clip.source,))
    end = time.perf_counter()
    meta["shape"] = list(values.shape)
    meta["dtype"] = str(values.dtype)
    return round(end - t0, 6), end


def _throttle() -> None:
    throttle = float(os.environ.get(THROTTLE_ENV) or 0)
    if throttle > 0:
        time.sleep(throttle)


def _written_now(fn, *args) -> Future:
    """``fn(*args)`` run here, as a finished Future (the synchronous write, in :class:`Deferred`'s form)."""
    done: Future = Future()
    try:
        done.set_result(fn(*args))
    except Exception as exc:
        done.set_exception(exc)
    return done


class Deferred:
    """A clip whose output is being saved (on a writer thread): :meth:`row` waits for it, then gives the row."""

    def __init__(self, future: Future, task: Task, meta: dict, timings: dict, t0: float, synced=None):
        self.future, self.task, self.meta, self.timings, self.t0, self.synced = future, task, meta, timings, t0, synced

    def row(self) -> dict:
        try:
            write_s, end = self.future.result()
        except Exception as exc:  # the write failed (full disk, ...): the clip's error row, nothing left behind
            return _failed_row(self.task, exc, self.t0, self.synced)
        # total_s ends with this clip's write, not when its row is collected (after the next clip computed)
        timings = {**self.timings, "write_s": write_s, "total_s": round(end - self.t0, 6)}
        return ok_row(self.task, self.meta, timings, synced=self.synced)


def resolve(row) -> dict:
    """A manifest row, waiting for its output to be written when it is :class:`Deferred`."""
    return row.row() if isinstance(row, Deferred) else row


def _failed_row(task: Task, exc: BaseException, t0: float, measured=None) -> dict:
    """The error row of a clip that failed after ``t0`` (with the sync columns of ``measured``, if any)."""
    row = error_row(task, exc, {"total_s": round(time.perf_counter() - t0, 6)})
    return row if measured is None else {**row, **sync_columns(measured)}


def ok_row(task: Task, meta: dict, timings: dict | None, synced=None) -> dict:
    """The manifest row of a saved clip (from the sidecar ``meta``; with the sync columns of ``synced``)."""
    row = {
        "id": task.clip.id, "source": task.clip.source, "output": task.output, "status": "ok", "error": None,
        "shape": meta.get("shape"), "dtype": meta.get("dtype"), "grid": meta.get("grid"),
        "duration_s": (meta.get("audio") or {}).get("duration"), "timings": timings,
        "recipe_hash": task.recipe_hash, "source_stat": task.source_stat,
    }
    if synced is not None:
        row.update(sync_columns(synced))
    else:
        applied = (meta.get("offsets") or {}).get("sync")  # a row recovered from a sidecar
        if isinstance(applied, dict):
            row.update({k: applied.get(k) for k in ("offset_frames", "offset_ms", "confidence", "lse_d", "lse_c")})
    return row


def skipped_row(task: Task, result, reason: str, timings: dict | None = None) -> dict:
    """The manifest row of a clip left out by the sync thresholds (no output written)."""
    return {
        "id": task.clip.id, "source": task.clip.source, "output": None, "status": "skipped", "error": None,
        "reason": reason, "shape": None, "dtype": None, "grid": None, "duration_s": None, "timings": timings,
        "recipe_hash": task.recipe_hash, "source_stat": task.source_stat, **sync_columns(result),
    }


def error_row(task: Task, exc: BaseException | str, timings: dict | None = None) -> dict:
    """The manifest row of a clip that failed."""
    if isinstance(exc, BaseException):
        msg = str(exc) if isinstance(exc, AvalignError) else f"{type(exc).__name__}: {exc}"
    else:
        msg = str(exc)
    return {
        "id": task.clip.id, "source": task.clip.source, "output": None, "status": "error", "error": msg,
        "shape": None, "dtype": None, "grid": None, "duration_s": None, "timings": timings,
        "recipe_hash": task.recipe_hash, "source_stat": task.source_stat,
    }


def process(task: Task, ctx: Context, writer=None):
    """Decode, extract and save one clip; a manifest row either way.

    With ``writer`` (an executor with one thread) the output is saved there and
    a :class:`Deferred` row is returned at once, so that the next clip computes
    while this one is written (see :func:`process_groups`).
    """
    t0 = time.perf_counter()
    measured = None
    try:
        probed = None
        if ctx.spec.sync is not None:  # sync and decoding share one probe of the file
            from ..media import probe

            probed = probe(task.clip.source)
        measured = measure_sync(task, ctx, info=probed)
        ts = time.perf_counter()
        sync_s = {"sync_s": round(ts - t0, 6)} if measured is not None else {}
        reason = ctx.spec.sync.rejects(measured) if measured is not None else None
        if reason is not None:
            return skipped_row(task, measured, reason, {**sync_s, "total_s": round(ts - t0, 6)})
        audio, info = decode(task, ctx.recipe, ctx.spec.loudness, info=probed)
        t1 = time.perf_counter()
        synced = measured if measured is not None and ctx.spec.sync.apply else None
        values, meta, extract_s = extract_output(task, audio, info, ctx, synced=synced)
    except Exception as exc:  # a bad clip must not stop the batch
        return _failed_row(task, exc, t0, measured)
    submit = writer.submit if writer is not None else _written_now
    deferred = Deferred(submit(write_output, task, values, meta, ctx), task, meta,
                        {**sync_s, "decode_s": round(t1 - ts, 6), "extract_s": extract_s}, t0, synced=measured)
    _throttle()
    return deferred if writer is not None else deferred.row()


def _batched(tasks: list[Task], ctx: Context) -> bool:
    """Whether a bucket runs as one padded batch (``extract_many``) rather than clip by clip."""
    return len(tasks) >= 2 and hasattr(ctx.recipe, "extract_many") and ctx.spec.sync is None


def process_bucket(tasks: list[Task], ctx: Context) -> list[dict]:
    """Rows of a bucket of clips of similar length (one clip per bucket on CPU).

    When the recipe is a feature extractor that batches (``extract_many``:
    wav2vec2, HuBERT, WavLM), a bucket of several clips runs as padded
    batches with attention masks in one go (GPU workers get buckets of 8);
    otherwise each clip runs on its own. Any failure in the batched pass falls
    back to one clip at a time, so one bad clip cannot take its bucket down.
    """
    if not _batched(tasks, ctx):
        return [process(t, ctx) for t in tasks]
    from ..pipeline import on_video_clock

    t0 = time.perf_counter()
    rows: dict[int, dict] = {}
    decoded = []
    for i, task in enumerate(tasks):
        try:
            audio, info = decode(task, ctx.recipe, ctx.spec.loudness)
            clocked = on_video_clock(audio, ctx.spec.extract_kwargs(task.clip)["offset_ms"])
            decoded.append((i, task, audio, info, clocked))
        except Exception as exc:  # a bad clip must not stop the batch
            rows[i] = error_row(task, exc)
    try:
        feats = ctx.recipe.extract_many([d[4] for d in decoded]) if decoded else []
    except Exception:
        return [rows[i] if i in rows else process(t, ctx) for i, t in enumerate(tasks)]
    t1 = time.perf_counter()
    share = round((t1 - t0) / max(len(decoded), 1), 6)
    for (i, task, audio, info, _), f in zip(decoded, feats):
        try:
            meta, timings = extract_and_save(task, audio, info, ctx, features=f)
            rows[i] = ok_row(task, meta, {"batched_s": share, **timings})
        except Exception as exc:
            rows[i] = error_row(task, exc)
    return [rows[i] for i in range(len(tasks))]


def process_groups(groups, ctx: Context) -> Iterator[dict]:
    """Rows of every bucket in ``groups``, in order, each clip's output written while the next one computes.

    One writer thread: opening, writing, fsync'ing and renaming an output is
    mostly waiting on the file system (about 4 ms per clip on a journaling disk,
    measured: a third of a 10-s clip's time), which now overlaps the next
    clip's decoding and extraction. One output at most waits to be written (so
    at most two are held), and a row is given only once its output is in place.
    Batched buckets (``extract_many``) write as before, clip after clip.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="avalign-write") as writer:
        waiting = None
        for group in groups:
            if _batched(group, ctx):
                if waiting is not None:
                    yield resolve(waiting)
                    waiting = None
                yield from process_bucket(group, ctx)
                continue
            for task in group:
                row = process(task, ctx, writer)
                if waiting is not None:
                    yield resolve(waiting)
                waiting = row
        if waiting is not None:
            yield resolve(waiting)
