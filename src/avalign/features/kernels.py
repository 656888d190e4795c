"""scipy's compiled FFT and sparse kernels, without the start-up of the ``scipy.fft`` and ``scipy.sparse`` packages.

Importing ``scipy.fft`` or ``scipy.sparse`` costs 0.1-0.2 s each (their
``__init__`` pulls ``scipy._lib._array_api``, ``scipy.special``, ...), for a
mel spectrogram that takes milliseconds on a short clip. The transforms
themselves live in two extension modules that import nothing but numpy:
``scipy/fft/_pocketfft/pypocketfft`` and ``scipy/sparse/_sparsetools``. This
module loads those two files directly (well under a millisecond) and calls
them exactly as ``scipy.fft.rfft`` / ``scipy.fft.dct`` / ``csr_matrix @ dense``
do, so results are the same bits (tests/test_kernels.py compares them with the
public functions). ``numpy.fft`` is not a substitute: its float32 transform
differs from scipy's in the last bits.

When a file is not where this scipy keeps it (another layout in a future
version), or fails to load, the public ``scipy.fft`` / ``scipy.sparse``
functions are used instead: slower to import, same numbers.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading

import numpy as np

#: pocketfft's normalisation codes (``scipy.fft._pocketfft.helper._NORM_MAP``): backward, ortho
_NORM_BACKWARD, _NORM_ORTHO = 0, 1


_LOADED: dict = {}
_LOAD_LOCK = threading.Lock()


def _extension(package: str, name: str):
    """The compiled module ``scipy.<package>.<name>`` loaded from its file, or None (then: public API).

    Loaded once per process under a lock: the mel runs on several threads, and
    two threads loading the same pybind11 module at once can see it before its
    functions are defined (a cached module object, still being executed).
    """
    key = (package, name)
    if key not in _LOADED:
        with _LOAD_LOCK:
            if key not in _LOADED:
                _LOADED[key] = _load(package, name)
    return _LOADED[key]


def _load(package: str, name: str):
    if os.environ.get("AVALIGN_PUBLIC_SCIPY"):  # tests compare both routes
        return None
    full = f"scipy.{package}.{name}"
    if full in sys.modules:  # scipy imported it already: the same module, not a second copy
        return sys.modules[full]
    try:
        spec = importlib.util.find_spec("scipy")  # locates scipy without running its __init__
        if spec is None or spec.origin is None:
            return None
        folder = os.path.join(os.path.dirname(spec.origin), *package.split("."))
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, name + suffix)
            if os.path.isfile(path):
                mod_spec = importlib.util.spec_from_file_location(full, path)
                module = importlib.util.module_from_spec(mod_spec)
                mod_spec.loader.exec_module(module)
                return module
    except Exception:  # pragma: no cover - an unexpected scipy layout: fall back to the public functions
        return None
    return None


def _pocketfft():
    return _extension("fft._pocketfft", "pypocketfft")


def _real(x: np.ndarray) -> np.ndarray:
    """What ``scipy.fft`` transforms: float32/float64 (others -> float64), native byte order, aligned."""
    x = np.asarray(x)
    if x.dtype == np.float16:
        return x.astype(np.float32)
    if x.dtype.kind != "f":
        return x.astype(np.float64)
    if not x.dtype.isnative or not x.flags.aligned:
        return np.array(x, dtype=x.dtype.newbyteorder("="))
    return x


def rfft(x: np.ndarray, *, axis: int = -1, workers: int = 1) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=axis, workers=workers)``: float32 -> complex64, float64 -> complex128."""
    pfft = _pocketfft()
    if pfft is None:
        import scipy.fft

        return scipy.fft.rfft(x, axis=axis, workers=workers)
    x = _real(x)
    if x.shape[axis] < 1:
        raise ValueError(f"invalid number of data points ({x.shape[axis]}) specified")
    return pfft.r2c(x, (axis,), True, _NORM_BACKWARD, None, workers)


def dct_ortho(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """``scipy.fft.dct(x, type=2, axis=axis, norm="ortho")``."""
    pfft = _pocketfft()
    if pfft is None:
        import scipy.fft

        return scipy.fft.dct(x, type=2, axis=axis, norm="ortho")
    x = _real(x)
    if x.shape[axis] < 1:
        raise ValueError(f"invalid number of data points ({x.shape[axis]}) specified")
    return pfft.dct(x, 2, (axis,), _NORM_ORTHO, None, 1, None)


class SparseRows:
    """A dense matrix ``(rows, cols)`` stored by its non-zeros (CSR), for products with dense blocks.

    ``self @ b`` for ``b`` of shape ``(cols, k)`` equals
    ``scipy.sparse.csr_matrix(matrix) @ b`` bit for bit (same kernel, same
    order of summation: each output row accumulates its non-zeros left to right).
    """

    def __init__(self, matrix: np.ndarray):
        m = np.asarray(matrix)
        self.shape = m.shape
        self.dtype = m.dtype
        rows, cols = np.nonzero(m)
        self.indptr = np.searchsorted(rows, np.arange(m.shape[0] + 1)).astype(np.int32)
        self.indices = cols.astype(np.int32)
        self.data = np.ascontiguousarray(m[rows, cols])
        self.nnz = int(self.data.shape[0])
        self._public = None

    def __matmul__(self, b: np.ndarray) -> np.ndarray:
        tools = _extension("sparse", "_sparsetools")
        if tools is None:
            if self._public is None:
                import scipy.sparse

                self._public = scipy.sparse.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)
            return self._public @ b
        if b.ndim != 2 or b.shape[0] != self.shape[1]:
            raise ValueError(f"cannot multiply a {self.shape} matrix by an array of shape {b.shape}")
        out_dtype = np.result_type(self.dtype, b.dtype)
        return self._into(tools, np.ascontiguousarray(b, dtype=out_dtype),
                          np.zeros((self.shape[0], b.shape[1]), out_dtype))

    def matmul_into(self, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``self @ b`` written to ``out`` (returned), the same bits; for a loop over blocks.

        ``b`` ``(cols, k)`` and ``out`` ``(rows, k)``: C-contiguous, both of this matrix's dtype.
        """
        tools = _extension("sparse", "_sparsetools")
        if tools is None:
            out[...] = self @ b
            return out
        if b.dtype != self.dtype or out.dtype != self.dtype or not (b.flags.c_contiguous and out.flags.c_contiguous):
            raise ValueError("matmul_into needs C-contiguous arrays of the matrix's dtype")
        if b.shape[0] != self.shape[1] or out.shape != (self.shape[0], b.shape[1]):
            raise ValueError(f"cannot multiply a {self.shape} matrix by {b.shape} into {out.shape}")
        out.fill(0)
        return self._into(tools, b, out)

    def _into(self, tools, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Accumulate ``self @ b`` into the zeroed ``out`` (scipy's ``csr_matvecs``)."""
        tools.csr_matvecs(self.shape[0], self.shape[1], b.shape[1], self.indptr, self.indices,
                          self.data.astype(out.dtype, copy=False), b.ravel(), out.ravel())
        return out


__all__ = ["SparseRows", "dct_ortho", "rfft"]
