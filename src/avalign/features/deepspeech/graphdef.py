"""Read constant tensors from a frozen TensorFlow ``GraphDef`` (``.pb``) without TensorFlow.

Only the small subset of the protobuf wire format that a frozen graph's
weights need is decoded: ``GraphDef.node`` (field 1) -> ``NodeDef`` (name 1,
op 2, attr 5) -> ``attr["value"]`` -> ``AttrValue.tensor`` (field 8) ->
``TensorProto`` (dtype 1, tensor_shape 2, tensor_content 4, float_val 5).

Why a decoder of our own (about 100 lines) rather than a protobuf definition:
the TensorFlow ``.proto`` classes ship only with TensorFlow or TensorBoard
(TensorBoard pulls grpcio, werkzeug and markdown), while five message types
and two wire types cover everything a frozen graph's constants use. Working
on a ``memoryview`` of the file also avoids holding a second copy of the
~490 MB of weights in protobuf message objects. Anything malformed (a
truncated file, a file that is not a protobuf) raises :class:`GraphError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# TensorFlow DataType enum values -> numpy dtypes (the ones a frozen graph's weights use)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16}
DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 9: "int64", 19: "float16", 7: "string", 10: "bool"}


class GraphError(ValueError):
    """The bytes are not a well-formed GraphDef (truncated, not protobuf)."""


@dataclass
class Node:
    """One ``NodeDef``: its name, op, inputs and, for ``Const`` nodes, the raw tensor message."""

    name: str
    op: str
    inputs: list = field(default_factory=list)
    tensor: memoryview | None = None


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise GraphError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphError("varint longer than 10 bytes")


def fields(buf: memoryview, start: int = 0, end: int | None = None):
    """Yield ``(field_number, wire_type, value)`` of one message; ``value`` is an int or a memoryview."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise GraphError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise GraphError("truncated fixed64")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise GraphError("truncated length-delimited field")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise GraphError("truncated fixed32")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise GraphError(f"unsupported wire type {wire}")
        yield number, wire, value


def _text(value) -> str:
    try:
        return bytes(value).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise GraphError("a name is not UTF-8 text") from None


def nodes(data) -> list[Node]:
    """All nodes of a serialized ``GraphDef`` (``bytes``, ``mmap`` or ``memoryview``)."""
    buf = memoryview(data)
    out = []
    for number, wire, value in fields(buf):
        if number != 1:  # versions, library: not needed
            continue
        if wire != 2:
            raise GraphError("GraphDef.node is not a message")
        node = Node("", "")
        for n2, w2, v2 in fields(value):
            if n2 == 1 and w2 == 2:
                node.name = _text(v2)
            elif n2 == 2 and w2 == 2:
                node.op = _text(v2)
            elif n2 == 3 and w2 == 2:
                node.inputs.append(_text(v2))
            elif n2 == 5 and w2 == 2:  # map<string, AttrValue> entry
                key, attr = None, None
                for n3, w3, v3 in fields(v2):
                    if n3 == 1 and w3 == 2:
                        key = _text(v3)
                    elif n3 == 2 and w3 == 2:
                        attr = v3
                if key == "value" and attr is not None:
                    for n4, w4, v4 in fields(attr):
                        if n4 == 8 and w4 == 2:  # AttrValue.tensor
                            node.tensor = v4
        out.append(node)
    return out


def tensor_info(msg: memoryview) -> tuple[int, tuple[int, ...]]:
    """``(dtype enum, shape)`` of a ``TensorProto``."""
    dtype, shape = 0, []
    for number, wire, value in fields(msg):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 2 and wire == 2:
            for n2, w2, v2 in fields(value):
                if n2 == 2 and w2 == 2:  # TensorShapeProto.dim
                    size = 0
                    for n3, w3, v3 in fields(v2):
                        if n3 == 1 and w3 == 0:
                            size = v3 - (1 << 64) if v3 >= 1 << 63 else v3
                    shape.append(size)
    return dtype, tuple(shape)


def tensor_count(shape: tuple[int, ...]) -> int:
    """Elements of a tensor of ``shape``: the exact product (Python integers: a lying shape cannot overflow)."""
    return math.prod(shape)


def tensor_array(msg: memoryview) -> np.ndarray:
    """A ``TensorProto`` as a numpy array (``tensor_content`` or a repeated ``float_val``).

    The declared shape is checked against the bytes present before anything is allocated; only TensorFlow's
    splat (one ``float_val`` repeated) and an empty ``float_val`` (zeros) expand, within the memory budget.
    """
    from ... import budget

    dtype, shape = tensor_info(msg)
    if dtype != 1:
        raise GraphError(f"tensor of dtype {DTYPE_NAMES.get(dtype, dtype)}, expected float32")
    if any(d < 0 for d in shape):
        raise GraphError(f"tensor with unknown shape {shape}")
    count = tensor_count(shape)
    content, values = None, []
    for number, wire, value in fields(msg):
        if number == 4 and wire == 2:
            content = value
        elif number == 5 and wire == 2:  # packed float_val
            if len(value) % 4:
                raise GraphError("packed float_val of a length that is not a multiple of 4")
            values.append(np.frombuffer(value, dtype="<f4"))
        elif number == 5 and wire == 5:
            values.append(np.frombuffer(value, dtype="<f4"))
    if content is not None:
        if len(content) != 4 * count:
            raise GraphError(f"tensor_content holds {len(content)} bytes for shape {shape} of float32")
        arr = np.frombuffer(content, dtype="<f4")
    else:
        arr = np.concatenate(values) if values else np.zeros(0, np.float32)
        if arr.size in (0, 1) and count > 1:
            budget.check(budget.nbytes(count, itemsize=4), f"a constant of shape {shape} x float32 "
                         f"expanded from {arr.size} stored value{'s' if arr.size != 1 else ''}")
        if arr.size == 1 and count > 1:  # TensorFlow's splat of one repeated value
            arr = np.full(count, arr[0], np.float32)
        elif arr.size == 0 and count:
            arr = np.zeros(count, np.float32)
        if arr.size != count:
            raise GraphError(f"float_val holds {arr.size} values for shape {shape}")
    return arr.astype(np.float32).reshape(shape)
