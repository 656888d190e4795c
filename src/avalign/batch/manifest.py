"""The batch manifest: one JSON row per clip in ``OUT/manifest.jsonl``, safe against kills.

Rows are appended by one writer (the driver process), each flushed, so a
run killed at any instant leaves at most one torn last line;
:meth:`Manifest.open` cuts that line off before appending again. The file
is fsync'd at most once a second (:data:`FSYNC_EVERY`) and when it closes:
a power cut may lose the last second's rows, whose outputs (each fsync'd
before its rename) the next run finds and records as recovered. At the end
of a run :meth:`Manifest.compact` rewrites the file atomically with the last
row of each id, in source order, so a resumed run never leaves duplicates.
A lock file keeps two runs from writing the same folder at once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import InputError
from ..store import _json_default, write_json

#: Manifest file name inside the output folder.
MANIFEST_NAME = "manifest.jsonl"
#: The batch's own folder inside OUT: no clip id can start with a dot, so no clip output lands in it.
BATCH_DIR = ".avalign"
LOCK_NAME = f"{BATCH_DIR}/lock"
RECIPE_NAME = f"{BATCH_DIR}/recipe.json"
#: Where older versions kept the recipe (a clip with id ``recipe`` wrote its sidecar over it).
LEGACY_RECIPE_NAME = "recipe.json"
RECIPE_MARK = "batch recipe"
#: Row fields that planning a rerun needs.
PLAN_FIELDS = ("id", "status", "output", "recipe_hash", "source_stat")
#: Seconds between fsyncs of the manifest while rows are appended (each row is flushed at once).
FSYNC_EVERY = 1.0


class Manifest:
    """Append-only JSONL manifest of a batch output folder.

    Parameters
    ----------
    path : Path
        ``OUT/manifest.jsonl``.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fh = None
        self._lock = None
        self._synced = float("-inf")

    # -- reading ---------------------------------------------------------------

    def read(self, fields: tuple[str, ...] | None = PLAN_FIELDS) -> dict[str, dict]:
        """Last row of each id, with only ``fields`` (all with ``None``); torn or unparsable lines are ignored.

        The default keeps what planning needs, so millions of rows fit in memory.
        """
        rows: dict[str, dict] = {}
        for _, _, row in self._scan():
            rows[row["id"]] = row if fields is None else {k: row.get(k) for k in fields}
        return rows

    def _scan(self):
        """``(offset, length, row)`` of every complete row line."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            offset = 0
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # torn tail of a killed run
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                if isinstance(row, dict) and "id" in row:
                    yield offset, len(line), row
                offset += len(line)

    # -- writing ---------------------------------------------------------------

    def open(self) -> "Manifest":
        """Take the folder's lock, cut a torn last line, and open for appending."""
        lock_path = self.path.parent / LOCK_NAME
        lock_path.parent.mkdir(exist_ok=True)
        self._lock = open(lock_path, "a+")
        try:
            import fcntl

            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise InputError(f"{self.path.parent}: another batch run is writing to this folder") from None
        except ImportError:  # pragma: no cover - not POSIX
            pass
        _cut_torn_tail(self.path)
        self._fh = open(self.path, "ab")
        return self

    def append(self, row: dict) -> None:
        """Write one row (flushed; fsync'd when the last fsync is :data:`FSYNC_EVERY` seconds old)."""
        data = json.dumps(row, default=_json_default, separators=(",", ":")).encode() + b"\n"
        self._fh.write(data)
        self._fh.flush()
        now = time.monotonic()
        if now - self._synced >= FSYNC_EVERY:
            os.fsync(self._fh.fileno())
            self._synced = now

    def compact(self, order: list[str]) -> tuple[dict[str, str], list[dict]]:
        """Rewrite atomically with the last row of each id: ids in ``order`` first, then the others.

        Returns
        -------
        (statuses, errors)
            ``id -> status`` of every row, and the rows that are not ``ok`` (errors and sync-skipped
            clips, complete) in file order.
        """
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        where: dict[str, tuple[int, int]] = {}
        statuses: dict[str, str] = {}
        for offset, length, row in self._scan():
            where[row["id"]] = (offset, length)
            statuses[row["id"]] = row.get("status")
        rank = {cid: i for i, cid in enumerate(order)}
        ids = sorted(where, key=lambda c: (0, rank[c]) if c in rank else (1, c))
        errors = []
        tmp = self.path.with_name(f".{self.path.name}.compact.tmp")
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for cid in ids:
                offset, length = where[cid]
                src.seek(offset)
                line = src.read(length)
                dst.write(line)
                if statuses[cid] != "ok":
                    errors.append(json.loads(line))
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self.path)
        self._fh = open(self.path, "ab")
        return statuses, errors

    def close(self) -> None:
        """fsync and close the file, and release the lock."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def _cut_torn_tail(path: Path) -> None:
    """Truncate ``path`` after its last newline (the rest is a row cut by a kill)."""
    if not path.is_file():
        return
    with open(path, "r+b") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        pos = size
        block = 4096
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                end = start + idx + 1
                break
            pos = start
        else:
            end = 0
        if end != size:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())


def read_recipe(out_dir: Path) -> dict | None:
    """The recipe recorded in ``OUT``: ``{"kind", "recipe_id", "identity"}``, or None when there is none.

    Reads ``OUT/.avalign/recipe.json``, else an older run's ``OUT/recipe.json``
    (identity fields at the top level; its ``recipe_id`` is recomputed).
    """
    from .recipe import recipe_id_of

    out_dir = Path(out_dir)
    doc = _json_object(out_dir / RECIPE_NAME)
    if doc is not None and doc.get("avalign") == RECIPE_MARK and isinstance(doc.get("identity"), dict):
        return {"kind": doc.get("kind"), "recipe_id": recipe_id_of(doc["identity"]), "identity": doc["identity"]}
    doc = _json_object(out_dir / LEGACY_RECIPE_NAME)
    if _is_legacy_recipe(doc):
        identity = {k: v for k, v in doc.items() if k != "kind"}
        return {"kind": doc.get("kind"), "recipe_id": recipe_id_of(identity), "identity": identity}
    return None


def _json_object(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_legacy_recipe(doc: dict | None) -> bool:
    """An older run's ``OUT/recipe.json`` (not a clip's sidecar that happens to have that name)."""
    return (isinstance(doc, dict) and str(doc.get("kind", "")).startswith(("preset:", "feature:"))
            and {"options", "offset_ms", "fps"} <= set(doc) and "grid" not in doc)


def write_recipe(out_dir: Path, identity: dict, kind: str) -> None:
    """``OUT/.avalign/recipe.json``: the recipe the folder holds (its id decides whether a run may add to it).

    An older run's ``OUT/recipe.json`` is removed; a clip's sidecar of that name is left alone.
    """
    from .recipe import recipe_id_of

    out_dir = Path(out_dir)
    (out_dir / BATCH_DIR).mkdir(exist_ok=True)
    write_json(out_dir / RECIPE_NAME, {"avalign": RECIPE_MARK, "kind": kind, "recipe_id": recipe_id_of(identity),
                                       "identity": identity})
    legacy = out_dir / LEGACY_RECIPE_NAME
    if _is_legacy_recipe(_json_object(legacy)):
        legacy.unlink(missing_ok=True)
