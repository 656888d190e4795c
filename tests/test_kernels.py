"""scipy's kernels loaded without their packages (features/kernels.py) give the public functions' exact bits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

from avalign.features import dsp, kernels

SRC = Path(__file__).resolve().parents[1] / "src"


def test_kernels_load_directly():
    assert kernels._pocketfft() is not None
    assert kernels._extension("sparse", "_sparsetools") is not None


_RACE = """
import importlib.util, sys, threading, time
import numpy as np
from avalign.features import kernels
real, calls = importlib.util.module_from_spec, []
def slow(spec):  # widen the window in which a second thread could load the same file
    calls.append(spec.name)
    time.sleep(0.05)
    return real(spec)
importlib.util.module_from_spec = slow
start, got = threading.Barrier(16), []
def first_call():
    start.wait()
    got.append((kernels._pocketfft(), kernels.rfft(np.ones(8, np.float32)).shape))
threads = [threading.Thread(target=first_call) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
assert len(got) == 16 and len({id(m) for m, _ in got}) == 1 and calls == ["scipy.fft._pocketfft.pypocketfft"], calls
import scipy.fft
assert sys.modules["scipy.fft._pocketfft.pypocketfft"] is got[0][0]
"""


def test_concurrent_first_calls_load_the_extension_once():
    """The mel's threads make the first FFT calls together: one load, one module, complete for all of them."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("AVALIGN_PUBLIC_SCIPY", None)
    proc = subprocess.run([sys.executable, "-c", _RACE], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_an_extension_scipy_imported_already_is_reused():
    proc = subprocess.run([sys.executable, "-c", "import sys, scipy.fft\nfrom avalign.features import kernels\n"
                           "assert kernels._pocketfft() is sys.modules['scipy.fft._pocketfft.pypocketfft']"],
                          env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2100), k=st.integers(1, 5), f32=st.booleans(), seed=st.integers(0, 2**16))
def test_rfft_and_dct_equal_scipy_fft(n, k, f32, seed):
    x = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32 if f32 else np.float64)
    for axis, a in ((-1, x), (0, x.T)):  # also the transposed (F-ordered) view mel_spectrogram transforms
        got, want = kernels.rfft(a, axis=axis), scipy.fft.rfft(a, axis=axis, workers=1)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        got, want = kernels.dct_ortho(a, axis=axis), scipy.fft.dct(a, type=2, axis=axis, norm="ortho")
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bank", [
    dict(sample_rate=16000, n_fft=800, n_mels=80, fmin=55.0, fmax=7600.0),  # Wav2Lip
    dict(sample_rate=16000, n_fft=400, n_mels=80),
    dict(sample_rate=16000, n_fft=2048, n_mels=128),
])
def test_sparse_rows_equal_csr_matrix(bank, dtype):
    fb_t = np.ascontiguousarray(dsp.mel_filterbank(**bank).T.astype(dtype))
    rng = np.random.default_rng(3)
    for t in (1, 7, 128):
        s = (np.abs(rng.standard_normal((fb_t.shape[1], t))) * 10).astype(dtype)
        got, want = kernels.SparseRows(fb_t) @ s, scipy.sparse.csr_matrix(fb_t) @ s
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # a non-contiguous block (a slice of the bins x frames buffer, as in mel_spectrogram)
    buf = (np.abs(rng.standard_normal((fb_t.shape[1], 128))) * 10).astype(dtype)
    assert np.array_equal(kernels.SparseRows(fb_t) @ buf[:, :50], scipy.sparse.csr_matrix(fb_t) @ buf[:, :50])
    # into a reused buffer (the mel's block loop): stale contents are cleared, the bits are the same
    rows = kernels.SparseRows(fb_t.astype(dtype))
    acc = np.full((fb_t.shape[0], 128), 7, dtype)
    assert rows.matmul_into(buf, acc) is acc and np.array_equal(acc, scipy.sparse.csr_matrix(fb_t.astype(dtype)) @ buf)
    with pytest.raises(ValueError):
        rows.matmul_into(buf[:, :50], acc[:, :50])  # not C-contiguous


_PROBE = """
import hashlib, json, sys
import numpy as np
from avalign.features.spectral import MFCC, WAV2LIP_MEL, Mel
x = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
outs = [Mel(**WAV2LIP_MEL).compute(x), Mel(n_mfcc=13, lifter=22).compute(x), Mel(precision="float64").compute(x),
        MFCC().compute(x * 32768)]
print(json.dumps({"digests": [hashlib.sha256(o.tobytes()).hexdigest() for o in outs],
                  "fft": "scipy.fft" in sys.modules, "sparse": "scipy.sparse" in sys.modules}))
"""


def _probe(**env):
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(SRC), **env))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_spectral_features_same_through_public_scipy():
    direct, public = _probe(), _probe(AVALIGN_PUBLIC_SCIPY="1")
    assert not direct["fft"] and not direct["sparse"]  # the fast route imports neither package
    assert public["fft"] and public["sparse"]  # the fallback really took the public route
    assert direct["digests"] == public["digests"]
