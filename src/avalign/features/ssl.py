"""Self-supervised speech encoders on transformers: wav2vec2, HuBERT, WavLM and CTC logits.

All four share one conv front end design: unpadded 1-D convolutions whose
kernels and strides come from the model config (``conv_kernel``,
``conv_stride``); for the usual stack ``(10,3,3,3,3,2,2)`` /
``(5,2,2,2,2,2,2)`` that is a receptive field of 400 samples and a hop of 320
at 16 kHz, so ``n`` samples give ``(n - 400)//320 + 1`` frames at 50 Hz and
frame ``k`` spans samples ``[320k, 320k + 400)`` (centre 12.5 ms + 20 ms k).

Waveform normalisation follows the model's feature-extractor config
(``do_normalize``): ``(x - mean) / sqrt(var + 1e-7)`` over the whole clip
given to :meth:`SSLExtractor.compute` (as the processor does for one call).

Long audio runs in segments of ``chunk_seconds`` with ``context_seconds`` of
context on each side (see :mod:`avalign.features.chunking`), so peak memory
does not grow with length. With a layer-norm front end
(``feat_extract_norm="layer"``: large models, HuBERT-large, XLSR) the conv
features of kept frames are exactly those of a full-context run and only the
transformer sees less context. With a group-norm front end (wav2vec2-base,
WavLM base) the first GroupNorm normalises each channel over the whole
input, so every frame depends on the whole segment: chunking (and padding)
changes all frames; ``chunk_seconds=0`` runs the whole clip in one call, as
the published systems do.

Many clips (:meth:`SSLExtractor.compute_many`) are batched with length
bucketing and attention masks for layer-norm front ends; group-norm front
ends cannot mask padding, so their clips run one by one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from .. import progress
from ..errors import AudioTooShortError, InputError, ModelError
from ..timing import FrameGrid, conv_num_frames, conv_receptive_field
from . import neural
from .base import Extractor
from .chunking import Segment, buckets, plan

OUTPUTS = ("last", "layer", "layers", "cnn", "logits")
NORMALIZE = ("auto", "on", "off")


@dataclass(frozen=True)
class SSLConfig:
    """Options of the self-supervised speech encoders.

    Attributes
    ----------
    model : str or None
        Local directory in transformers format or a model id (``HF_HUB_OFFLINE`` honoured).
    device : str
        ``cpu``, ``cuda`` (``cuda:N``) or ``auto``.
    dtype : str
        ``float32``; ``float16`` or ``bfloat16`` on CUDA only. Outputs are float32 arrays.
    output : str
        ``last`` (last hidden state, ``(T, D)``), ``layer`` (hidden state ``layer``, ``(T, D)``),
        ``layers`` (all hidden states stacked, ``(T, L+1, D)``; index 0 is the transformer input),
        ``cnn`` (conv features before the projection, ``(T, C)``) or ``logits`` (CTC, ``(T, V)``).
    layer : int
        Index into the hidden states for ``output="layer"`` (negative counts from the end).
    normalize : str
        ``auto`` (the model's ``do_normalize``), ``on`` or ``off``.
    chunk_seconds : float
        Seconds of frames owned by each model call on long audio; ``0`` runs the whole clip at once.
    context_seconds : float
        Seconds of context on each side of a chunk.
    batch_size : int
        Segments per model call (length-bucketed, with attention masks; group-norm models use 1).
    pad_short : bool
        Zero-pad audio shorter than the receptive field to one frame instead of raising
        :class:`~avalign.errors.AudioTooShortError`.
    sample_rate : int
        Hz the model expects (16000).
    """

    model: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    output: str = "last"
    layer: int = -1
    normalize: str = "auto"
    chunk_seconds: float = 20.0
    context_seconds: float = 5.0
    batch_size: int = 1
    pad_short: bool = False
    sample_rate: int = 16000

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise InputError(f"bad output {self.output!r}; expected one of {', '.join(OUTPUTS)}")
        if self.normalize not in NORMALIZE:
            raise InputError(f"bad normalize {self.normalize!r}; expected one of {', '.join(NORMALIZE)}")
        if self.chunk_seconds < 0 or self.context_seconds < 0:
            raise InputError("chunk_seconds and context_seconds must be >= 0")
        if int(self.batch_size) < 1:
            raise InputError(f"bad batch_size {self.batch_size}; expected >= 1")
        if self.sample_rate != 16000:
            raise InputError("wav2vec2-family models read 16 kHz audio; sample_rate must be 16000")


class _quiet_transformers:
    """Silence transformers' load report and progress bar while a model loads (restored afterwards)."""

    def __init__(self, tf):
        self.logging = tf.utils.logging

    def __enter__(self):
        self.level = self.logging.get_verbosity()
        self.bar = self.logging.is_progress_bar_enabled()
        self.logging.set_verbosity_error()
        self.logging.disable_progress_bar()

    def __exit__(self, *exc):
        self.logging.set_verbosity(self.level)
        if self.bar:
            self.logging.enable_progress_bar()
        return False


def zero_mean_unit_var(samples: np.ndarray) -> np.ndarray:
    """``(x - mean) / sqrt(var + 1e-7)`` over the whole array, in float32 (the processor's ``do_normalize``)."""
    x = np.asarray(samples, dtype=np.float32)
    mean, scale = x.mean(), np.sqrt(x.var() + 1e-7)
    out = np.subtract(x, mean, dtype=np.float32)  # in place from here: one copy of the clip, same values
    out /= scale
    return out


class SSLExtractor(Extractor):
    """Base class of the transformers speech encoders (see the module docstring).

    Subclasses set ``name``, ``model_types`` (accepted ``config.model_type``
    values; empty accepts any) and ``ctc`` (load a CTC head).
    """

    Config: ClassVar[type] = SSLConfig
    model_types: ClassVar[tuple] = ()
    ctc: ClassVar[bool] = False

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        if self.config.output == "logits" and not self.ctc:
            raise InputError(f"output 'logits' needs a CTC head: use the 'ctc' feature, not {self.name!r}")
        self._model = None
        self._hf_config = None
        self._normalize = None
        self._device = None

    # -- model config and timing -------------------------------------------

    @property
    def hf_config(self):
        """The model's transformers config (loaded once, without weights)."""
        if self._hf_config is None:
            cfg = neural.from_pretrained(neural.transformers().AutoConfig, self.config.model)
            if self.model_types and getattr(cfg, "model_type", None) not in self.model_types:
                raise ModelError(f"{self.config.model}: a {cfg.model_type!r} model, but feature {self.name!r} "
                                 f"expects {' or '.join(self.model_types)}")
            if not hasattr(cfg, "conv_kernel") or not hasattr(cfg, "conv_stride"):
                raise ModelError(f"{self.config.model}: not a conv front-end speech model (no conv_kernel)")
            self._hf_config = cfg
        return self._hf_config

    @property
    def kernels(self) -> tuple:
        """Kernel sizes of the conv front end (from the model config)."""
        return tuple(int(k) for k in self.hf_config.conv_kernel)

    @property
    def strides(self) -> tuple:
        """Strides of the conv front end (from the model config)."""
        return tuple(int(s) for s in self.hf_config.conv_stride)

    @property
    def receptive_field(self) -> tuple[int, int]:
        """``(window, hop)`` in samples: frame ``k`` sees ``[k*hop, k*hop + window)``."""
        return conv_receptive_field(self.kernels, self.strides)

    @property
    def group_norm(self) -> bool:
        """True for a group-norm front end (every frame depends on the whole input; no batching)."""
        return getattr(self.hf_config, "feat_extract_norm", "group") == "group"

    @property
    def min_samples(self) -> int:
        return 1 if self.config.pad_short else self.receptive_field[0]

    def _padded_length(self, n_samples: int) -> int:
        window = self.receptive_field[0]
        return window if self.config.pad_short and 0 < n_samples < window else int(n_samples)

    def num_frames(self, n_samples: int) -> int:
        """``conv_num_frames(n)`` from the config's kernels and strides (``(n-400)//320 + 1`` usually)."""
        return conv_num_frames(self._padded_length(n_samples), kernels=self.kernels, strides=self.strides)

    def grid(self, n_samples: int, *, t0=0) -> FrameGrid:
        return FrameGrid.from_conv(self._padded_length(n_samples), sample_rate=self.sample_rate,
                                   kernels=self.kernels, strides=self.strides, t0=t0)

    # -- model ---------------------------------------------------------------

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = neural.resolve_device(self.config.device)
        return self._device

    @property
    def model(self):
        """The transformers model (loaded once per process, in eval mode on :attr:`device`)."""
        if self._model is None:
            tf = neural.transformers()
            self.hf_config  # checks the model type before loading weights
            dtype = neural.resolve_dtype(self.config.dtype, self.device)
            loader = tf.AutoModelForCTC if self.ctc else tf.AutoModel

            def load():
                with _quiet_transformers(tf):
                    model = neural.from_pretrained(loader, self.config.model)
                return model.to(device=self.device, dtype=dtype).eval()

            key = ("ssl", loader.__name__, str(self.config.model), self.device, self.config.dtype)
            self._model = neural.cached(key, load)  # one load per process for repeated extract() calls
        return self._model

    @property
    def normalizes(self) -> bool:
        """Whether the waveform is normalised (``do_normalize`` of the model's feature extractor config)."""
        if self.config.normalize != "auto":
            return self.config.normalize == "on"
        if self._normalize is None:
            try:
                fe = neural.from_pretrained(neural.transformers().AutoFeatureExtractor, self.config.model)
                self._normalize = bool(getattr(fe, "do_normalize", True))
            except ModelError:
                # no preprocessor_config.json: Wav2Vec2FeatureExtractor's default
                self._normalize = True
        return self._normalize

    def normalise(self, samples: np.ndarray) -> np.ndarray:
        """The model input for ``samples`` (float32, normalised when :attr:`normalizes`)."""
        x = np.asarray(samples, dtype=np.float32)
        return zero_mean_unit_var(x) if self.normalizes else x

    def check_length(self, n_samples: int) -> None:
        """AudioTooShortError unless ``n_samples`` gives at least one frame."""
        if self.num_frames(n_samples) < 1:
            window = self.receptive_field[0]
            raise AudioTooShortError(
                f"{self.name}: audio of {n_samples} samples ({n_samples / self.sample_rate * 1000:.1f} ms) is "
                f"shorter than the model's receptive field of {window} samples "
                f"({window / self.sample_rate * 1000:.1f} ms); pass pad_short=True to zero-pad it")

    # -- inference -------------------------------------------------------------

    def _select(self, out):
        """The configured output of a model call (a torch tensor, batch-first)."""
        c = self.config
        if c.output == "logits":
            return out.logits
        if c.output == "last":
            return out.last_hidden_state
        hs = out.hidden_states
        if c.output == "layers":
            return neural.torch().stack(hs, dim=2)
        try:
            return hs[c.layer]
        except IndexError:
            raise InputError(f"{self.name}: layer {c.layer} out of range; the model has {len(hs)} hidden states "
                             f"(0 = transformer input, {len(hs) - 1} = last)") from None

    def infer(self, inputs: Sequence[np.ndarray], *, stretch_to: int | None = None) -> list[np.ndarray]:
        """Run the model once on a batch of already-normalised inputs.

        Parameters
        ----------
        inputs : sequence of ndarray
            Model inputs ``(n_i,)`` float32 (see :meth:`normalise`); each must give at least one frame.
            More than one input is zero-padded to the longest with an attention mask.
        stretch_to : int, optional
            Stretch the conv features (``align_corners=True`` linear, as FaceFormer, Hallo,
            AniPortrait and EmoTalk do) to this many frames before the projection and the
            transformer. Only with a single input.

        Returns
        -------
        list of ndarray
            One float32 array per input, ``(T_i, ...)`` with ``T_i = num_frames(n_i)`` (or ``stretch_to``).
        """
        torch = neural.torch()
        model = self.model
        dtype = next(model.parameters()).dtype
        lengths = [int(len(x)) for x in inputs]
        for n in lengths:
            if conv_num_frames(n, kernels=self.kernels, strides=self.strides) < 1:
                self.check_length(n)
        if stretch_to is not None and len(inputs) != 1:
            raise InputError("stretch_to needs exactly one input")
        if len(inputs) > 1 and self.group_norm:
            raise InputError(f"{self.name}: a group-norm front end cannot mask padding; run clips one by one")
        longest = max(lengths)
        batch = np.zeros((len(inputs), longest), dtype=np.float32)
        for i, x in enumerate(inputs):
            batch[i, :len(x)] = x
        x = torch.from_numpy(batch).to(device=self.device, dtype=dtype)
        kwargs = {}
        if len(inputs) > 1 and min(lengths) != longest:
            mask = np.zeros((len(inputs), longest), dtype=np.int64)
            for i, n in enumerate(lengths):
                mask[i, :n] = 1
            kwargs["attention_mask"] = torch.from_numpy(mask).to(self.device)
        base = model.base_model
        hook = None
        if stretch_to is not None:
            size = int(stretch_to)

            def _stretch(_module, _args, output):
                return torch.nn.functional.interpolate(output, size=size, mode="linear", align_corners=True)

            hook = base.feature_extractor.register_forward_hook(_stretch)
        try:
            with torch.inference_mode():
                if self.config.output == "cnn":
                    y = base.feature_extractor(x).transpose(1, 2)
                elif self.config.output == "logits":
                    y = self._select(model(x, **kwargs))
                else:
                    want = self.config.output in ("layer", "layers")
                    y = self._select(base(x, output_hidden_states=want, **kwargs))
        finally:
            if hook is not None:
                hook.remove()
        y = y.float().cpu().numpy()
        if stretch_to is not None:
            return [y[0]]
        frames = [conv_num_frames(n, kernels=self.kernels, strides=self.strides) for n in lengths]
        return [np.ascontiguousarray(y[i, :t]) for i, t in enumerate(frames)]

    def segments(self, n_samples: int) -> list[Segment]:
        """The model calls that :meth:`compute` makes for ``n_samples`` samples (see :mod:`.chunking`)."""
        window, hop = self.receptive_field
        rate = self.sample_rate / hop
        t = self.num_frames(n_samples)
        return plan(t, n_samples=self._padded_length(n_samples), hop=hop, window=window,
                    chunk=int(round(self.config.chunk_seconds * rate)),
                    context=int(round(self.config.context_seconds * rate)))

    def _prepare_input(self, samples: np.ndarray) -> np.ndarray:
        n = len(samples)
        self.check_length(n)
        x = self.normalise(samples)
        padded = self._padded_length(n)
        if padded > n:
            x = np.concatenate([x, np.zeros(padded - n, np.float32)])
        return x

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Samples ``(n,)`` at 16 kHz -> ``(num_frames(n), ...)`` float32 (chunked on long audio)."""
        return self.compute_many([samples])[0]

    def compute_many(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features of many clips: every clip's segments, length-bucketed into batches of ``batch_size``.

        Each clip is normalised on its own; the output of each clip is the
        same as :meth:`compute` on it alone (to float tolerance) because padding
        is masked. Group-norm models run one segment per call.
        """
        inputs = [self._prepare_input(np.asarray(c)) for c in clips]
        jobs = []  # (clip index, segment)
        outs: list[np.ndarray | None] = [None] * len(inputs)
        for ci, x in enumerate(inputs):
            for seg in self.segments(len(clips[ci])):
                jobs.append((ci, seg))
        size = 1 if self.group_norm else int(self.config.batch_size)
        groups = buckets([seg.stop - seg.start for _, seg in jobs], batch_size=size)
        seconds = sum(len(c) for c in clips) / self.sample_rate
        with progress.bar(total=len(jobs), audio_seconds=seconds, desc=self.name) as bar:
            for group in groups:
                pieces = [inputs[jobs[j][0]][jobs[j][1].start:jobs[j][1].stop] for j in group]
                results = self.infer(pieces)
                for j, y in zip(group, results):
                    ci, seg = jobs[j]
                    if y.shape[0] != seg.num_frames:
                        raise AssertionError(f"{self.name}: segment gave {y.shape[0]} frames, "
                                             f"expected {seg.num_frames}")
                    if outs[ci] is None:
                        outs[ci] = np.empty((self.num_frames(len(clips[ci])),) + y.shape[1:], np.float32)
                    outs[ci][seg.keep_start:seg.keep_stop] = y[seg.keep]
                bar.advance(len(group))
        return outs

    def encode_stretched(self, samples: np.ndarray, num_frames: int, *, normalized: bool = False) -> np.ndarray:
        """Full-context encoding with the conv features stretched to ``num_frames`` before the transformer.

        The CNN-level resampling of FaceFormer, Hallo, AniPortrait and EmoTalk:
        conv features ``(T, C)`` -> linear ``align_corners=True`` stretch to ``num_frames`` ->
        feature projection -> transformer. Returns ``(num_frames, ...)`` per :attr:`config.output`.
        """
        x = np.asarray(samples, np.float32) if normalized else self._prepare_input(samples)
        if self.config.output == "cnn":
            raise InputError("encode_stretched returns transformer outputs; output='cnn' is not stretched here")
        return self.infer([x], stretch_to=int(num_frames))[0]

    def extract_many(self, audios: Sequence) -> list:
        """:meth:`extract` for many :class:`~avalign.media.Audio` clips, batched (see :meth:`compute_many`)."""
        from .base import Features

        audios = [self.prepare(a) for a in audios]
        values = self.compute_many([a.samples for a in audios])
        return [Features(v, self.grid(a.num_samples, t0=a.start), self.to_dict()) for a, v in zip(audios, values)]

    def to(self, device: str) -> "SSLExtractor":
        """Move to ``device`` (``cpu``, ``cuda``, ``auto``); a loaded model moves with it. Returns self."""
        self.config = dataclasses.replace(self.config, device=device)
        self._device = None
        neural.resolve_dtype(self.config.dtype, self.device)
        self._model = None  # reloaded through the shared cache on the new device (the cached one stays put)
        return self

    def with_options(self, **options) -> "SSLExtractor":
        """A new extractor of the same kind with some options changed (shares the loaded model)."""
        other = type(self)(dataclasses.replace(self.config, **options))
        if (other.config.model, other.config.device, other.config.dtype) == (
                self.config.model, self.config.device, self.config.dtype):
            other._model, other._hf_config, other._normalize = self._model, self._hf_config, self._normalize
        return other


class Wav2Vec2(SSLExtractor):
    """wav2vec2 / XLSR encoder (``facebook/wav2vec2-base-960h``, XLSR-53 models)."""

    name = "wav2vec2"
    model_types = ("wav2vec2",)


class Hubert(SSLExtractor):
    """HuBERT encoder (``facebook/hubert-large-ls960-ft``, ``TencentGameMate/chinese-hubert-large``)."""

    name = "hubert"
    model_types = ("hubert",)


class WavLM(SSLExtractor):
    """WavLM encoder (``microsoft/wavlm-base``, ``-base-plus``, ``-large``)."""

    name = "wavlm"
    model_types = ("wavlm",)


@dataclass(frozen=True)
class CTCConfig(SSLConfig):
    """:class:`SSLConfig` with ``output="logits"`` by default (CTC logits ``(T, V)``)."""

    output: str = "logits"


class CTCLogits(SSLExtractor):
    """CTC logits of a fine-tuned model (any of the families; ``AutoModelForCTC``)."""

    name = "ctc"
    Config = CTCConfig
    ctc = True


def ceil_frames(n_samples: int, fps, *, sample_rate: int = 16000) -> int:
    """``math.ceil(n / sample_rate * fps)`` in float arithmetic, as the Python systems compute it."""
    return math.ceil(n_samples / sample_rate * float(fps))


__all__ = ["CTCConfig", "CTCLogits", "Hubert", "SSLConfig", "SSLExtractor", "WavLM", "Wav2Vec2", "ceil_frames",
           "zero_mean_unit_var"]
