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


def refuse_empty(values: np.ndarray, meta: dict) -> None:
    """InputError for an array of zero rows, which a command does not write: why (the rate gives no frame
    for this much audio). ``meta`` is the array's sidecar (its ``fps`` and ``audio.duration``)."""
    if values.shape[0]:
        return
    duration = (meta.get("audio") or {}).get("duration", 0.0)
    fps = meta.get("fps")
    if fps:
        from .timing import parse_fps

        raise InputError(f"--fps {fps} gives 0 rows for {duration:.3f} s of audio (one frame every "
                         f"{float(1 / parse_fps(fps)):.6g} s): nothing to write; pass a higher --fps or --num-frames")
    raise InputError(f"{duration:.3f} s of audio give 0 rows: nothing to write")


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


#: What a feature file's array may hold: booleans and numbers (never objects, strings or records).
NUMERIC_KINDS = "biufc"


def read_npy_header(path) -> tuple[tuple, np.dtype, bool, int]:
    """Read and check an ``.npy`` header without reading the data.

    Returns ``(shape, dtype, fortran_order, data_offset)`` (the offset in
    bytes). Raises :class:`InputError` for a file that is not an ``.npy``
    array (text, an ``.npz`` archive, ...), a header that cannot be parsed, an
    object or non-numeric dtype, or a header that declares more data
    (``prod(shape) * itemsize`` bytes) than the file holds: all checked before
    anything the header declares is allocated.
    """
    from numpy.lib import format as npy_format

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
            if not head:
                raise InputError(f"{p}: empty file, not an .npy array")
            if head[:4] == b"PK\x03\x04":
                raise InputError(f"{p}: a zip archive (an .npz file?), not an .npy array")
            if head[:6] != b"\x93NUMPY":
                raise InputError(f"{p}: not an .npy array (no NumPy header; it starts with {head[:6]!r})")
            fh.seek(0)
            try:
                version = npy_format.read_magic(fh)
                reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
                if version not in ((1, 0), (2, 0), (3, 0)):
                    raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
                shape, fortran, dtype = reader(fh)
            except (ValueError, TypeError, SyntaxError, OverflowError, EOFError) as exc:
                raise InputError(f"{p}: not an .npy array (bad header: {_short(exc)})") from None
            offset = fh.tell()
            size = os.fstat(fh.fileno()).st_size
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not an .npy array") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise InputError(f"{p}: an .npy array of dtype {dtype.str!r}: a feature file holds numbers "
                         f"(objects, strings and records are refused)")
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise InputError(f"{p}: not an .npy array (bad shape {shape!r} in its header)")
    declared = dtype.itemsize
    for d in shape:
        declared *= d  # Python ints: no overflow
    if declared > size - offset:
        raise InputError(f"{p}: truncated or lying .npy header: shape {tuple(shape)} of {dtype.str} needs "
                         f"{declared} bytes of data but the file holds {max(size - offset, 0)}")
    return tuple(shape), dtype, bool(fortran), offset


