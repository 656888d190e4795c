"""DeepSpeech v0.1.0 logits without TensorFlow (the VOCA / AD-NeRF / RAD-NeRF / ER-NeRF / DINet feature).

``create("deepspeech", model="output_graph.pb")`` gives 29 raw logits per
20 ms step, computed by :mod:`.network` (torch) from the frozen graph's
weights (:mod:`.weights`, cached as safetensors) on the lineage's inputs
(:mod:`.inputs`). Rows: ``N50 = ceil(F100 / 2)`` with
``F100 = 1 + ceil((n - 400) / 160)`` (1 when ``n <= 400``).

Timing: step ``j`` is centred on MFCC frame ``2j``, samples
``[320 j, 320 j + 400)``, so its centre is ``12.5 ms + 20 ms * j``
(``timing="centre"``, the default). Every published consumer instead treats
step ``j`` as time ``j / 50`` s; ``timing="lineage"`` puts the grid there. The
bidirectional LSTM makes every step depend on the whole clip; the grid's
``window`` (400 samples) is the centre frame's only.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ...errors import InputError, ModelError
from ...media import Audio
from ...timing import FrameGrid
from ..base import Extractor
from .inputs import input_vectors, lineage_int16, num_steps, read_wav
from .weights import load_weights

def load_model(model, *, device: str | None = None):
    """``(torch module, info)`` for a v0.1.0 ``.pb`` on ``device``, loaded once per process."""
    from ..neural import cached, resolve_device
    from .network import build

    if model is None:
        raise ModelError("DeepSpeech needs the v0.1.0 graph: pass --model PATH/TO/output_graph.pb")
    dev = resolve_device(device)
    path = os.path.realpath(os.path.expanduser(os.fspath(model)))

    def load():
        weights, info = load_weights(model)
        return build(weights, device=dev), {**info, "device": dev}

    try:
        st = os.stat(path)
    except OSError:
        return load()  # raises the clear ModelError
    return cached(("deepspeech", path, st.st_size, st.st_mtime_ns, dev), load)


def logits(samples_list, *, model, device: str | None = None, batch_size: int = 8) -> list:
    """Raw logits ``(N50_i, 29)`` float32 for each int16-valued 16 kHz clip in ``samples_list`` (one batch run)."""
    from .network import run

    module, info = load_model(model, device=device)
    xs = [input_vectors(s) for s in samples_list]
    return run(module, xs, device=info["device"], batch_size=batch_size)


@dataclass(frozen=True)
class DeepSpeechConfig:
    """DeepSpeech v0.1.0 settings.

    ``model``: path of the frozen graph (``output_graph.pb`` /
    ``deepspeech-0_1_0-b90017e8.pb``). ``device``: ``cpu``, ``cuda`` or
    ``auto``. ``timing``: ``centre`` (t0 = 12.5 ms) or ``lineage`` (t0 = 0).
    """

    sample_rate: int = 16000
    model: str | None = None
    device: str | None = None
    timing: str = "centre"
    batch_size: int = 8

    def __post_init__(self):
        if self.sample_rate != 16000:
            raise InputError("DeepSpeech v0.1.0 reads 16 kHz audio; sample_rate must be 16000")
        if self.timing not in ("centre", "lineage"):
            raise InputError(f"bad timing {self.timing!r}: expected 'centre' or 'lineage'")
        if self.model is not None:
            object.__setattr__(self, "model", os.fspath(self.model))


class DeepSpeech(Extractor):
    """Raw logits of DeepSpeech v0.1.0, shape ``(N50, 29)``, 50 per second.

    Computed on int16 magnitudes (audio given as float in [-1, 1) is scaled
    by 32768 and rounded first).
    """

    name = "deepspeech"
    Config = DeepSpeechConfig
    input_scale = "int16"

    def num_frames(self, n_samples: int) -> int:
        return num_steps(n_samples)

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        first = Fraction(200, 16000) if self.config.timing == "centre" else Fraction(0)
        return FrameGrid(Fraction(50), self.num_frames(n_samples), Fraction(t0) + first, 320, 400, 16000)

    def prepare(self, audio: Audio) -> Audio:
        audio = super().prepare(audio)
        if audio.scale != "int16":
            x = np.clip(np.round(audio.samples.astype(np.float64) * 32768.0), -32768, 32767)
            audio = dataclasses.replace(audio, samples=x.astype(np.float32), scale="int16")
        return audio

    def compute(self, samples: np.ndarray) -> np.ndarray:
        return self.compute_batch([samples])[0]

    def compute_batch(self, samples_list) -> list:
        """Logits for several int16-valued 16 kHz clips in batched network runs."""
        c = self.config
        clips = [np.asarray(s, dtype=np.float64).astype(np.int16) for s in samples_list]
        return logits(clips, model=c.model, device=c.device, batch_size=c.batch_size)


__all__ = ["DeepSpeech", "DeepSpeechConfig", "input_vectors", "lineage_int16", "load_model", "load_weights",
           "logits", "num_steps", "read_wav"]
