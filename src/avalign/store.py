"""Feature files: ``OUT.npy`` plus a JSON sidecar ``OUT.json``, written atomically.

Both files are written in full to temporary names in the target folder and
only then renamed into place, so an interrupted or failed run (full disk)
leaves neither file. Outputs that are inputs, devices, FIFOs or under
``/proc``, ``/sys`` or ``/dev`` are refused before any work.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError, OutputError


def sidecar_path(npy_path) -> Path:
    """``out.npy`` -> ``out.json``."""
    p = Path(npy_path)
    return p.with_suffix(".json") if p.suffix == ".npy" else p.with_name(p.name + ".json")


#: Pseudo-filesystems an output may never go to.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def check_writable(path, *, inputs=()) -> Path:
    """Refuse (OutputError) an output path before any work.

    Refused: a missing or read-only folder; an array or sidecar path that is a
    directory, a FIFO, a device or any other non-regular file; one under
    ``/proc``, ``/sys`` or ``/dev``; one that is (also through a symlink or a
    hard link) one of ``inputs``.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    for target in (p, sidecar_path(p)):
        _check_target(target, inputs)
    if not parent.is_dir():
        raise OutputError(f"{p}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{p}: output folder {parent} is not writable")
    return p


def _check_target(target: Path, inputs) -> None:
    real = os.path.realpath(target)
    for system in SYSTEM_FOLDERS:
        if real == system or real.startswith(system + os.sep):
            raise OutputError(f"{target}: refusing to write under {system}")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{target}: cannot use as output ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{target}: output path is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{target}: output path exists and is not a regular file (a FIFO, socket or device)")
    for given in inputs:
        if given is None or not isinstance(given, (str, os.PathLike)):
            continue
        try:
            same = os.path.samefile(target, given)
        except OSError:
            continue
        if same:
            raise OutputError(f"{target}: output would overwrite the input {given}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_temp(path: Path, write) -> str:
    """Write a complete temporary file beside ``path`` (fsync'd, usual mode); returns its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 -> the usual mode for new files
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _atomic_write(path: Path, write) -> None:
    try:
        tmp = _write_temp(path, write)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_json(path, data: dict) -> None:
    """Atomically write ``data`` as pretty JSON."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default).encode() + b"\n"
    _atomic_write(Path(path), lambda fh: fh.write(text))


def save(path, values: np.ndarray, meta: dict, *, inputs=()) -> tuple[Path, Path]:
    """Write ``values`` to ``path`` (.npy) and ``meta`` to its sidecar; returns both paths.

    Both are written in full to temporary files first; only then are they
    renamed into place (sidecar, then array), so a failure (full disk, ...)
    leaves neither new file. ``inputs`` are refused as targets (see
    :func:`check_writable`).
    """
    npy = check_writable(path, inputs=inputs)
    side = sidecar_path(npy)
    meta = dict(meta)
    meta["shape"] = list(values.shape)
    meta["dtype"] = str(values.dtype)
    text = json.dumps(meta, indent=2, sort_keys=False, default=_json_default).encode() + b"\n"
    tmp_side = tmp_npy = None
    try:
        tmp_side = _write_temp(side, lambda fh: fh.write(text))
        tmp_npy = _write_temp(npy, lambda fh: np.save(fh, values, allow_pickle=False))
        os.replace(tmp_side, side)
        tmp_side = None
        try:
            os.replace(tmp_npy, npy)
        except BaseException:
            _unlink(side)
            raise
        tmp_npy = None
    except OSError as exc:
        raise OutputError(f"{npy}: cannot write ({exc.strerror or exc}); nothing was written") from None
    finally:
        for tmp in (tmp_side, tmp_npy):
            if tmp is not None:
                _unlink(tmp)
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