def _short(exc) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def load(path) -> tuple[np.ndarray, dict | None]:
    """Read a feature file and its sidecar (None when there is none, or a JSON that is not avalign's).

    The ``.npy`` header is checked first (:func:`read_npy_header`), then the
    sidecar's schema (:func:`validate_sidecar`); only then is the array read.
    Never unpickles.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a feature file")
    if not p.exists():
        raise InputError(f"{p}: no such feature file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file (a FIFO, socket or device), not a feature file")
    read_npy_header(p)
    side = sidecar_path(p)
    meta = None
    if side.is_file():
        try:
            meta = json.loads(side.read_bytes())
        except (ValueError, OSError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InputError(f"{side}: unreadable sidecar (not JSON: {_short(exc)})") from None
        meta = validate_sidecar(meta, path=side)
    try:
        values = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npy array ({_short(exc)})") from None
    return values, meta


# ---------------------------------------------------------------------------
# Sidecar schema
# ---------------------------------------------------------------------------


class _Bad(Exception):
    """A sidecar field with the wrong type or value; ``path`` names it (turned into an InputError)."""

    def __init__(self, message, path=()):
        super().__init__(str(message))
        self.path = list(path)


def _kind(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "an integer", float: "a number"}.get(type(v), type(v).__name__)


def _integer(minimum: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"expected an integer, got {_kind(v)}")
        if v < minimum:
            raise _Bad(f"expected an integer >= {minimum}, got {v}")
    return check


def _number(v):
    import math

    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _Bad(f"expected a finite number, got {v!r}")


def _fraction(positive: bool):
    def check(v):
        from fractions import Fraction

        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise _Bad(f"expected a number or a fraction string such as \"30000/1001\", got {_kind(v)}")
        try:
            f = Fraction(v.strip()) if isinstance(v, str) else Fraction(v)
        except (ValueError, ZeroDivisionError, OverflowError):
            raise _Bad(f"{v!r} is not a number or a fraction with a non-zero denominator") from None
        if positive and f <= 0:
            raise _Bad(f"{v!r} must be positive")
    return check


def _of_type(t, what: str):
    def check(v):
        if not isinstance(v, t) or isinstance(v, bool):
            raise _Bad(f"expected {what}, got {_kind(v)}")
    return check


def _nullable(check):
    def nullable(v):
        if v is not None:
            check(v)
    return nullable


def _shape(v):
    if not isinstance(v, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in v):
        raise _Bad("expected a list of non-negative integers")


def _timestamps(v):
    if not isinstance(v, list):
        raise _Bad(f"expected a list of seconds, got {_kind(v)}")
    for t in v:
        _number(t)


def _record(fields: dict):
    """A check for an object whose ``fields`` are ``{key: (required, check)}``."""

    def check(d):
        if not isinstance(d, dict):
            raise _Bad(f"expected an object, got {_kind(d)}")
        for key, (required, check_value) in fields.items():
            if key not in d:
                if required:
                    raise _Bad("missing", [key])
                continue
            try:
                check_value(d[key])
            except _Bad as exc:
                raise _Bad(exc, [key, *exc.path]) from None
    return check


_GRID = _record({
    "rate": (True, _fraction(positive=True)), "num_frames": (True, _integer(0)),
    "t0": (False, _fraction(positive=False)), "hop": (False, _nullable(_integer(1))),
    "window": (False, _nullable(_integer(1))), "sample_rate": (False, _nullable(_integer(1))),
    "timestamps": (False, _nullable(_timestamps)),
})

#: The sidecar fields that readers use, with their types (others are informative and not checked).
_SIDECAR = _record({
    "avalign": (False, _of_type(str, "a string")),
    "grid": (True, _GRID),
    "source_grid": (False, _nullable(_GRID)),
    "audio": (True, _nullable(_record({"sample_rate": (True, _integer(1)), "num_samples": (True, _integer(0))}))),
    "fps": (True, _nullable(_fraction(positive=True))),
    "preset": (False, _nullable(_of_type(str, "a string"))),
    "feature": (False, _nullable(_of_type(str, "a string"))),
    "offsets": (False, _nullable(_record({"audio_start_on_video_clock": (False, _nullable(_number)),
                                          "offset_ms": (False, _nullable(_number))}))),
    "video": (False, _nullable(_of_type(dict, "an object"))),
    "shape": (False, _shape),
    "dtype": (False, _of_type(str, "a string")),
})


def validate_sidecar(meta, *, path="sidecar") -> dict | None:
    """Check a sidecar's schema before anything reads it.

    Returns ``meta`` when it is avalign's (an object with ``"avalign":
    "feature file"`` or a ``grid``), None for a JSON that is not ours (it is
    then ignored). Raises :class:`InputError` naming the first bad field
    (``grid.rate``, ``audio.num_samples``, ...): a missing key, a wrong type,
    a fraction with a zero denominator, a negative count.
    """
    if not isinstance(meta, dict) or (meta.get("avalign") != "feature file" and "grid" not in meta):
        return None
    try:
        _SIDECAR(meta)
        grid = meta["grid"]
        if grid.get("timestamps") is not None and len(grid["timestamps"]) != grid["num_frames"]:
            raise _Bad(f"{len(grid['timestamps'])} timestamps for {grid['num_frames']} frames", ["grid", "timestamps"])
    except _Bad as exc:
        field = ".".join(exc.path) or "?"
        raise InputError(f"{path}: bad sidecar: field {field}: {exc}") from None
    return meta


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
