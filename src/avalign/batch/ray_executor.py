"""Ray executor (extra ``avalign[ray]``): a Ray Data pipeline for clusters.

Stages: task rows -> decode/resample (plain CPU tasks, one CPU each) ->
extract + save (an actor pool of ``workers`` actors, each building the recipe
once; one GPU per actor when the cluster has GPUs and the device is not
``cpu``). Rows stream back to the driver, which alone writes the manifest, so
resuming and the output bytes are the same as with the local executor.

Connects to ``RAY_ADDRESS`` when set (``ray start --head`` on a cluster),
otherwise starts a local instance; a running ``ray.init`` is reused. Outputs
are written by the actors: on a cluster OUT must be a shared filesystem.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Iterator

from ..errors import require
from ..store import _json_default
from .recipe import RecipeSpec
from .work import Context, Task, decode, error_row, extract_and_save, ok_row


def _decode_row(row: dict, spec: RecipeSpec) -> dict:
    """Decode stage (a CPU task): task row -> row with the pickled (Audio, MediaInfo) or an error message.

    The recipe is built here only for its reader (models load lazily, so nothing heavy is loaded)."""
    import time

    task: Task = pickle.loads(row["task"])
    t0 = time.perf_counter()
    try:
        decoded = pickle.dumps(decode(task, spec.build(), spec.loudness), protocol=pickle.HIGHEST_PROTOCOL)
        error = ""
    except Exception as exc:  # becomes an error row in the next stage
        decoded, error = b"", error_row(task, exc)["error"]
    return {"task": row["task"], "decoded": decoded, "error": error, "decode_s": time.perf_counter() - t0}


class _Extract:
    """Extractor stage (actor): builds the recipe once, extracts, saves, returns the manifest row as JSON."""

    def __init__(self, spec: RecipeSpec, out_dir: str):
        self.ctx = Context(spec, out_dir)

    def __call__(self, row: dict) -> dict:
        import time

        task: Task = pickle.loads(row["task"])
        decode_s = round(float(row["decode_s"]), 6)
        t0 = time.perf_counter()
        if row["error"]:
            out = error_row(task, row["error"], {"decode_s": decode_s, "total_s": decode_s})
        else:
            try:
                audio, info = pickle.loads(row["decoded"])
                meta, timings = extract_and_save(task, audio, info, self.ctx)
                total = decode_s + time.perf_counter() - t0
                out = ok_row(task, meta, {"decode_s": decode_s, **timings, "total_s": round(total, 6)})
            except Exception as exc:
                out = error_row(task, exc, {"decode_s": decode_s})
        return {"row": json.dumps(out, default=_json_default)}


class RayExecutor:
    """Run tasks as a Ray Data pipeline.

    Parameters
    ----------
    workers : int
        Extractor actors (the decode stage scales on its own with free CPUs).
    num_gpus : float, optional
        GPUs per extractor actor; default 1 when the cluster has GPUs and the
        device is not ``cpu``, else 0.
    """

    def __init__(self, workers: int = 1, *, num_gpus: float | None = None):
        self.ray = require("ray", "ray")
        require("ray.data", "ray")
        self.workers = max(1, int(workers))
        self.num_gpus = num_gpus

    def _init(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(logging_level="WARNING", log_to_driver=False)  # honours RAY_ADDRESS

    def run(self, tasks: list[Task], spec: RecipeSpec, out_dir, recipe=None) -> Iterator[dict]:
        """Yield one manifest row per task, as clips finish."""
        self._init()
        ray = self.ray
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the batch has its own bar
        import logging

        logging.getLogger("ray.data").setLevel(logging.WARNING)
        if hasattr(ctx, "print_on_execution_start"):
            ctx.print_on_execution_start = False
        gpus = self.num_gpus
        if gpus is None:
            gpus = 1 if (spec.device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0) else 0
        items = [{"task": pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL)} for t in tasks]
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 8 * self.workers)))
        ds = ds.map(_decode_row, fn_kwargs={"spec": spec}, num_cpus=1)
        ds = ds.map(_Extract, fn_constructor_kwargs={"spec": spec, "out_dir": str(Path(out_dir).resolve())},
                    compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=0 if gpus else 1,
                    num_gpus=gpus)
        for row in ds.iter_rows():
            yield json.loads(row["row"])
