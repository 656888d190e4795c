"""Whisper features: the log-mel spectrogram and the encoder's hidden states (B4 in conventions.md).

Two extractors:

- ``whisper-mel`` (:class:`WhisperLogMel`): the log-mel that Whisper's
  encoder reads, 100 Hz, ``n // 160`` frames of 80 or 128 bands. ``scope``
  says where the normalisation ``max(x, x.max() - 8)`` looks: ``file`` is
  openai-whisper's ``log_mel_spectrogram`` (the whole array); ``segment`` is
  transformers' ``WhisperFeatureExtractor`` applied to each 30 s segment
  (zero-padded to 30 s, normalised alone).
- ``whisper`` (:class:`WhisperEncoder`): encoder hidden states, 50 Hz,
  ``n // 320`` frames (``floor(d * 50)``); frame ``j`` is centred at
  ``20 ms * j``. The encoder only reads 30 s inputs (3000 mel frames), so
  audio is cut into 30 s inputs and the outputs trimmed back to the true
  length:

  - ``long="segments"``: independent 30 s segments, concatenated (what
    MuseTalk, LatentSync and EchoMimic do). Frames next to a seam see no
    context across it and sit at the edge of the positional range.
  - ``long="overlap"`` (default): 30 s windows every ``30 - 2*context``
    seconds, the last one ending at the audio's end; every frame is taken
    from the window where it has the most context on its nearer side. Better
    for new work: no seams, no padding for audio of 30 s or more.

  ``convention`` picks which hidden states: ``openai`` (embeddings + each
  block's output, all before the final layer norm, as openai-whisper's
  encoder and the systems built on it) or ``transformers`` (transformers'
  ``hidden_states``: the last one is after the final layer norm, equal to
  ``last_hidden_state``). ``layers``: ``all`` (stacked, ``(T, L+1, d)``),
  ``last`` or an index into the stack (``(T, d)``).

Models: a local directory in transformers format, a model id, or an
openai-format ``.pt`` checkpoint (read with ``torch.load(weights_only=True)``
and mapped onto transformers' encoder). Only the encoder is kept; it is
loaded once per extractor.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import InputError, ModelError
from ..timing import FrameGrid, whisper_num_frames
from . import dsp, neural
from .base import Extractor

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
#: Samples, mel frames and encoder frames of one 30 s encoder input.
SEGMENT_SAMPLES = 30 * SAMPLE_RATE
SEGMENT_MEL_FRAMES = SEGMENT_SAMPLES // HOP
SEGMENT_FRAMES = SEGMENT_MEL_FRAMES // 2
#: Samples per encoder frame (50 Hz) and the local support of the conv front end around its centre.
ENCODER_HOP = 2 * HOP
ENCODER_SUPPORT = 1040

CONVENTIONS = ("openai", "transformers")
SCOPES = ("file", "segment")
PADS = ("mel", "audio")
LONG_MODES = ("segments", "overlap")

#: Encoder architectures of the public checkpoints (``openai/whisper-<size>``).
ARCHITECTURES = {
    "tiny": dict(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048),
    "small": dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072),
    "medium": dict(d_model=1024, encoder_layers=24, encoder_attention_heads=16, encoder_ffn_dim=4096),
}


# ---------------------------------------------------------------------------
# Log-mel
# ---------------------------------------------------------------------------


def log10_mel(samples: np.ndarray, *, n_mels: int = 80, block: int = 8192) -> np.ndarray:
    """``log10(max(mel power, 1e-10))`` as Whisper computes it, before normalisation.

    Centred STFT (n_fft 400, periodic Hann, hop 160, reflect padding), the
    last frame dropped, power spectrum, Slaney mel filters 0-8 kHz. Computed
    ``block`` frames at a time (bounded memory on long audio; same values).

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Audio at 16 kHz; more than 200 samples (the reflect padding).
    n_mels : int
        80, or 128 (large-v3).
    block : int
        Frames per STFT call.

    Returns
    -------
    ndarray, shape (n // 160, n_mels), float64
    """
    x = np.asarray(samples, dtype=np.float32).astype(np.float64)
    half = N_FFT // 2
    if x.shape[0] <= half:
        raise InputError(f"whisper's log-mel needs more than {half} samples (reflect padding), got {x.shape[0]}")
    padded = np.pad(x, half, mode="reflect")
    total = x.shape[0] // HOP
    fb = dsp.mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels)
    mel = np.empty((total, n_mels), dtype=np.float64)
    for i0 in range(0, total, block):
        i1 = min(i0 + block, total)
        piece = padded[i0 * HOP:(i1 - 1) * HOP + N_FFT]
        mel[i0:i1] = dsp.spectrogram(piece, power=2.0, n_fft=N_FFT, hop=HOP, center=False) @ fb
    return np.log10(np.maximum(mel, 1e-10))


def normalise(log_spec: np.ndarray) -> np.ndarray:
    """Whisper's level normalisation over the whole array given: ``(max(x, x.max() - 8) + 4) / 4``."""
    if log_spec.size == 0:
        return log_spec.copy()
    return (np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0


def _segment_log_mel(chunk: np.ndarray, *, n_mels: int) -> np.ndarray:
    """transformers' WhisperFeatureExtractor on one chunk of at most 30 s: ``(3000, n_mels)``, float64."""
    padded = np.zeros(SEGMENT_SAMPLES, dtype=np.float32)
    padded[:chunk.shape[0]] = chunk
    return normalise(log10_mel(padded, n_mels=n_mels))


def log_mel(samples: np.ndarray, *, n_mels: int = 80, scope: str = "file") -> np.ndarray:
    """Whisper's normalised log-mel, shape ``(n // 160, n_mels)``, float32 (100 Hz, frame ``t`` centred at sample ``160 t``).

    ``scope="file"``: openai-whisper's ``log_mel_spectrogram`` (normalised over
    the whole array). ``scope="segment"``: transformers' feature extractor on
    each 30 s segment (zero-padded to 30 s, normalised alone), trimmed back
    to the audio's length.
    """
    if scope not in SCOPES:
        raise InputError(f"bad whisper log-mel scope {scope!r}; expected one of {', '.join(SCOPES)}")
    x = np.asarray(samples, dtype=np.float32)
    n = x.shape[0]
    if scope == "file":
        return normalise(log10_mel(x, n_mels=n_mels)).astype(np.float32)
    out = np.empty((n // HOP, n_mels), dtype=np.float32)
    for start in range(0, n, SEGMENT_SAMPLES):
        chunk = x[start:start + SEGMENT_SAMPLES]
        frames = chunk.shape[0] // HOP
        out[start // HOP:start // HOP + frames] = _segment_log_mel(chunk, n_mels=n_mels)[:frames]
    return out


@dataclass(frozen=True)
class WhisperLogMelConfig:
    """Whisper log-mel settings.

    Attributes
    ----------
    n_mels : int
        80 (all sizes up to large-v2) or 128 (large-v3).
    scope : str
        ``file`` (openai-whisper: one max over the whole array) or ``segment``
        (transformers: each 30 s segment zero-padded to 30 s and normalised alone).
    sample_rate : int
        16000 Hz.
    """

    n_mels: int = 80
    scope: str = "file"
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if int(self.n_mels) not in (80, 128):
            raise InputError(f"whisper log-mel has 80 or 128 bands, not {self.n_mels}")
        if self.scope not in SCOPES:
            raise InputError(f"bad whisper log-mel scope {self.scope!r}; expected one of {', '.join(SCOPES)}")
        if int(self.sample_rate) != SAMPLE_RATE:
            raise InputError(f"whisper reads 16000 Hz audio, not {self.sample_rate}")


class WhisperLogMel(Extractor):
    """Whisper's log-mel, ``(n // 160, n_mels)``; frame ``t`` centred at sample ``160 t`` (100 Hz)."""

    name = "whisper-mel"
    Config = WhisperLogMelConfig

    @property
    def min_samples(self) -> int:
        # one frame needs 160 samples; the whole-file STFT's reflect padding needs more than 200
        return N_FFT // 2 + 1 if self.config.scope == "file" else HOP

    def num_frames(self, n_samples: int) -> int:
        return whisper_num_frames(int(n_samples), hop=HOP)["mel"]

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        return FrameGrid(Fraction(SAMPLE_RATE, HOP), self.num_frames(n_samples), Fraction(t0), HOP, N_FFT,
                         SAMPLE_RATE)

    def compute(self, samples: np.ndarray) -> np.ndarray:
        return log_mel(samples, n_mels=self.config.n_mels, scope=self.config.scope)


# ---------------------------------------------------------------------------
# Encoder inputs: 30 s windows of normalised log-mel
# ---------------------------------------------------------------------------


def window_starts(num_frames: int, *, long: str = "overlap", context: int = 250) -> np.ndarray:
    """First encoder frame of each 30 s encoder input, int64.

    Parameters
    ----------
    num_frames : int
        Encoder frames to cover (``n // 320``).
    long : str
        ``segments``: ``0, 1500, 3000, ...``. ``overlap``: every ``1500 - 2*context``
        frames, the last window ending at ``num_frames`` (one window at 0 when
        ``num_frames <= 1500``).
    context : int
        Encoder frames of context kept on each side of a window's own part (overlap).
    """
    if long not in LONG_MODES:
        raise InputError(f"bad long-audio mode {long!r}; expected one of {', '.join(LONG_MODES)}")
    if long == "segments" or num_frames <= SEGMENT_FRAMES:
        return np.arange(0, max(num_frames, 1), SEGMENT_FRAMES, dtype=np.int64)
    stride = SEGMENT_FRAMES - 2 * int(context)
    if stride <= 0:
        raise InputError(f"overlap context of {context} frames leaves no stride in a window of {SEGMENT_FRAMES}")
    last = num_frames - SEGMENT_FRAMES
    return np.append(np.arange(0, last, stride, dtype=np.int64), np.int64(last))


def frame_sources(num_frames: int, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each output frame, the window it is taken from and its position there.

    Each frame comes from the window (of those that hold it) where its
    distance to the nearer window edge is largest; ties go to the earlier
    window. Returns ``(window, offset)``, both shape ``(num_frames,)``, int64.
    """
    starts = np.asarray(starts, dtype=np.int64)
    best = np.full(num_frames, -1, dtype=np.int64)
    win = np.zeros(num_frames, dtype=np.int64)
    for k, s in enumerate(starts):
        j = np.arange(s, min(int(s) + SEGMENT_FRAMES, num_frames), dtype=np.int64)
        margin = np.minimum(j - s, s + SEGMENT_FRAMES - 1 - j)
        better = margin > best[j]
        best[j[better]] = margin[better]
        win[j[better]] = k
    return win, np.arange(num_frames, dtype=np.int64) - starts[win]


def encoder_inputs(samples: np.ndarray, *, n_mels: int = 80, long: str = "overlap", norm: str = "segment",
                   pad: str = "audio", context: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """The normalised log-mel inputs of every 30 s encoder window.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        16 kHz audio.
    n_mels : int
        Bands the model reads (80 or 128).
    long : str
        ``segments`` or ``overlap`` (see :func:`window_starts`).
    norm : str
        Normalisation scope: ``file`` (openai: one max over the whole file) or
        ``segment`` (each 30 s input normalised alone, as transformers' extractor).
    pad : str
        How an input shorter than 30 s is filled: ``mel`` (zeros in the
        normalised log-mel, openai's ``pad_or_trim`` on the mel) or ``audio``
        (zero samples before the STFT, transformers' extractor).
    context : int
        Encoder frames of context on each side (overlap).

    Returns
    -------
    inputs : ndarray, shape (S, 3000, n_mels), float32
    starts : ndarray, shape (S,), int64
        First encoder frame of each input.
    """
    if norm not in SCOPES:
        raise InputError(f"bad normalisation scope {norm!r}; expected one of {', '.join(SCOPES)}")
    if pad not in PADS:
        raise InputError(f"bad padding {pad!r}; expected one of {', '.join(PADS)}")
    x = np.asarray(samples, dtype=np.float32)
    n = x.shape[0]
    starts = window_starts(n // ENCODER_HOP, long=long, context=context)
    out = np.zeros((len(starts), SEGMENT_MEL_FRAMES, n_mels), dtype=np.float32)
    if long == "segments" and norm == "segment":
        # transformers' extractor (pad="audio") or openai's mel on each segment alone (pad="mel")
        for k, s in enumerate(starts):
            chunk = x[int(s) * ENCODER_HOP:int(s) * ENCODER_HOP + SEGMENT_SAMPLES]
            if pad == "audio":
                out[k] = _segment_log_mel(chunk, n_mels=n_mels)
            else:
                seg = normalise(log10_mel(chunk, n_mels=n_mels))
                out[k, :seg.shape[0]] = seg
        return out, starts
    if pad == "audio":
        # zero samples up to the end of the last 30 s input
        total = max(int(starts[-1]) * 2 * HOP + SEGMENT_SAMPLES, n)
        x = np.concatenate([x, np.zeros(total - n, dtype=np.float32)])
    log_spec = log10_mel(x, n_mels=n_mels)
    if norm == "file":
        log_spec = normalise(log_spec)
    for k, s in enumerate(starts):
        seg = log_spec[2 * int(s):2 * int(s) + SEGMENT_MEL_FRAMES]
        out[k, :seg.shape[0]] = normalise(seg) if norm == "segment" else seg
    return out, starts


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """Whisper's sinusoidal positional table, shape ``(length, channels)``: sines then cosines."""
    half = channels // 2
    increment = math.log(max_timescale) / (half - 1)
    inv = np.exp(-increment * np.arange(half, dtype=np.float32))
    t = np.arange(length, dtype=np.float32)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


#: openai-whisper encoder parameter names -> transformers WhisperEncoder names (per block ``{i}``).
_OPENAI_BLOCK_NAMES = {
    "attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj", "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj", "attn_ln": "self_attn_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}


def openai_encoder_state(state: dict) -> dict:
    """Map an openai-whisper ``model_state_dict`` onto transformers' ``WhisperEncoder`` parameter names.

    Decoder entries are dropped; a missing positional table is filled with :func:`sinusoids`.
    """
    out = {}
    for key, value in state.items():
        if not key.startswith("encoder."):
            continue
        key = key[len("encoder."):]
        if key == "positional_embedding":
            out["embed_positions.weight"] = value
        elif key.startswith("ln_post."):
            out["layer_norm." + key[len("ln_post."):]] = value
        elif key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            module, _, param = rest.rpartition(".")
            if module not in _OPENAI_BLOCK_NAMES:
                raise ModelError(f"unexpected parameter {key!r} in an openai whisper checkpoint")
            out[f"layers.{i}.{_OPENAI_BLOCK_NAMES[module]}.{param}"] = value
        else:
            out[key] = value  # conv1.*, conv2.*
    return out


def _load_openai_checkpoint(path: Path):
    """An openai-format ``.pt`` (``{"dims": ..., "model_state_dict": ...}``) -> transformers WhisperEncoder."""
    torch = neural.torch()
    tf = neural.transformers()
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
        dims, state = ckpt["dims"], ckpt["model_state_dict"]
        n_state = int(dims["n_audio_state"])
        with neural.quiet_transformers(tf):  # a small vocabulary warns about the default token ids
            cfg = tf.WhisperConfig(
                num_mel_bins=int(dims["n_mels"]), max_source_positions=int(dims["n_audio_ctx"]), d_model=n_state,
                encoder_attention_heads=int(dims["n_audio_head"]), encoder_layers=int(dims["n_audio_layer"]),
                encoder_ffn_dim=4 * n_state, vocab_size=int(dims["n_vocab"]),
                max_target_positions=int(dims["n_text_ctx"]), decoder_layers=int(dims["n_text_layer"]),
                decoder_attention_heads=int(dims["n_text_head"]), decoder_ffn_dim=4 * int(dims["n_text_state"]))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, AttributeError,
            pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot read {path} as an openai whisper checkpoint: {first}") from None
    from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFEncoder

    neural.check_config(cfg, path, encoder_only=True)  # only the encoder is built
    encoder = HFEncoder(cfg)
    mapped = openai_encoder_state(state)
    if "embed_positions.weight" not in mapped:
        mapped["embed_positions.weight"] = torch.from_numpy(sinusoids(cfg.max_source_positions, n_state))
    try:
        encoder.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit a whisper encoder: {str(exc).splitlines()[0]}") from None
    return encoder


def _stack_states(torch, hs: list, layers) -> np.ndarray:
    """The chosen hidden states (``all``, ``last`` or an index) stacked on axis 2, float32 numpy ``(B, T, K, d)``."""
    if layers == "all":
        pick = hs
    elif layers == "last":
        pick = hs[-1:]
    else:
        pick = [hs[int(layers)]]
    return torch.stack(pick, dim=2).float().cpu().numpy()


class EncoderModel:
    """A loaded Whisper encoder (transformers' ``WhisperEncoder``) on a device, in a dtype.

    Attributes
    ----------
    n_mels, d_model, num_layers : int
        Mel bands it reads, hidden width, transformer blocks (hidden states: ``num_layers + 1``).
    """

    def __init__(self, model, *, device: str | None = None, dtype: str = "float32"):
        torch = neural.torch()
        self.device = neural.resolve_device(device)
        self.dtype = neural.resolve_dtype(dtype, self.device)
        name = os.fspath(model) if model is not None else None
        if name is not None and Path(name).expanduser().is_file():
            encoder = _load_openai_checkpoint(Path(name).expanduser())
        else:
            cfg = neural.model_config(name, expected=("whisper",), feature="whisper")
            neural.check_config(cfg, name)
            whole = neural.from_pretrained(neural.transformers().WhisperModel, name, weights=True)
            encoder = whole.encoder
            del whole
        cfg = encoder.config
        if int(cfg.max_source_positions) * 2 != SEGMENT_MEL_FRAMES:
            raise ModelError(f"{name}: encoder reads {cfg.max_source_positions * 2} mel frames, not 3000")
        self.n_mels = int(cfg.num_mel_bins)
        self.d_model = int(cfg.d_model)
        self.num_layers = int(cfg.encoder_layers)
        self.name = name
        self.module = encoder.to(self.device, self.dtype).eval()
        self._torch = torch

    def states(self, inputs: np.ndarray, *, convention: str = "transformers", layers="all") -> np.ndarray:
        """Hidden states of a batch of 30 s inputs.

        Parameters
        ----------
        inputs : ndarray, shape (B, 3000, n_mels)
            Normalised log-mel, time-major.
        convention : str
            ``openai`` (all states before the final layer norm) or ``transformers``
            (the last state after it).
        layers : "all", "last" or int
            Which states: all ``L + 1`` stacked, the last, or one index into the stack.

        Returns
        -------
        ndarray, shape (B, 1500, K, d_model), float32 (``K = L + 1`` for ``all``, else 1)
        """
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 2, 1))).to(self.device, self.dtype)
        captured = []

        def keep(_module, _args, output):
            captured.append(output[0] if isinstance(output, tuple) else output)

        hook = self.module.layers[-1].register_forward_hook(keep) if convention == "openai" else None
        try:
            with torch.inference_mode():
                out = self.module(x, output_hidden_states=True)
        finally:
            if hook is not None:
                hook.remove()
        hs = list(out.hidden_states)
        if convention == "openai":
            hs[-1] = captured[-1]
        return _stack_states(torch, hs, layers)

    def window_states(self, mel: np.ndarray, *, convention: str = "transformers", layers="all") -> np.ndarray:
        """Hidden states of one input of any length up to 30 s, without padding it to 30 s.

        The encoder's own modules run on ``M`` mel frames: the conv front end,
        the first ``ceil(M / 2)`` rows of the positional table (the input is
        placed at the start of the positional range, as a clip that starts
        there), the blocks and the final layer norm (the ``transformers``
        convention). transformers' ``WhisperEncoder.forward`` and openai-whisper
        both refuse anything but 3000 frames; the arithmetic per block is theirs.

        Parameters
        ----------
        mel : ndarray, shape (M, n_mels)
            Normalised log-mel, time-major, ``2 <= M <= 3000``.
        convention, layers :
            As :meth:`states`.

        Returns
        -------
        ndarray, shape (ceil(M / 2), K, d_model), float32
        """
        torch = self._torch
        m = self.module
        frames = int(mel.shape[0])
        if not 2 <= frames <= SEGMENT_MEL_FRAMES:
            raise InputError(f"a whisper window holds 2 to {SEGMENT_MEL_FRAMES} mel frames, got {frames}")
        gelu = torch.nn.functional.gelu
        x = torch.from_numpy(np.ascontiguousarray(mel.T[None])).to(self.device, self.dtype)
        with torch.inference_mode():
            h = gelu(m.conv2(gelu(m.conv1(x)))).permute(0, 2, 1)
            h = h + m.embed_positions.weight[:h.shape[1]]
            hs = [h]
            for layer in m.layers:
                out = layer(h, None, **self._layer_kwargs)
                h = out[0] if isinstance(out, tuple) else out
                hs.append(h)
            if convention != "openai":
                hs[-1] = m.layer_norm(h)
            return _stack_states(torch, hs, layers)[0]

    @functools.cached_property
    def _layer_kwargs(self) -> dict:
        """Extra arguments of an encoder block call (transformers 4.x wants ``layer_head_mask``); looked up once."""
        import inspect

        params = inspect.signature(self.module.layers[0].forward).parameters
        return {"layer_head_mask": None} if "layer_head_mask" in params else {}


def load_encoder(model, *, device: str | None = None, dtype: str = "float32") -> EncoderModel:
    """The :class:`EncoderModel` for ``model`` on ``device`` in ``dtype``, loaded once and shared.

    Kept in :func:`avalign.features.neural.cached` (the last few loaded models stay in memory).
    """
    key = ("whisper", None if model is None else os.fspath(model), neural.resolve_device(device), dtype)
    return neural.cached(key, lambda: EncoderModel(model, device=device, dtype=dtype))


# ---------------------------------------------------------------------------
# The extractor
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperEncoderConfig:
    """Whisper encoder feature settings.

    Attributes
    ----------
    model : str or None
        Local directory in transformers format, a model id, or an openai-format ``.pt``.
    device : str or None
        ``cpu``, ``cuda`` or ``auto`` (None).
    dtype : str
        ``float32``; ``float16`` / ``bfloat16`` on CUDA. Outputs are float32.
    convention : str
        ``transformers`` (last state after the final layer norm) or ``openai`` (before it).
    layers : "all", "last" or int
        All hidden states stacked (``(T, L+1, d)``), the last, or one index
        into the stack (0 = embeddings; negative counts from the end).
    long : str
        ``overlap`` (default; windows with context across seams) or ``segments``
        (independent 30 s segments, as the systems).
    context : float
        Seconds of context on each side of a window's own frames (``overlap``), below 15.
    norm : str
        Log-mel normalisation scope: ``segment`` (each 30 s input alone,
        transformers) or ``file`` (the whole file, openai).
    pad : str
        How an input shorter than 30 s is filled: ``audio`` (zero samples,
        transformers) or ``mel`` (zero normalised log-mel, openai ``pad_or_trim``).
    batch_size : int
        30 s inputs per encoder call.
    sample_rate : int
        16000 Hz.
    """

    model: str | None = None
    device: str | None = None
    dtype: str = "float32"
    convention: str = "transformers"
    layers: str | int = "last"
    long: str = "overlap"
    context: float = 5.0
    norm: str = "segment"
    pad: str = "audio"
    batch_size: int = 1
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if self.model is not None and not isinstance(self.model, str):
            object.__setattr__(self, "model", os.fspath(self.model))
        if self.convention not in CONVENTIONS:
            raise InputError(f"bad whisper convention {self.convention!r}; expected one of {', '.join(CONVENTIONS)}")
        layers = self.layers
        if isinstance(layers, str) and layers.lstrip("-").isdigit():
            layers = int(layers)
        if not (layers in ("all", "last") or isinstance(layers, int)):
            raise InputError(f"bad layers {self.layers!r}; expected 'all', 'last' or an integer index")
        object.__setattr__(self, "layers", layers)
        if self.long not in LONG_MODES:
            raise InputError(f"bad long-audio mode {self.long!r}; expected one of {', '.join(LONG_MODES)}")
        if not 0 <= float(self.context) < SEGMENT_SAMPLES / SAMPLE_RATE / 2:
            raise InputError(f"overlap context must be in [0, 15) seconds, got {self.context}")
        if self.norm not in SCOPES:
            raise InputError(f"bad normalisation scope {self.norm!r}; expected one of {', '.join(SCOPES)}")
        if self.pad not in PADS:
            raise InputError(f"bad padding {self.pad!r}; expected one of {', '.join(PADS)}")
        if int(self.batch_size) < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")
        if int(self.sample_rate) != SAMPLE_RATE:
            raise InputError(f"whisper reads 16000 Hz audio, not {self.sample_rate}")
        if self.dtype not in neural.DTYPES:
            raise InputError(f"bad dtype {self.dtype!r}; expected one of {', '.join(neural.DTYPES)}")


class WhisperEncoder(Extractor):
    """Whisper encoder hidden states, ``(n // 320, ...)`` at 50 Hz; frame ``j`` centred at ``20 ms * j``.

    Shape ``(T, L+1, d)`` for ``layers="all"``, else ``(T, d)``. See the module docstring.
    """

    name = "whisper"
    Config = WhisperEncoderConfig

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self._model: EncoderModel | None = None

    @property
    def min_samples(self) -> int:
        return ENCODER_HOP

    def num_frames(self, n_samples: int) -> int:
        return whisper_num_frames(int(n_samples), hop=HOP)["encoder"]

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        return FrameGrid(Fraction(SAMPLE_RATE, ENCODER_HOP), self.num_frames(n_samples), Fraction(t0),
                         ENCODER_HOP, ENCODER_SUPPORT, SAMPLE_RATE)

    @property
    def model(self) -> EncoderModel:
        """The encoder, loaded on first use."""
        if self._model is None:
            c = self.config
            self._model = load_encoder(c.model, device=c.device, dtype=c.dtype)
        return self._model

    @property
    def context_frames(self) -> int:
        """Encoder frames of context on each side of a window (``round(context * 50)``)."""
        return int(round(float(self.config.context) * SAMPLE_RATE / ENCODER_HOP))

    def check_layers(self, m: EncoderModel) -> None:
        """InputError when ``layers`` is an index outside the model's ``L + 1`` hidden states."""
        layers = self.config.layers
        if layers not in ("all", "last") and not -(m.num_layers + 1) <= int(layers) <= m.num_layers:
            raise InputError(f"layer {layers} out of range: this model has {m.num_layers + 1} hidden states")

    def compute(self, samples: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.asarray(samples, dtype=np.float32)
        n = x.shape[0]
        if n < self.min_samples:
            from ..errors import AudioTooShortError

            raise AudioTooShortError(f"whisper needs at least {self.min_samples} samples (20 ms), got {n}")
        m = self.model
        t = self.num_frames(n)
        inputs, starts = encoder_inputs(x, n_mels=m.n_mels, long=c.long, norm=c.norm, pad=c.pad,
                                        context=self.context_frames)
        win, off = frame_sources(t, starts)
        k = m.num_layers + 1 if c.layers == "all" else 1
        self.check_layers(m)
        out = np.empty((t, k, m.d_model), dtype=np.float32)
        order = np.argsort(win, kind="stable")
        bounds = np.searchsorted(win[order], np.arange(len(starts) + 1))
        bs = int(c.batch_size)
        with progress.bar(total=len(starts), audio_seconds=n / SAMPLE_RATE, desc="whisper", unit="window") as bar:
            for b in range(0, len(starts), bs):
                states = m.states(inputs[b:b + bs], convention=c.convention, layers=c.layers)
                for w in range(b, min(b + bs, len(starts))):
                    rows = order[bounds[w]:bounds[w + 1]]
                    out[rows] = states[w - b, off[rows]]
                bar.advance(min(bs, len(starts) - b))
        return out if c.layers == "all" else out[:, 0]


# ---------------------------------------------------------------------------
# Bounded windows (streams)
# ---------------------------------------------------------------------------


class WhisperWindows:
    """A :class:`WhisperEncoder` run on bounded windows of audio instead of 30 s inputs (streams).

    A window of samples ``[320 f, 320 l)`` (encoder frames ``[f, l)``, at the end
    of the audio: up to its last sample) gives its own log-mel (reflect
    padding at the window's edges), normalised over the window alone, and the
    encoder runs on those ``2 (l - f)`` mel frames with positions ``0 .. l-f-1``
    (:meth:`EncoderModel.window_states`): no padding to 30 s, so the cost grows
    with the window, not a fixed 30 s. Frame ``j`` of the window is encoder
    frame ``f + j``. This is the interface :class:`avalign.streaming.sources.ChunkedFrames`
    and :func:`avalign.streaming.offline_chunked` run: ``receptive_field`` is
    ``(320, 320)`` (a chunk of frames ``[f, l)`` reads exactly samples
    ``[320 f, 320 l)``), ``normalise`` is the identity (the log-mel level
    normalisation happens inside :meth:`infer`).

    ``norm="file"`` (one maximum over the whole file) cannot be known before the
    end and is refused; ``long``, ``context`` and ``pad`` do not apply.
    """

    receptive_field = (ENCODER_HOP, ENCODER_HOP)
    #: Most encoder frames one window may hold (the positional table).
    max_frames = SEGMENT_FRAMES

    def __init__(self, extractor: "WhisperEncoder"):
        if extractor.config.norm == "file":
            raise InputError("whisper with norm='file' normalises by the whole file's maximum and cannot stream; "
                             "use norm='segment' (each window normalised alone)")
        self.extractor = extractor
        self.name = extractor.name
        self.sample_rate = SAMPLE_RATE

    def num_frames(self, n_samples: int) -> int:
        return self.extractor.num_frames(n_samples)

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        return self.extractor.grid(n_samples, t0=t0)

    def normalise(self, samples: np.ndarray) -> np.ndarray:
        return np.asarray(samples, dtype=np.float32)

    def infer(self, inputs) -> list[np.ndarray]:
        """Encoder states of each window ``(n_i,)`` of samples: ``(ceil((n_i // 160) / 2), ...)`` float32."""
        c = self.extractor.config
        m = self.extractor.model
        self.extractor.check_layers(m)
        out = []
        for x in inputs:
            x = np.asarray(x, dtype=np.float32)
            if x.shape[0] > SEGMENT_SAMPLES:
                raise InputError(f"a whisper window holds at most 30 s ({SEGMENT_SAMPLES} samples), got {x.shape[0]}")
            if x.shape[0] < ENCODER_HOP:
                raise InputError(f"a whisper window needs at least {ENCODER_HOP} samples, got {x.shape[0]}")
            mel = log_mel(x, n_mels=m.n_mels, scope="file")
            states = m.window_states(mel, convention=c.convention, layers=c.layers)
            out.append(states if c.layers == "all" else states[:, 0])
        return out


# ---------------------------------------------------------------------------
# Random-initialised architectures (tests, benchmarks)
# ---------------------------------------------------------------------------


def save_random_model(path, *, size: str = "tiny", encoder_layers: int | None = None, n_mels: int = 80,
                      seed: int = 0, decoder_layers: int = 1, vocab_size: int = 64):
    """Write a random-initialised Whisper of a public architecture to ``path`` (transformers format).

    The encoder has the real widths (``ARCHITECTURES[size]``); ``encoder_layers``
    can reduce its depth for fast tests. The decoder is minimal (it is never
    used). Initialisation is seeded. Returns ``path``.
    """
    torch = neural.torch()
    tf = neural.transformers()
    if size not in ARCHITECTURES:
        raise InputError(f"unknown whisper size {size!r}; expected one of {', '.join(ARCHITECTURES)}")
    arch = dict(ARCHITECTURES[size])
    if encoder_layers is not None:
        arch["encoder_layers"] = int(encoder_layers)
    cfg = tf.WhisperConfig(num_mel_bins=n_mels, max_source_positions=SEGMENT_FRAMES, vocab_size=vocab_size,
                           decoder_layers=decoder_layers, decoder_attention_heads=arch["encoder_attention_heads"],
                           decoder_ffn_dim=arch["encoder_ffn_dim"], max_target_positions=64,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, **arch)
    torch.manual_seed(seed)
    model = tf.WhisperModel(cfg).eval()
    with torch.no_grad():
        # trained checkpoints carry the sinusoidal table; keep it whatever the init does
        model.encoder.embed_positions.weight.copy_(torch.from_numpy(sinusoids(SEGMENT_FRAMES, arch["d_model"])))
    model.save_pretrained(os.fspath(path))
    return path


__all__ = ["ARCHITECTURES", "EncoderModel", "load_encoder", "WhisperEncoder", "WhisperEncoderConfig", "WhisperLogMel",
           "WhisperLogMelConfig", "WhisperWindows", "encoder_inputs", "frame_sources", "log10_mel", "log_mel", "normalise",
           "openai_encoder_state", "save_random_model", "sinusoids", "window_starts"]
