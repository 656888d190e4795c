"""Feature files: ``OUT.npy`` plus a JSON sidecar ``OUT.json``, written atomically.

Both files are written to temporary names in the target folder and renamed
into place, so an interrupted run never leaves a partial file under the final
name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError


def sidecar_path(npy_path) -> Path:
    """``out.npy`` -> ``out.json``."""
    p = Path(npy_path)
    return p.with_suffix(".json") if p.suffix == ".npy" else p.with_name(p.name + ".json")


def check_writable(path) -> Path:
    """Refuse (InputError) an output path whose folder is missing or not writable, before any work."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: output path is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{p}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{p}: output folder {parent} is not writable")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 -> the usual mode for new files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path, data: dict) -> None:
    """Atomically write ``data`` as pretty JSON."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default).encode() + b"\n"
    _atomic_write(Path(path), lambda fh: fh.write(text))


def save(path, values: np.ndarray, meta: dict) -> tuple[Path, Path]:
    """Write ``values`` to ``path`` (.npy) and ``meta`` to its sidecar; returns both paths.

    The sidecar is written first, the array last, so an existing ``.npy``
    always has its sidecar.
    """
    npy = check_writable(path)
    side = sidecar_path(npy)
    meta = dict(meta)
    meta["shape"] = list(values.shape)
    meta["dtype"] = str(values.dtype)
    write_json(side, meta)
    _atomic_write(npy, lambda fh: np.save(fh, values, allow_pickle=False))
    return npy, side


def load(path) -> tuple[np.ndarray, dict | None]:
    """Read a feature file and its sidecar (None when there is none). Never unpickles."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such feature file")
    try:
        values = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npy file ({exc})") from None
    side = sidecar_path(p)
    meta = None
    if side.is_file():
        try:
            meta = json.loads(side.read_text())
        except (ValueError, OSError) as exc:
            raise InputError(f"{side}: unreadable sidecar ({exc})") from None
    return values, meta


def _json_default(o):
    from fractions import Fraction

    if isinstance(o, Fraction):
        return str(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray,)):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-able: {type(o).__name__}")
