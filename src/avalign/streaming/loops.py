"""Batch-loop streaming presets: a real-time system's own loop of model calls on fixed windows.

Each system here cuts the live audio (16 kHz, 20 ms packets) into calls of a
fixed window that advance by a fixed hop, and each call gives a fixed number
of rows (video frames at 25 fps). :class:`CallLoop` runs such a loop as the
samples arrive: call ``c`` reads samples ``[hop*c - lead, hop*c - lead +
length)`` of the stream (zeros before the first sample, and after the last
one once the stream has ended) and makes rows ``[per*c - shift, per*(c+1) -
shift)``; rows before 0 are dropped. A row is final when its call's window
has arrived, so the look-ahead of a preset is the worst
``stop(call) - end of frame`` over a call's rows (the first row of each call).

``livetalking-wav2lip`` -- LiveTalking's ``MelASR`` (lipku/LiveTalking,
``avatars/audio_features/mel.py``, defaults ``-l 10 -r 10 --batch_size 16``):
the ASR warms up with 20 silent packets, then every step appends 32 packets
(16 video frames) to its buffer, computes Wav2Lip's mel on the 52 buffered
packets (16,640 samples; ``librosa.stft`` of librosa >= 0.10, zero-padded),
and cuts 16 windows of 16 mel frames starting at ``int(16 + i * 3.2)`` (the
last 16 frames when a window would run past the end); the buffer keeps its
last 20 packets. The warm-up's output keeps its last ``r = 10`` silent packets before the
audio, so the system's frame ``F`` shows audio packets ``2F - 10, 2F - 9``:
row ``j`` (the frame that shows packets ``2j, 2j + 1`` of the input) is the
system's frame ``j + r / 2``. Rows ``[80, 16]``, ``ceil(n / 640)`` of them (the system feeds
silence after the end). Look-ahead: the first row of a step waits for the
step's 32 packets and the 10 packets of right context, ``640 * (batch + r/2
- 1)`` = 12,800 samples (800 ms) past the end of its frame; latency 840 ms.

``livetalking-hubert`` -- LiveTalking's ``HubertASR`` (``hubert.py``, for
Wav2Lip-LS / UltraLight): the same buffer loop; HuBERT's last hidden state
of the 52 packets (normalised on their own by ``Wav2Vec2Processor``) gives
51 frames; the system's frame ``i`` of the step reads the 32 frames
``[2i - 6, 2i + 26)`` of the buffer, indices clamped to ``[0, 50]``. Rows
``[32, D]``; the same count and latency as ``livetalking-wav2lip``. The
system's branch that sends zeros for a step of silence after silence
(packets of its own idle filler, never the audio it was given) is not
reached by a stream.

``livetalking-whisper`` -- LiveTalking's ``WhisperASR`` (``whisper.py``, for
MuseTalk): the same buffer loop; transformers' ``WhisperFeatureExtractor``
pads the 52 packets to 30 s, and the encoder's hidden states (all ``L + 1``,
stacked, the last after the final layer norm) give 1500 frames, of which the
system's frame ``i`` reads ``[2i + 6, 2i + 16)`` (clamped), reshaped to
``(10 * (L + 1), d)`` (``[50, 384]`` for whisper-tiny). Every call pays the
full 30 s encoder. Same count and latency as ``livetalking-wav2lip``.

``ditto-online`` -- Ditto's online mode (antgroup/ditto-talkinghead,
``inference.py`` online branch and ``core/atomic_components/wav2feat.py``,
``chunksize=(3, 5, 2)``): 1,920 zeros (3 frames) go before the audio; every
3,200 samples (5 frames) a window of 6,480 samples (10 frames + 80) goes
through the streaming HuBERT (raw samples, no normalisation), whose 20
frames ``[6, 16)`` are averaged in pairs to 5 rows at 25 fps; the last window
is zero-padded. Rows ``(1024,)``, ``math.ceil(n / 16000 * 25)`` of them (the
float expression of ``num_f``, one more than ``ceil(n / 640)`` at some
lengths, e.g. 4,480 samples). Look-ahead: the first row of a chunk waits for
the rest of the chunk, its 2 frames of right context and the 80 samples,
``640 * (now + future - 1) + 80`` = 3,920 samples (245 ms) past the end of
its frame; latency 285 ms.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..errors import InputError
from ..timing import FrameGrid
from .core import Stream
from .sources import _Store

#: 20 ms packets at 16 kHz, and the 25 fps video frame of two packets
PACKET, FRAME = 320, 640


class CallLoop(_Store):
    """A system's loop of model calls on windows of ``length`` samples every ``hop`` (see the module docstring).

    Subclasses set ``hop``, ``length``, ``lead`` (samples before the stream's
    start that call 0 reads: zeros), ``per`` (rows per call), ``shift``, and
    define :meth:`call` (one call's rows from its window) and :meth:`count`.
    """

    sample_rate = 16000
    fps = Fraction(25)
    hop = length = lead = per = 0
    shift = 0

    def __init__(self):
        super().__init__()
        self.calls = 0  # calls made
        self._frame_shape = None

    # -- the loop's arithmetic ---------------------------------------------------

    def start(self, c):
        """First sample (stream index, may be negative) of call(s) ``c``'s window (int64)."""
        return self.hop * np.asarray(c, dtype=np.int64) - self.lead

    def call_of(self, r):
        """The call that makes row(s) ``r`` (int64)."""
        return (np.asarray(r, dtype=np.int64) + self.shift) // self.per

    def need(self, r):
        """Samples after which row(s) ``r`` are made: the end of their call's window (int64)."""
        return self.start(self.call_of(r)) + self.length

    def count(self, n: int) -> int:
        """Rows for ``n`` samples once the stream has ended."""
        raise NotImplementedError

    def call(self, x: np.ndarray) -> np.ndarray:
        """Rows ``(per, ...)`` of one call on its window ``x`` (``length`` samples, float32)."""
        raise NotImplementedError

    # -- source protocol ---------------------------------------------------------

    def num_frames(self, n_samples: int) -> int:
        return self.count(n_samples)

    def grid(self, n_samples: int) -> FrameGrid:
        return FrameGrid(self.fps, self.count(n_samples))

    @property
    def frame_shape(self) -> tuple:
        """Shape of one row (from the first call, or one call on silence)."""
        if self._frame_shape is None:
            if self.values is not None and self.values.shape[0]:
                self._frame_shape = self.values.shape[1:]
            else:
                self._frame_shape = self.call(np.zeros(self.length, np.float32)).shape[1:]
        return tuple(self._frame_shape)

    def _run(self) -> None:
        """Make call :attr:`calls` from the samples held (zeros outside ``[0, n)``)."""
        a = int(self.start(self.calls))
        b = a + self.length
        x = np.zeros(self.length, np.float32)
        lo, hi = max(a, 0), min(b, self.n)
        if hi > lo:
            x[lo - a:hi - a] = self.segment(lo, hi)
        y = self.call(x)
        self.append_frames(y[max(self.shift - self.per * self.calls, 0):])
        self.calls += 1

    def push(self, x: np.ndarray) -> None:
        """Append samples; run every call whose window has arrived."""
        self.append_samples(x)
        while int(self.start(self.calls)) + self.length <= self.n:
            self._run()

    def finish(self) -> None:
        """End the stream: run the calls that make the remaining rows, the audio followed by zeros."""
        total = self.count(self.n)
        while self.final < total:
            self._run()

    def keep_from(self, frame: int) -> None:
        self.drop(frames_before=frame, samples_before=max(int(self.start(self.calls)), 0))


class LoopRows:
    """Row plan of a :class:`CallLoop`: row ``i`` is the loop's row ``i`` (the source makes rows)."""

    size = 1
    quantum = 1

    def __init__(self, source: CallLoop):
        self.source = source
        self.frame_rate = source.fps

    def span(self, i):
        i = np.asarray(i, dtype=np.int64)
        return i, i + 1

    def min_samples(self, i):
        return np.zeros(np.shape(i), np.int64)

    def final_count(self, n: int) -> int:
        return self.source.count(n)

    def empty(self) -> np.ndarray:
        return np.zeros((0,) + self.source.frame_shape, np.float32)

    def rows(self, i0: int, i1: int, total) -> np.ndarray:
        return self.source.frames(i0, i1).copy()


# -- LiveTalking -------------------------------------------------------------------


class LiveTalkingLoop(CallLoop):
    """LiveTalking's ``BaseASR`` buffer: ``left`` + ``right`` warm-up packets, ``2 * batch`` packets per step."""

    def __init__(self, *, left: int = 10, right: int = 10, batch: int = 16):
        super().__init__()
        if left < 0 or right < 0 or batch <= 0 or right % 2:
            raise InputError(f"bad LiveTalking loop: left {left} (>= 0), right {right} (even, >= 0), "
                             f"batch {batch} (> 0) packets / frames")
        self.left, self.right, self.batch = int(left), int(right), int(batch)
        self.hop = 2 * self.batch * PACKET
        self.length = (2 * self.batch + self.left + self.right) * PACKET
        self.lead = (self.left + self.right) * PACKET  # the warm-up packets (silence) before the audio
        self.per = self.batch
        # the warm-up's last `right` packets (right / 2 frames of silence) are played before the audio
        self.shift = self.right // 2

    def count(self, n: int) -> int:
        return -(-int(n) // FRAME)

    def _select(self, feats: np.ndarray, *, window: tuple) -> np.ndarray:
        """One step's rows from the buffer's 50 Hz frames ``feats`` ``(T, ...)``: frame ``i`` of the batch reads
        frames ``[c - 2 w0, c + 2 w1)`` (clamped to ``[0, T - 1]``), ``c = int((i + left / 2) * 2) = 2 i + left``
        (``_get_sliced_feature``); ``(batch, 2 (w0 + w1), ...)``."""
        centre = 2 * np.arange(self.batch) + self.left
        offs = np.arange(-2 * window[0], 2 * window[1])
        return feats[np.clip(centre[:, None] + offs[None, :], 0, feats.shape[0] - 1)]


class LiveTalkingMel(LiveTalkingLoop):
    """``MelASR.run_step``: Wav2Lip's mel of the buffer, 16 windows of 16 frames from ``int(left*1.6 + i*3.2)``."""

    def __init__(self, *, pad_mode: str = "constant", **loop):
        super().__init__(**loop)
        from ..features.spectral import WAV2LIP_MEL, Mel

        self.mel = Mel(**WAV2LIP_MEL, pad_mode=pad_mode)

    def call(self, x: np.ndarray) -> np.ndarray:
        mel = self.mel.compute(x)  # (M, 80), time-major
        m = mel.shape[0]
        left = max(0, self.left * 80 / 50)
        step = 80.0 / 25
        out = np.empty((self.batch, mel.shape[1], 16), np.float32)
        for i in range(self.batch):
            s = int(left + i * step)
            s = m - 16 if s + 16 > m else s
            out[i] = mel[s:s + 16].T
        return out


class LiveTalkingHubert(LiveTalkingLoop):
    """``HubertASR.run_step``: HuBERT's last hidden state of the buffer, frames ``[2i + l - 16, 2i + l + 16)``
    clamped (``[2i - 6, 2i + 26)`` for ``l = 10``)."""

    def __init__(self, extractor, *, window=(8, 8), **loop):
        super().__init__(**loop)
        self.extractor = extractor
        self.window = (int(window[0]), int(window[1]))

    def call(self, x: np.ndarray) -> np.ndarray:
        return self._select(self.extractor.infer([self.extractor.normalise(x)])[0], window=self.window)


class LiveTalkingWhisper(LiveTalkingLoop):
    """``WhisperASR.run_step``: Whisper's encoder states (all, stacked) of the buffer padded to 30 s,
    frames ``[2i + l - 4, 2i + l + 6)`` clamped, as ``(10 * (L + 1), d)``."""

    def __init__(self, model, *, device=None, window=(2, 3), **loop):
        super().__init__(**loop)
        from ..features.whisper import load_encoder

        self.encoder = load_encoder(model, device=device)
        self.window = (int(window[0]), int(window[1]))

    def call(self, x: np.ndarray) -> np.ndarray:
        from ..features.whisper import encoder_inputs

        m = self.encoder
        inputs, _ = encoder_inputs(x, n_mels=m.n_mels, long="segments", norm="segment", pad="audio")
        feats = m.states(inputs[:1], convention="transformers", layers="all")[0]  # (1500, L + 1, d)
        return self._select(feats, window=self.window).reshape(self.batch, -1, feats.shape[-1])


# -- Ditto -------------------------------------------------------------------------


class DittoOnline(CallLoop):
    """Ditto's online HuBERT: chunks ``(past, now, future)`` of 40 ms frames, one every ``now`` frames
    (:class:`~avalign.systems.steps.ChunkPairs`: ``split`` samples each, pairs of states averaged)."""

    def __init__(self, extractor, *, chunksize=(3, 5, 2)):
        super().__init__()
        past, now, future = (int(v) for v in chunksize)
        if past < 0 or future < 0 or now <= 0:
            raise InputError(f"bad Ditto chunksize {tuple(chunksize)}: (past >= 0, now > 0, future >= 0) frames")
        from ..systems.steps import ChunkPairs

        self.extractor, self.chunks = extractor, ChunkPairs(context=(past, now, future))
        self.hop = now * FRAME
        self.length = self.chunks.split  # 6480 for (3, 5, 2)
        self.lead = past * FRAME
        self.per = now

    def count(self, n: int) -> int:
        return self.chunks.frames(n, None)  # Ditto's num_f, float arithmetic included

    def call(self, x: np.ndarray) -> np.ndarray:
        # raw samples: the ONNX model takes them as is
        return self.chunks.pairs(self.extractor.infer([np.asarray(x, np.float32)])[0])


# -- factories -----------------------------------------------------------------------


def _fps_25(name: str, fps) -> Fraction:
    from ..timing import fraction_str, parse_fps

    if fps is not None and parse_fps(fps) != 25:
        raise InputError(f"preset {name!r} runs at 25 fps only (its system hard-codes it); "
                         f"got --fps {fraction_str(parse_fps(fps))}")
    return Fraction(25)


def _hubert(model, device, name: str):
    from .. import features

    if model is None:
        raise InputError(f"preset {name!r} needs a HuBERT model (--model: a local directory in transformers "
                         "format, e.g. hubert-large-ls960-ft)")
    extra = {"device": device} if device is not None else {}
    return features.create("hubert", model=model, **extra)


def _stream(name: str, source: CallLoop, fps, sample_rate_in) -> Stream:
    return Stream(source, LoopRows(source), fps=_fps_25(name, fps), sample_rate_in=sample_rate_in, name=name,
                  period=source.per)


def livetalking_wav2lip(*, fps=None, model=None, device=None, sample_rate_in: int = 16000, pad_mode="constant",
                        l: int = 10, r: int = 10, batch_size: int = 16) -> Stream:  # noqa: E741
    """LiveTalking's Wav2Lip mel loop (rows ``[80, 16]``, 25 fps, latency 840 ms with the defaults).

    ``l``, ``r`` (packets of left / right context) and ``batch_size`` (frames per step) are the system's
    ``-l``, ``-r`` and ``--batch_size``; ``pad_mode`` the STFT centring pad (``reflect`` for librosa < 0.10).
    """
    if pad_mode not in ("constant", "reflect"):
        raise InputError(f"bad pad_mode {pad_mode!r}; expected 'constant' (librosa >= 0.10) or 'reflect'")
    source = LiveTalkingMel(pad_mode=pad_mode, left=l, right=r, batch=batch_size)
    return _stream("livetalking-wav2lip", source, fps, sample_rate_in)


def livetalking_hubert(*, fps=None, model=None, device=None, sample_rate_in: int = 16000, l: int = 10,
                       r: int = 10, batch_size: int = 16) -> Stream:  # noqa: E741
    """LiveTalking's HuBERT loop (rows ``[32, D]``, 25 fps, latency 840 ms with the defaults); options as
    :func:`livetalking_wav2lip`."""
    source = LiveTalkingHubert(_hubert(model, device, "livetalking-hubert"), left=l, right=r, batch=batch_size)
    return _stream("livetalking-hubert", source, fps, sample_rate_in)


def livetalking_whisper(*, fps=None, model=None, device=None, sample_rate_in: int = 16000, l: int = 10,
                        r: int = 10, batch_size: int = 16) -> Stream:  # noqa: E741
    """LiveTalking's Whisper loop for MuseTalk (rows ``[10 (L + 1), d]``: ``[50, 384]`` for whisper-tiny; 25 fps,
    latency 840 ms with the defaults); options as :func:`livetalking_wav2lip`."""
    if model is None:
        raise InputError("preset 'livetalking-whisper' needs a Whisper model (--model: a local directory in "
                         "transformers format or an openai .pt checkpoint, e.g. whisper-tiny)")
    source = LiveTalkingWhisper(model, device=device, left=l, right=r, batch=batch_size)
    return _stream("livetalking-whisper", source, fps, sample_rate_in)


def ditto_online(*, fps=None, model=None, device=None, sample_rate_in: int = 16000, chunksize=(3, 5, 2)) -> Stream:
    """Ditto's online HuBERT loop (rows ``(D,)``, 25 fps, latency 285 ms with ``chunksize=(3, 5, 2)``)."""
    source = DittoOnline(_hubert(model, device, "ditto-online"), chunksize=chunksize)
    return _stream("ditto-online", source, fps, sample_rate_in)


#: name -> factory, merged into :data:`avalign.streaming.realtime.REALTIME`
LOOPS = {"livetalking-wav2lip": livetalking_wav2lip, "livetalking-hubert": livetalking_hubert,
         "livetalking-whisper": livetalking_whisper, "ditto-online": ditto_online}
