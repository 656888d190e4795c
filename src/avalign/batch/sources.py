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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..media import MEDIA_EXTENSIONS
from ..timing import parse_fps

#: File suffixes read as manifests rather than media.
MANIFEST_SUFFIXES = (".jsonl", ".csv")


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
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in MEDIA_EXTENSIONS:
                continue
            path = Path(dirpath) / name
            rel = PurePosixPath(path.relative_to(root).as_posix())
            found.append(Clip(id=str(rel.with_suffix("")), source=os.fspath(path)))
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
    clip_id = str(clip_id)
    parts = PurePosixPath(clip_id).parts
    if not parts or clip_id.startswith("/") or ".." in parts or "\\" in clip_id:
        raise InputError(f"{where}: bad id {clip_id!r} (a relative path without '..')")
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


def _check_unique(clips: list[Clip], src: Path) -> None:
    seen: dict[str, str] = {}
    for c in clips:
        if c.id in seen:
            raise InputError(f"{src}: two sources have the id {c.id!r} ({seen[c.id]} and {c.source});"
                             " give distinct ids in a manifest")
        seen[c.id] = c.source
