"""Write DeepSpeech v0.1.0-shaped frozen graphs (``GraphDef`` protobuf) without TensorFlow.

The graph has the real node names (``h1 b1 ... h6 b6``,
``bidirectional_rnn/{fw,bw}/basic_lstm_cell/{kernel,bias}``, ``input_node``,
``input_lengths``, ``logits``) and layer structure, at any size, with seeded
random weights. The protobuf encoder here is written independently of the
library's decoder (field numbers from tensorflow/core/framework/*.proto).
"""

from __future__ import annotations

import struct

import numpy as np

N_INPUT = 494
N_CLASSES = 29


def _varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def tensor_proto(arr: np.ndarray, *, as_float_val: bool = False, dtype_enum: int = 1, shape=None) -> bytes:
    """``TensorProto``: dtype (1), tensor_shape (2, dims 2 -> size 1), tensor_content (4) or packed float_val (5).

    ``shape`` overrides the encoded shape (a one-value ``float_val`` with a larger shape is TensorFlow's splat).
    """
    shape = b"".join(_bytes(2, _int(1, int(d))) for d in (arr.shape if shape is None else shape))
    msg = _int(1, dtype_enum) + _bytes(2, shape)
    data = np.ascontiguousarray(arr, dtype="<f4")
    if as_float_val:
        msg += _bytes(5, b"".join(struct.pack("<f", float(v)) for v in data.ravel()))
    else:
        msg += _bytes(4, data.tobytes())
    return msg


def node_def(name: str, op: str, *, inputs=(), tensor: bytes | None = None, dtype_attr: int | None = 1) -> bytes:
    """``NodeDef``: name (1), op (2), input (3), attr map (5) with ``dtype`` (AttrValue.type = 6) and ``value`` (AttrValue.tensor = 8)."""
    msg = _bytes(1, name.encode()) + _bytes(2, op.encode())
    for i in inputs:
        msg += _bytes(3, i.encode())
    if dtype_attr is not None:
        msg += _bytes(5, _bytes(1, b"dtype") + _bytes(2, _int(6, dtype_attr)))
    if tensor is not None:
        msg += _bytes(5, _bytes(1, b"value") + _bytes(2, _bytes(8, tensor)))
    return msg


def random_weights(*, n_hidden: int = 16, n_cell: int = 8, n_hidden_3: int | None = None, seed: int = 0,
                   scale: float = 0.3) -> dict:
    """Seeded random weights of the v0.1.0 layer structure (``n_hidden_3`` defaults to ``2 * n_cell``)."""
    h3 = 2 * n_cell if n_hidden_3 is None else n_hidden_3
    rng = np.random.default_rng(seed)

    def w(*shape, s=scale):
        return (rng.standard_normal(shape) * s / np.sqrt(shape[0] if len(shape) > 1 else 1)).astype(np.float32)

    out = {"h1": w(N_INPUT, n_hidden, s=12.0), "b1": w(n_hidden, s=0.5), "h2": w(n_hidden, n_hidden, s=3.0),
           "b2": w(n_hidden, s=0.5), "h3": w(n_hidden, h3, s=3.0), "b3": w(h3, s=0.5)}
    for d in ("fw", "bw"):
        out[f"bidirectional_rnn/{d}/basic_lstm_cell/kernel"] = w(h3 + n_cell, 4 * n_cell, s=2.0)
        out[f"bidirectional_rnn/{d}/basic_lstm_cell/bias"] = w(4 * n_cell, s=0.5)
    out.update({"h5": w(2 * n_cell, n_hidden, s=3.0), "b5": w(n_hidden, s=0.5),
                "h6": w(n_hidden, N_CLASSES, s=3.0), "b6": w(N_CLASSES, s=0.5)})
    return out


def graph_bytes(weights: dict, *, float_val: tuple = ("b6",), io_nodes: bool = True) -> bytes:
    """A frozen ``GraphDef`` holding ``weights`` as ``Const`` nodes (with ``/read`` identities, as freezing leaves them)."""
    parts = []
    if io_nodes:
        parts.append(node_def("input_node", "Placeholder"))
        parts.append(node_def("input_lengths", "Placeholder", dtype_attr=3))
    for name, arr in weights.items():
        parts.append(node_def(name, "Const", tensor=tensor_proto(arr, as_float_val=name in float_val)))
        parts.append(node_def(f"{name}/read", "Identity", inputs=(name,)))
    if io_nodes:
        parts.append(node_def("logits", "Identity", inputs=("add_3",)))
    body = b"".join(_bytes(1, p) for p in parts)
    versions = _bytes(4, _int(1, 24))  # VersionDef.producer
    return body + versions


def write_graph(path, weights: dict | None = None, **kwargs) -> dict:
    """Write a fixture graph to ``path``; returns the weights written."""
    weights = random_weights(**kwargs) if weights is None else weights
    with open(path, "wb") as f:
        f.write(graph_bytes(weights))
    return weights
