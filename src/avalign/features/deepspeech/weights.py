"""DeepSpeech v0.1.0 weights: read once from the frozen graph, then from a safe cache.

:func:`load_weights` validates the graph (names, shapes, dtypes), converts the
14 weight constants to a safetensors file in the cache directory keyed by the
SHA-256 of the ``.pb`` file, and reads that file on later calls. A small index
(path, size, mtime, inode -> hash) spares re-hashing an unchanged file, so a
cached load is a safetensors read.

Cache directory: ``$AVALIGN_CACHE/deepspeech`` if set, else
``~/.cache/avalign/deepspeech``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ... import budget
from ...errors import ModelError
from . import graphdef

DENSE = ("h1", "b1", "h2", "b2", "h3", "b3", "h5", "b5", "h6", "b6")
LSTM = tuple(f"bidirectional_rnn/{d}/basic_lstm_cell/{p}" for d in ("fw", "bw") for p in ("kernel", "bias"))
NAMES = DENSE + LSTM
#: 26 cepstra x (9 past + present + 9 future) frames
N_INPUT = 26 * (2 * 9 + 1)
#: space, a-z, apostrophe, CTC blank
N_CLASSES = 29
CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where converted weights live (``$AVALIGN_CACHE/deepspeech`` or ``~/.cache/avalign/deepspeech``)."""
    root = os.environ.get("AVALIGN_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "avalign"
    return base / "deepspeech"


def check_shapes(weights: dict, *, source: str = "graph") -> dict:
    """Check the 14 arrays form one v0.1.0 network; returns the sizes ``{n_hidden, n_hidden_3, n_cell}``.

    Shapes: ``h1 (494, H1)``, ``h2 (H1, H2)``, ``h3 (H2, H3)``, LSTM kernels
    ``(H3 + C, 4C)`` and biases ``(4C,)``, ``h5 (2C, H5)``, ``h6 (H5, 29)``,
    each ``b*`` matching its ``h*``; all float32.
    """
    missing = [n for n in NAMES if n not in weights]
    if missing:
        raise ModelError(f"{source}: not a DeepSpeech v0.1.0 graph (missing {', '.join(missing)})")
    for n in NAMES:
        if weights[n].dtype != np.float32:
            raise ModelError(f"{source}: {n} has dtype {weights[n].dtype}, expected float32")
    s = {n: tuple(weights[n].shape) for n in NAMES}

    def bad(name, expected):
        raise ModelError(f"{source}: not a DeepSpeech v0.1.0 graph ({name} has shape {s[name]}, expected {expected})")

    if len(s["h1"]) != 2 or s["h1"][0] != N_INPUT:
        bad("h1", f"({N_INPUT}, n_hidden)")
    h1 = s["h1"][1]
    if len(s["h2"]) != 2 or s["h2"][0] != h1:
        bad("h2", f"({h1}, n)")
    h2 = s["h2"][1]
    if len(s["h3"]) != 2 or s["h3"][0] != h2:
        bad("h3", f"({h2}, n)")
    h3 = s["h3"][1]
    k = s[LSTM[0]]
    if len(k) != 2 or k[1] % 4 or k[0] != h3 + k[1] // 4:
        bad(LSTM[0], f"({h3} + n_cell, 4 n_cell)")
    cell = k[1] // 4
    for d in ("fw", "bw"):
        kn, bn = f"bidirectional_rnn/{d}/basic_lstm_cell/kernel", f"bidirectional_rnn/{d}/basic_lstm_cell/bias"
        if s[kn] != (h3 + cell, 4 * cell):
            bad(kn, (h3 + cell, 4 * cell))
        if s[bn] != (4 * cell,):
            bad(bn, (4 * cell,))
    if len(s["h5"]) != 2 or s["h5"][0] != 2 * cell:
        bad("h5", f"({2 * cell}, n)")
    h5 = s["h5"][1]
    if s["h6"] != (h5, N_CLASSES):
        bad("h6", (h5, N_CLASSES))
    for b, width in (("b1", h1), ("b2", h2), ("b3", h3), ("b5", h5), ("b6", N_CLASSES)):
        if s[b] != (width,):
            bad(b, (width,))
    return {"n_hidden": h1, "n_hidden_3": h3, "n_cell": cell}


def read_graph(path) -> dict:
    """The 14 weight arrays of a frozen v0.1.0 graph file, validated (slow path: parses the ``.pb``).

    The declared shapes and dtypes are checked (:func:`check_shapes`) before any tensor is read;
    the arrays then have exactly those.
    """
    path = Path(path)
    with _open(path) as f:
        data = f.read()
    if not data:
        raise ModelError(f"{path}: empty file, not a DeepSpeech v0.1.0 graph")
    try:
        weights = _constants(memoryview(data), path)
    except graphdef.GraphError as exc:
        raise ModelError(f"{path}: not a readable TensorFlow graph ({exc}); is the file truncated?") from None
    return weights


def _constants(buf: memoryview, path: Path) -> dict:
    nodes = graphdef.nodes(buf)
    if not nodes:
        raise ModelError(f"{path}: no graph nodes; not a DeepSpeech v0.1.0 graph")
    by_name = {n.name: n for n in nodes}
    missing = [n for n in NAMES if n not in by_name]
    if missing:
        have = "input_node" in by_name and "logits" in by_name
        kind = "a DeepSpeech graph of another version" if have else "not a DeepSpeech graph"
        raise ModelError(f"{path}: {kind}; a v0.1.0 graph (output_graph.pb, deepspeech-0_1_0-b90017e8.pb) "
                         f"has constants {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}")
    for io in ("input_node", "input_lengths", "logits"):
        if io not in by_name:
            raise ModelError(f"{path}: not a DeepSpeech v0.1.0 graph (no {io!r} node)")
    for name in NAMES:
        node = by_name[name]
        if node.op != "Const" or node.tensor is None:
            raise ModelError(f"{path}: {name} is a {node.op or '?'} node, not a constant; "
                             "the graph is not frozen")
    # the declared shapes first: one network's shapes, within the memory budget, before any tensor is read
    specs = {}
    for name in NAMES:
        try:
            dtype, shape = graphdef.tensor_info(by_name[name].tensor)
        except graphdef.GraphError as exc:
            raise ModelError(f"{path}: bad tensor {name}: {exc}") from None
        specs[name] = _Spec(tuple(shape), np.dtype(graphdef.DTYPES.get(dtype, np.uint8)))
    check_shapes(specs, source=str(path))
    total = sum(graphdef.tensor_count(specs[n].shape) for n in NAMES)
    budget.check(budget.nbytes(total, itemsize=8), f"{total} float32 weights declared by {path.name}'s "
                 f"{len(NAMES)} tensors (h1 {specs['h1'].shape}, ...), read then converted")
    out = {}
    for name in NAMES:
        try:
            out[name] = graphdef.tensor_array(by_name[name].tensor)
        except graphdef.GraphError as exc:
            raise ModelError(f"{path}: bad tensor {name}: {exc}") from None
    return out


class _Spec:
    """A tensor's declared shape and dtype, read from its header (what :func:`check_shapes` looks at)."""

    def __init__(self, shape: tuple, dtype):
        self.shape, self.dtype = shape, dtype


def _directory_message(path: Path) -> str:
    """Why a directory is not a DeepSpeech model, naming the model type its ``config.json`` declares."""
    try:
        found = json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        found = None
    held = f" holding a {found!r} model (config.json)" if found else ""
    return f"{path}: is a directory{held}; DeepSpeech needs the v0.1.0 .pb file (output_graph.pb)"


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ModelError(f"{path}: no such DeepSpeech model file (pass the v0.1.0 output_graph.pb)") from None
    except IsADirectoryError:
        raise ModelError(_directory_message(path)) from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None


def file_hash(path: Path) -> str:
    """SHA-256 of the file, remembered in the cache index per (path, size, mtime, inode)."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    index_path = cache_dir() / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    h = hashlib.sha256()
    with _open(path) as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    index[key] = digest
    _atomic_write(index_path, json.dumps(index, indent=0).encode())
    return digest


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed


def load_weights(path, *, use_cache: bool = True) -> tuple[dict, dict]:
    """Weights of a v0.1.0 graph as ``{name: float32 array}``, plus info ``{sha256, cached, sizes...}``.

    The first call parses the ``.pb`` and writes ``<cache>/<sha256>.safetensors``;
    later calls read that file (no protobuf parsing).
    """
    from safetensors.numpy import load_file, save_file

    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise ModelError(f"{path}: no such DeepSpeech model file (pass the v0.1.0 output_graph.pb)")
    if path.is_dir():
        raise ModelError(_directory_message(path))
    digest = file_hash(path) if use_cache else None
    cached = cache_dir() / f"v{CACHE_VERSION}-{digest}.safetensors" if digest else None
    if cached is not None and cached.is_file():
        try:
            weights = load_file(str(cached))
            sizes = check_shapes(weights, source=str(cached))
            return weights, {"sha256": digest, "cached": True, "cache_file": str(cached), **sizes}
        except Exception:  # a damaged cache file: rebuild it from the graph
            pass
    weights = read_graph(path)
    sizes = check_shapes(weights, source=str(path))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            save_file(weights, str(tmp), metadata={"source": path.name, "sha256": digest})
            os.replace(tmp, cached)
        except OSError:
            pass
    return weights, {"sha256": digest, "cached": False, "cache_file": None if cached is None else str(cached),
                     **sizes}
