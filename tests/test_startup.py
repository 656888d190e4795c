"""Start-up of the spectral CLI path: which modules it imports (a property, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from avalign import synth

SRC = Path(__file__).resolve().parents[1] / "src"

#: Packages the wav2lip path must never import (each costs from 0.1 s to seconds of start-up).
HEAVY = ("scipy.signal", "scipy.stats", "torch", "transformers", "matplotlib", "ray")
#: Also absent on that path for a PCM WAV: scipy's FFT and sparse packages (their kernels are loaded
#: directly, features/kernels.py), PyAV (the WAV is read directly), package metadata (sidecar versions).
WAV_PATH_ABSENT = HEAVY + ("scipy.fft", "scipy.sparse", "scipy._lib", "av", "importlib.metadata", "email")

_PROBE = """
import json, sys
from avalign.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def test_wav2lip_extract_imports_no_heavy_package(tmp_path):
    wav = tmp_path / "x.wav"
    synth.write_wav(wav, synth.speech_like(2.0))
    out = tmp_path / "x.npy"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-c", _PROBE, "extract", str(wav), "--preset", "wav2lip", "--fps", "25",
                           "-o", str(out), "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0
    mods = set(report["modules"])
    loaded = sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in WAV_PATH_ABSENT))
    assert loaded == [] or loaded == ["scipy.sparse._sparsetools"]  # the kernel module itself, loaded from its file
    # the other subcommands (batch, check, explain, plot) are not imported either
    assert not {"avalign.batch", "avalign.check", "avalign.explain", "avalign.plot"} & mods
    assert np.load(out).shape[1:] == (80, 16)
    # versions are still reported, read without importlib.metadata
    from importlib import metadata

    versions = json.loads(out.with_suffix(".json").read_text())["versions"]
    assert {"numpy", "scipy", "av", "soxr"} <= set(versions)
    for name in ("numpy", "scipy", "av", "soxr"):
        assert versions[name] == metadata.version(name)


def test_periodic_hann_equals_scipy():
    import scipy.signal

    from avalign.features import dsp

    for n in [2, 3, 4, 5, 400, 511, 512, 640, 800, 1024, 2048]:
        assert np.array_equal(dsp.get_window("hann", n, n), scipy.signal.get_window("hann", n, fftbins=True)), n
    # zero-padded at the centre to n_fft, as librosa pads
    w = dsp.get_window("hann", 400, 512)
    assert np.array_equal(w[56:456], scipy.signal.get_window("hann", 400, fftbins=True))
    assert not w[:56].any() and not w[456:].any()
