"""Framed ``.npy`` chunks: how ``avalign stream`` writes rows to a pipe or a file.

The stream is a plain concatenation of ``.npy`` arrays (NumPy format version
1.0 or 2.0), one per batch of rows, each ``(k, ...)`` float32 with ``k >= 1``.
Every array is self-delimiting (its header gives dtype and shape), so a
reader loops ``numpy.lib.format.read_array`` until end of file; a file with
one chunk is an ordinary ``.npy`` file. :func:`read_chunks` does that.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Iterator

import numpy as np
from numpy.lib import format as npy_format

from ..errors import InputError


def write_chunk(out: BinaryIO, rows: np.ndarray) -> None:
    """Append ``rows`` as one ``.npy`` array to the binary stream ``out`` (nothing for 0 rows)."""
    if rows.shape[0]:
        npy_format.write_array(out, np.ascontiguousarray(rows), allow_pickle=False)


def read_chunks(source) -> Iterator[np.ndarray]:
    """Arrays of a framed ``.npy`` stream, in order: ``source`` is a path, bytes or a binary file object."""
    if isinstance(source, (bytes, bytearray)):
        f = io.BytesIO(source)
    elif hasattr(source, "read"):
        f = source
    else:
        with open(source, "rb") as fh:
            yield from read_chunks(fh)
        return
    while True:
        head = f.read(6)
        if not head:
            return
        if head != npy_format.MAGIC_PREFIX:
            raise InputError("not a framed .npy stream: a chunk does not start with the .npy magic")
        rest = f.read(2)
        version = (rest[0], rest[1]) if len(rest) == 2 else None
        if version not in ((1, 0), (2, 0)):
            raise InputError(f"unsupported .npy version {version} in a framed stream")
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise InputError("framed .npy stream holds objects; only numeric arrays are read")
        count = int(np.prod(shape, dtype=np.int64))
        data = f.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise InputError("framed .npy stream ends inside a chunk")
        yield np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def read_all(source) -> np.ndarray:
    """All rows of a framed ``.npy`` stream, concatenated."""
    chunks = list(read_chunks(source))
    return np.concatenate(chunks) if chunks else np.zeros((0,), np.float32)
