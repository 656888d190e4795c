"""What a batch reads: a folder of media files or a manifest (JSONL or CSV) listing them.

Each source becomes a :class:`Clip` with a stable id (its path relative to
the folder, without the extension, in POSIX form; with it when two files share
a stem, such as ``clip.mp4`` and ``clip.wav``) from which the output layout is
derived, so the same dataset always lands in the same place.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..media import MEDIA_EXTENSIONS
from ..timing import parse_fps

#: File suffixes read as manifests rather than media.
MANIFEST_SUFFIXES = (".jsonl", ".csv")
#: The one top-level name of the output folder that no id may take: the manifest itself.
RESERVED_ID = "manifest.jsonl"


@dataclass(frozen=True)
class Clip:
    """One source clip.

    Attributes
    ----------
    id : str
        Stable id (``spk1/clip003``): POSIX relative path, no extension.
    source : str
        Path of the media file.
    fps : str or None
        Per-clip frame rate override (``"25"``, ``"30000/1001"``).
    num_frames : int or None
        Per-clip exact number of output rows.
    """

    id: str
    source: str
    fps: str | None = None
    num_frames: int | None = None


def read_source(src) -> list[Clip]:
    """Clips of a folder (recursive, media extensions) or of a manifest file, in a stable order.

    Raises
    ------
    InputError
        Missing source, unreadable manifest, bad row, duplicate ids, or nothing to do.
    """
    p = Path(src)
    if p.is_dir():
        clips = _from_folder(p)
    elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
        clips = _from_manifest(p)
    elif p.is_file():
        raise InputError(f"{p}: not a folder or a manifest (.jsonl or .csv)")
    else:
        raise InputError(f"{p}: no such folder or manifest")
    if not clips:
        raise InputError(f"{p}: no media files found (extensions: {' '.join(MEDIA_EXTENSIONS)})")
    _check_unique(clips, p)
    return clips


def _from_folder(root: Path) -> list[Clip]:
    """Media files under ``root``, each real file once, at its first path that goes through no symlink.

    The real tree is walked first; symlinked folders are walked after it (in
    the order found), a folder already visited (same ``(st_dev, st_ino)``: a
    link back to a parent, a second link to one folder) is not entered again,
    and a file already found (through a symlink or a hard link) is not taken
    again. Symlinked files come last, so a link never displaces its target.
    """
    found: list[Clip] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    linked_files: list[Path] = []

    def take(path: Path) -> None:
        try:
            st = os.stat(path)
        except OSError:
            st = None  # a dangling link: kept, it becomes an error row
        if st is not None:
            if (st.st_dev, st.st_ino) in seen_files:
                return
            seen_files.add((st.st_dev, st.st_ino))
        rel = PurePosixPath(path.relative_to(root).as_posix())
        found.append(Clip(id=str(rel.with_suffix("")), source=os.fspath(path)))

    pending = [root]
    while pending:
        for dirpath, dirnames, filenames in os.walk(pending.pop(0)):  # does not descend into links
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            real = []
            for d in sorted(dirnames):
                if d.startswith("."):
                    continue
                if os.path.islink(os.path.join(dirpath, d)):
                    pending.append(Path(dirpath) / d)  # walked after the real tree
                else:
                    real.append(d)
            dirnames[:] = real
            for name in sorted(filenames):
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in MEDIA_EXTENSIONS:
                    continue
                path = Path(dirpath) / name
                if os.path.islink(path):
                    linked_files.append(path)
                else:
                    take(path)
    for path in linked_files:
        take(path)
    # files sharing a stem (clip.mp4 beside its extracted clip.wav) keep their extension in the id
    stems: dict[str, int] = {}
    for c in found:
        stems[c.id] = stems.get(c.id, 0) + 1
    found = [c if stems[c.id] == 1 else Clip(id=c.id + Path(c.source).suffix.lower(), source=c.source)
             for c in found]
    return sorted(found, key=lambda c: c.id)


def _from_manifest(path: Path) -> list[Clip]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable manifest ({exc})") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise InputError(f"{path}:{n}: not a JSON object") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{n}: not a JSON object")
            rows.append((n, row))
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "path" not in [f.strip() for f in reader.fieldnames]:
            raise InputError(f"{path}: a CSV manifest needs a header with a 'path' column")
        rows = [(n, {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k})
                for n, r in enumerate(reader, 2)]
    return [_clip_from_row(path, n, row) for n, row in rows]


def _clip_from_row(manifest: Path, n: int, row: dict) -> Clip:
    where = f"{manifest}:{n}"
    given = row.get("path")
    if not given:
        raise InputError(f"{where}: row without a 'path'")
    rel = Path(str(given))
    source = rel if rel.is_absolute() else manifest.parent / rel
    clip_id = row.get("id") or None
    if clip_id is None:
        clip_id = str(PurePosixPath(rel.as_posix()).with_suffix("")) if not rel.is_absolute() else rel.stem
    clip_id = normalise_id(str(clip_id), where=where)
    fps = row.get("fps")
    fps = None if fps in (None, "") else str(fps)
    if fps is not None:
        try:
            parse_fps(fps)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    num_frames = row.get("num_frames")
    if num_frames in (None, ""):
        num_frames = None
    else:
        try:
            num_frames = int(num_frames)
        except (TypeError, ValueError):
            raise InputError(f"{where}: bad num_frames {row.get('num_frames')!r}") from None
        if num_frames <= 0:
            raise InputError(f"{where}: bad num_frames {num_frames} (must be positive)")
    return Clip(id=clip_id, source=os.fspath(source), fps=fps, num_frames=num_frames)


def normalise_id(clip_id: str, *, where: str) -> str:
    """``clip_id`` in normal POSIX form (``d/./x`` and ``d//x`` -> ``d/x``), or InputError.

    Refused: an absolute id, one that escapes the output folder (``..``), a
    backslash, and a component starting with ``.`` (the namespace of the
    batch's own files, such as ``OUT/.avalign/``; hidden files are skipped in
    folders for the same reason).
    """
    bad = f"{where}: bad id {clip_id!r} (a relative path without '..', '\\' or parts starting with '.')"
    if not clip_id.strip() or clip_id.startswith("/") or "\\" in clip_id or "\0" in clip_id:
        raise InputError(bad)
    norm = posixpath.normpath(clip_id)
    parts = PurePosixPath(norm).parts
    if norm in (".", "") or any(p.startswith(".") for p in parts):
        raise InputError(bad)
    if parts[0] == RESERVED_ID:
        raise InputError(f"{where}: id {clip_id!r} is reserved for the batch manifest")
    return norm


def _check_unique(clips: list[Clip], src: Path) -> None:
    seen: dict[str, str] = {}
    for c in clips:
        if c.id in seen:
            raise InputError(f"{src}: two sources have the id {c.id!r} once normalised ({seen[c.id]} and "
                             f"{c.source}); give distinct ids in a manifest")
        seen[c.id] = c.source
