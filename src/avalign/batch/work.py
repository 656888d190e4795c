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
from dataclasses import dataclass
from pathlib import Path

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


def decode(task: Task, recipe, loudness=None):
    """Probe and decode the clip's audio exactly as :func:`avalign.extract` does for ``recipe``.

    Returns
    -------
    (Audio, MediaInfo)
        Samples at the recipe's rate and scale, and the file's probe.
    """
    from ..pipeline import read_audio
    from ..media import probe

    info = probe(task.clip.source)
    return read_audio(task.clip.source, recipe, info=info, loudness=loudness), info


def extract_and_save(task: Task, audio, info, ctx: Context, features=None) -> tuple[dict, dict]:
    """Extract features from decoded audio and save them atomically under ``OUT/task.output``.

    Returns
    -------
    (meta, timings)
        The sidecar written and seconds spent extracting and writing.
    """
    from ..api import extract
    from ..store import save

    t0 = time.perf_counter()
    aligned = extract(audio, recipe=ctx.recipe, info=info, features=features, **ctx.spec.extract_kwargs(task.clip))
    t1 = time.perf_counter()
    meta = dict(aligned.meta)
    meta["batch"] = {"id": task.clip.id, "recipe_hash": task.recipe_hash}
    npy = ctx.out_dir / task.output
    npy.parent.mkdir(parents=True, exist_ok=True)
    save(npy, aligned.values, meta, inputs=(task.clip.source,))
    t2 = time.perf_counter()
    throttle = float(os.environ.get(THROTTLE_ENV) or 0)
    if throttle > 0:
        time.sleep(throttle)
    meta["shape"] = list(aligned.values.shape)
    meta["dtype"] = str(aligned.values.dtype)
    return meta, {"extract_s": round(t1 - t0, 6), "write_s": round(t2 - t1, 6)}


def ok_row(task: Task, meta: dict, timings: dict | None) -> dict:
    """The manifest row of a saved clip (from the sidecar ``meta``)."""
    return {
        "id": task.clip.id, "source": task.clip.source, "output": task.output, "status": "ok", "error": None,
        "shape": meta.get("shape"), "dtype": meta.get("dtype"), "grid": meta.get("grid"),
        "duration_s": (meta.get("audio") or {}).get("duration"), "timings": timings,
        "recipe_hash": task.recipe_hash, "source_stat": task.source_stat,
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


def process(task: Task, ctx: Context) -> dict:
    """Decode, extract and save one clip; a manifest row either way."""
    t0 = time.perf_counter()
    try:
        audio, info = decode(task, ctx.recipe, ctx.spec.loudness)
        t1 = time.perf_counter()
        meta, timings = extract_and_save(task, audio, info, ctx)
    except Exception as exc:  # a bad clip must not stop the batch
        return error_row(task, exc, {"total_s": round(time.perf_counter() - t0, 6)})
    timings = {"decode_s": round(t1 - t0, 6), **timings, "total_s": round(time.perf_counter() - t0, 6)}
    return ok_row(task, meta, timings)


def process_bucket(tasks: list[Task], ctx: Context) -> list[dict]:
    """Rows of a bucket of clips of similar length (one clip per bucket on CPU).

    When the recipe is a feature extractor that batches (``extract_many``:
    wav2vec2, HuBERT, WavLM), a bucket of several clips runs as padded
    batches with attention masks in one go (GPU workers get buckets of 8);
    otherwise each clip runs on its own. Any failure in the batched pass falls
    back to one clip at a time, so one bad clip cannot take its bucket down.
    """
    if len(tasks) < 2 or not hasattr(ctx.recipe, "extract_many"):
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
