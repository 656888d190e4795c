"""Local executor: the clips in this process (``workers=1``) or in a pool of spawned worker processes.

Each worker process builds the recipe (and loads its model) once, runs with a
capped number of threads (``OMP_NUM_THREADS`` and friends, which torch also reads)
so that N workers do not oversubscribe the cores, and exits when its parent
dies. Outputs do not depend on the number of workers: each clip is computed
on its own by the same code. On a GPU device clips go to workers in buckets
of similar length (:func:`buckets`), the hook for batched models.

A worker process that dies (a decoder crash on a corrupt file) breaks the
pool; the executor starts a new one and runs the clips that were in flight
one at a time, so the culprit becomes an error row and the rest go on.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator

from ..errors import InputError
from .recipe import RecipeSpec
from .work import Context, Task, error_row, process_bucket, process_groups

#: Environment variables that cap native thread pools in each worker.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")

_CTX: Context | None = None


def uses_gpu(spec: RecipeSpec) -> bool:
    """Whether the recipe will run on a CUDA device (imports torch only when a device was asked for)."""
    dev = spec.device or ""
    if dev.startswith("cuda"):
        return True
    if dev == "auto":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return False
        import torch

        return bool(torch.cuda.is_available())
    return False


def buckets(tasks: list[Task], size: int) -> list[list[Task]]:
    """Group ``tasks`` by length (source file size as a cheap proxy) in buckets of ``size`` clips.

    ``size == 1`` keeps the source order, one clip per bucket.
    """
    if size <= 1:
        return [[t] for t in tasks]
    ordered = sorted(tasks, key=_source_size)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


#: Most buckets sent to a worker in one submission, and most source bytes in one (a proxy for audio
#: length, so that a few long clips still spread over the workers): fewer round trips for short clips.
CHUNK_BUCKETS = 8
CHUNK_BYTES = 4 << 20


def chunks(groups: list[list[Task]], workers: int) -> list[list[list[Task]]]:
    """Consecutive buckets gathered into submissions (guided scheduling).

    A submission holds at most :data:`CHUNK_BUCKETS` buckets and :data:`CHUNK_BYTES` source bytes, and at
    most a quarter of a worker's share of the buckets still left, so submissions shrink to single buckets
    towards the end and the workers finish together.
    """
    out: list[list[list[Task]]] = []
    sizes = [sum(_source_size(t) for t in g) for g in groups]
    i = 0
    while i < len(groups):
        most = max(1, min(CHUNK_BUCKETS, (len(groups) - i) // (4 * max(workers, 1))))
        chunk, size = [groups[i]], sizes[i]
        i += 1
        while i < len(groups) and len(chunk) < most and size + sizes[i] <= CHUNK_BYTES:
            chunk.append(groups[i])
            size += sizes[i]
            i += 1
        out.append(chunk)
    return out


def _source_size(t: Task) -> int:
    """Bytes of the clip's source file (a cheap proxy for its length): from the plan's stat, else 0 if unreadable."""
    if t.source_stat is not None:
        return t.source_stat[0]
    try:
        return os.path.getsize(t.clip.source)
    except OSError:
        return 0


def _init_worker(spec: RecipeSpec, out_dir: str, threads: int, parent: int) -> None:
    global _CTX
    import sys

    for k in THREAD_ENV:  # torch reads OMP_NUM_THREADS when it is first imported
        os.environ[k] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _CTX = Context(spec, out_dir)

    def watch_parent():  # exit when the driver is gone (killed), instead of lingering as an orphan
        import time

        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch_parent, daemon=True).start()


def _run_bucket(tasks: list[Task]) -> list[dict]:
    return process_bucket(tasks, _CTX)


def _ready() -> bool:
    return True


def _check_starts(pool) -> None:
    """InputError when ``pool``'s worker dies before it can run anything (its start-up failed)."""
    try:
        pool.submit(_ready).result()
    except BrokenProcessPool:
        pool.shutdown(wait=True)
        raise InputError(
            "batch worker processes cannot start: each spawned worker re-imports the main module, so a script "
            "that runs a batch with workers > 1 must do so under `if __name__ == \"__main__\":` (or use "
            "workers=1)") from None


def _run_chunk(fn: Callable[[list[Task]], list[dict]], chunk: list[list[Task]]) -> list[dict]:
    if fn is _run_bucket:  # the real work: each output is written while the next clip computes
        return list(process_groups(chunk, _CTX))
    return [row for group in chunk for row in fn(group)]


class LocalExecutor:
    """Run tasks on this machine.

    Parameters
    ----------
    workers : int
        Worker processes; 1 runs in this process (no start-up cost).
    threads : int, optional
        Threads per worker; default ``max(1, cpu_count // workers)``.
    bucket_size : int, optional
        Clips per bucket; default 1 on CPU, 8 on a GPU device.
    fn : callable, optional
        The bucket function run in workers (a module-level function; for tests).
    """

    def __init__(self, workers: int = 1, *, threads: int | None = None, bucket_size: int | None = None,
                 fn: Callable[[list[Task]], list[dict]] | None = None):
        self.workers = max(1, int(workers))
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.workers)
        self.bucket_size = bucket_size
        self.fn = fn or _run_bucket

    def run(self, tasks: list[Task], spec: RecipeSpec, out_dir, recipe=None) -> Iterator[dict]:
        """Yield one manifest row per task, as clips finish (any order)."""
        size = self.bucket_size or (8 if uses_gpu(spec) else 1)
        groups = buckets(tasks, size)
        if self.workers == 1 and self.fn is _run_bucket:
            yield from process_groups(groups, Context(spec, out_dir, recipe))
            return
        yield from self._pool(groups, spec, out_dir)

    # -- process pool ------------------------------------------------------------

    def _new_pool(self, spec, out_dir, workers):
        import multiprocessing as mp

        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update({k: str(self.threads) for k in THREAD_ENV})  # inherited by spawned children
        try:
            return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker,
                                       initargs=(spec, os.fspath(out_dir), self.threads, os.getpid()))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _pool(self, groups: list[list[Task]], spec, out_dir) -> Iterator[dict]:
        pending = list(reversed(chunks(groups, self.workers)))
        limit = self.workers * 2
        while pending:
            pool = self._new_pool(spec, out_dir, self.workers)
            futures = {}
            try:
                while pending or futures:
                    while pending and len(futures) < limit:
                        # submit raises BrokenProcessPool once a worker has died: the chunk stays pending
                        future = pool.submit(_run_chunk, self.fn, pending[-1])
                        futures[future] = pending.pop()
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for f in done:
                        rows = f.result()  # raises BrokenProcessPool when a worker died
                        del futures[f]
                        yield from rows
            except BrokenProcessPool:
                suspects = [group for chunk in futures.values() for group in chunk]
            else:
                suspects = []
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            yield from self._isolate(suspects, spec, out_dir)

    def _isolate(self, suspects: list[list[Task]], spec, out_dir) -> Iterator[dict]:
        """After a crash: the buckets that were in flight, one at a time in a 1-worker pool.

        Raises InputError when a fresh worker cannot even start (then no clip is to blame).
        """
        pool = None
        try:
            for group in suspects:
                if pool is None:
                    pool = self._new_pool(spec, out_dir, 1)
                    _check_starts(pool)
                try:
                    rows = pool.submit(self.fn, group).result()
                except BrokenProcessPool:
                    pool.shutdown(wait=True)
                    pool = None
                    rows = [error_row(t, "worker process died on this clip (crash in a decoder or out of memory)")
                            for t in group]
                yield from rows
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

