"""Frame grids and exact frame-count formulas.

Everything here is pure arithmetic on integers and :class:`fractions.Fraction`,
so that counts and indices are exact at any rate (30000/1001 included).

Units: ``n`` is a number of samples, ``sr`` a sample rate in Hz, times are
seconds, rates are frames per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from .errors import InputError

RateLike = "int | float | str | Fraction"

#: Rounding rules for turning a real number of frames into a count or an index.
ROUNDINGS = ("truncate", "floor", "ceil", "round")

#: Common frame rates written as decimals, mapped to their exact NTSC fractions.
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "59.94": Fraction(60000, 1001),
    "47.952": Fraction(48000, 1001),
    "119.88": Fraction(120000, 1001),
}


def parse_fps(value) -> Fraction:
    """Parse a frame rate: ``25``, ``"29.97"``, ``"30000/1001"``, a Fraction.

    Decimal NTSC rates (23.976, 29.97, 59.94) map to their exact fractions
    (24000/1001, ...). Raises :class:`InputError` for zero, negative,
    non-finite or unparsable values.
    """
    if isinstance(value, Fraction):
        fps = value
    elif isinstance(value, bool):
        raise InputError(f"bad fps {value!r}: expected a positive number such as 25, 29.97 or 30000/1001")
    elif isinstance(value, int):
        fps = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"bad fps {value!r}: expected a positive number such as 25, 29.97 or 30000/1001")
        fps = _NTSC.get(f"{value:g}") or Fraction(value).limit_denominator(1001)
    else:
        text = str(value).strip()
        try:
            if text in _NTSC:
                fps = _NTSC[text]
            elif "/" in text:
                num, den = text.split("/", 1)
                fps = Fraction(int(num), int(den))
            else:
                as_float = float(text)
                if not math.isfinite(as_float):
                    raise ValueError
                fps = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise InputError(
                f"bad fps {value!r}: expected a positive number such as 25, 29.97 or 30000/1001"
            ) from None
    if fps <= 0:
        raise InputError(f"bad fps {value!r}: must be greater than 0")
    return fps


def fraction_str(value: Fraction) -> str:
    """``Fraction(30000, 1001)`` -> ``"30000/1001"``; ``Fraction(25)`` -> ``"25"``."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def round_number(x: Fraction | float, rule: str = "round") -> int:
    """Round a number of frames to an integer by a named rule.

    ``truncate`` is Python's ``int()`` (toward zero), ``floor`` and ``ceil`` as
    in math, ``round`` is Python's ``round()`` (halves to even).
    """
    if rule == "truncate":
        return int(x)
    if rule == "floor":
        return math.floor(x)
    if rule == "ceil":
        return math.ceil(x)
    if rule == "round":
        return round(x)
    raise InputError(f"unknown rounding rule {rule!r}; expected one of {', '.join(ROUNDINGS)}")


# ---------------------------------------------------------------------------
# Converters (symmetric pairs, librosa style)
# ---------------------------------------------------------------------------


def samples_to_time(samples, *, sr: int):
    """Samples -> seconds."""
    return np.asarray(samples) / sr


def time_to_samples(times, *, sr: int):
    """Seconds -> samples (floor)."""
    return np.floor(np.asarray(times) * sr).astype(np.int64)


def frames_to_time(frames, *, rate, t0=0.0):
    """Frame indices -> seconds of their centres: ``t0 + frames / rate``."""
    return float(t0) + np.asarray(frames, dtype=np.float64) / float(Fraction(rate))


def time_to_frames(times, *, rate, t0=0.0, rounding: str = "floor"):
    """Seconds -> frame indices: ``(times - t0) * rate`` rounded by ``rounding``."""
    x = (np.asarray(times, dtype=np.float64) - float(t0)) * float(Fraction(rate))
    if rounding in ("floor",):
        return np.floor(x).astype(np.int64)
    if rounding == "ceil":
        return np.ceil(x).astype(np.int64)
    if rounding == "truncate":
        return np.trunc(x).astype(np.int64)
    if rounding == "round":
        return np.rint(x).astype(np.int64)
    raise InputError(f"unknown rounding rule {rounding!r}; expected one of {', '.join(ROUNDINGS)}")


def frames_to_samples(frames, *, hop: int, offset: int = 0):
    """Frame indices -> sample index of each frame's reference point: ``offset + frames * hop``."""
    return offset + np.asarray(frames, dtype=np.int64) * hop


def samples_to_frames(samples, *, hop: int, offset: int = 0):
    """Sample indices -> index of the frame whose reference point is at or before them."""
    return (np.asarray(samples, dtype=np.int64) - offset) // hop


# ---------------------------------------------------------------------------
# Frame-count formulas
# ---------------------------------------------------------------------------


def stft_num_frames(n: int, *, n_fft: int, hop: int, center: bool = True) -> int:
    """Frames of an STFT of ``n`` samples (librosa / torch framing).

    Centred: the signal is padded by ``n_fft // 2`` on both sides, giving
    ``1 + (n + 2*(n_fft//2) - n_fft) // hop`` frames (``1 + n // hop`` for even
    ``n_fft``). Not centred: ``1 + (n - n_fft) // hop``, 0 when ``n < n_fft``.
    """
    if center:
        padded = n + 2 * (n_fft // 2)
    else:
        padded = n
    if padded < n_fft:
        return 0
    return 1 + (padded - n_fft) // hop


def psf_num_frames(n: int, *, frame_len: int, step: int) -> int:
    """Frames of python_speech_features' ``framesig``: ``1`` if ``n <= frame_len``
    else ``1 + ceil((n - frame_len) / step)``; the last frame is zero-padded."""
    if n <= frame_len:
        return 1
    return 1 + -(-(n - frame_len) // step)


def conv_num_frames(n: int, *, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Output length of a stack of unpadded 1-D convolutions: ``L <- (L - k) // s + 1`` per layer; 0 if too short."""
    length = n
    for k, s in zip(kernels, strides, strict=True):
        if length < k:
            return 0
        length = (length - k) // s + 1
    return length


#: The conv front end of wav2vec2 / HuBERT / WavLM (conventions.md, B3): kernels and strides in samples.
SSL_KERNELS, SSL_STRIDES = (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)


def ssl_num_frames(n: int) -> int:
    """Frames of the wav2vec2 / HuBERT conv front end for ``n`` samples: ``(n - 400)//320 + 1`` (0 below 400).

    The same number as ``(n - 80)//320`` (``expected_T`` of ``get_hubert_from_16k_speech``,
    RAD-NeRF's streamed logits) for every ``n >= 80``; 1 s gives 49, not 50.
    """
    return conv_num_frames(int(n), kernels=SSL_KERNELS, strides=SSL_STRIDES)


def conv_receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> tuple[int, int]:
    """``(window, hop)`` in samples of a conv stack: frame ``k`` sees ``[k*hop, k*hop + window)``."""
    window, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        window += (k - 1) * jump
        jump *= s
    return window, jump


def whisper_num_frames(n: int, *, hop: int = 160, sample_rate: int = 16000) -> dict:
    """Whisper frame counts for ``n`` samples at 16 kHz.

    Returns ``{"mel": n // hop, "encoder": n // (2*hop)}``: the log-mel drops
    the last centred STFT frame, the encoder halves the rate (50 Hz), and
    encoder output trimmed to the audio's true length keeps ``floor(d * 50)``
    frames. Each segment of 30 s is 3000 mel frames and 1500 encoder frames.
    """
    del sample_rate
    return {"mel": n // hop, "encoder": n // (2 * hop)}


def num_frames_for_duration(duration, fps, rounding: str = "round") -> int:
    """Video frames covering ``duration`` seconds at ``fps``: ``rounding(duration * fps)``.

    ``duration`` may be a Fraction (exact, e.g. ``Fraction(n, sr)``) or a float.
    """
    fps = parse_fps(fps)
    d = duration if isinstance(duration, Fraction) else Fraction(duration)
    return round_number(d * fps, rounding)


# ---------------------------------------------------------------------------
# FrameGrid
# ---------------------------------------------------------------------------


def _as_fraction(x) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, str):
        return Fraction(x)
    if isinstance(x, float):
        return Fraction(x).limit_denominator(10**9)
    return Fraction(x)


@dataclass(frozen=True)
class FrameGrid:
    """Where each row of a time-major array sits in time.

    Attributes
    ----------
    rate : Fraction
        Frames per second (exact).
    num_frames : int
        Number of frames (rows).
    t0 : Fraction
        Seconds of frame 0's reference point on the reference clock (the
        video clock when there is a video): the window centre for audio
        features, the presentation timestamp for video frames.
    hop, window : int or None
        Hop and window of an audio feature, in samples at ``sample_rate``.
    sample_rate : int or None
        Sample rate in Hz that ``hop`` and ``window`` count in.
    timestamps : tuple of float or None
        Actual times of each frame (seconds) for variable-rate video; when
        set, they take precedence over ``t0 + i / rate``.
    """

    rate: Fraction
    num_frames: int
    t0: Fraction = Fraction(0)
    hop: int | None = None
    window: int | None = None
    sample_rate: int | None = None
    timestamps: tuple | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "rate", parse_fps(self.rate))
        object.__setattr__(self, "t0", _as_fraction(self.t0))
        if self.num_frames < 0:
            raise InputError(f"a frame grid cannot have {self.num_frames} frames")
        if self.timestamps is not None:
            ts = tuple(float(t) for t in self.timestamps)
            if len(ts) != self.num_frames:
                raise InputError(f"{len(ts)} timestamps for {self.num_frames} frames")
            object.__setattr__(self, "timestamps", ts)

    # -- constructors -------------------------------------------------------

    @classmethod
    def from_stft(cls, n_samples: int, *, sample_rate: int, hop: int, n_fft: int,
                  center: bool = True, win_length: int | None = None, t0=0) -> "FrameGrid":
        """Grid of an STFT: frame ``t`` is centred at sample ``hop*t`` (centred) or ``hop*t + n_fft/2``."""
        n = stft_num_frames(n_samples, n_fft=n_fft, hop=hop, center=center)
        first = Fraction(0) if center else Fraction(n_fft, 2 * sample_rate)
        return cls(Fraction(sample_rate, hop), n, _as_fraction(t0) + first, hop,
                   win_length or n_fft, sample_rate)

    @classmethod
    def from_framing(cls, n_samples: int, *, sample_rate: int, frame_len: int, step: int, t0=0) -> "FrameGrid":
        """Grid of python_speech_features framing: frame ``t`` spans ``[step*t, step*t + frame_len)``."""
        n = psf_num_frames(n_samples, frame_len=frame_len, step=step)
        return cls(Fraction(sample_rate, step), n, _as_fraction(t0) + Fraction(frame_len, 2 * sample_rate),
                   step, frame_len, sample_rate)

    @classmethod
    def from_conv(cls, n_samples: int, *, sample_rate: int, kernels: Sequence[int],
                  strides: Sequence[int], t0=0) -> "FrameGrid":
        """Grid of an unpadded conv stack: frame ``k`` spans ``[hop*k, hop*k + window)``."""
        window, hop = conv_receptive_field(kernels, strides)
        n = conv_num_frames(n_samples, kernels=kernels, strides=strides)
        return cls(Fraction(sample_rate, hop), n, _as_fraction(t0) + Fraction(window, 2 * sample_rate),
                   hop, window, sample_rate)

    @classmethod
    def from_video(cls, fps, num_frames: int, *, t0=0, timestamps: Iterable[float] | None = None) -> "FrameGrid":
        """Grid of video frames at ``fps`` (exact) or at their actual ``timestamps`` (seconds)."""
        ts = None if timestamps is None else tuple(timestamps)
        return cls(parse_fps(fps), num_frames, t0, timestamps=ts)

    # -- queries ------------------------------------------------------------

    @property
    def period(self) -> Fraction:
        """Seconds between frames: ``1 / rate``."""
        return 1 / self.rate

    @property
    def duration(self) -> Fraction:
        """Seconds covered by ``num_frames`` periods."""
        return self.num_frames / self.rate

    def times(self) -> np.ndarray:
        """Times of every frame's reference point, shape ``(num_frames,)``, seconds."""
        if self.timestamps is not None:
            return np.asarray(self.timestamps, dtype=np.float64)
        i = np.arange(self.num_frames, dtype=np.float64)
        return float(self.t0) + i * (self.rate.denominator / self.rate.numerator)

    def time(self, i: int) -> Fraction:
        """Exact time of frame ``i`` (seconds), ignoring ``timestamps``."""
        return self.t0 + Fraction(i) / self.rate

    def span(self, i: int) -> tuple[float, float]:
        """``(start, end)`` seconds that frame ``i`` covers.

        Audio features: their analysis window around the centre. Video frames:
        from their timestamp to the next one (one period for the last).
        """
        t = self.times()
        if self.window is not None and self.sample_rate:
            half = self.window / (2 * self.sample_rate)
            return (float(t[i]) - half, float(t[i]) + half)
        end = t[i + 1] if self.timestamps is not None and i + 1 < self.num_frames else t[i] + float(self.period)
        return (float(t[i]), float(end))

    def sample_span(self, i: int) -> tuple[int, int] | None:
        """``[start, end)`` in samples of frame ``i``'s window relative to ``t0``'s clock origin, if known."""
        if self.window is None or not self.sample_rate or self.hop is None:
            return None
        centre = (self.t0 * self.sample_rate) + i * self.hop
        start = centre - Fraction(self.window, 2)
        return (math.floor(start), math.floor(start) + self.window)

    def index_at(self, t, rounding: str = "round"):
        """Frame index (or indices) at time ``t`` seconds, rounded by ``rounding``."""
        return time_to_frames(t, rate=self.rate, t0=self.t0, rounding=rounding)

    def with_frames(self, num_frames: int) -> "FrameGrid":
        """The same grid with another frame count (timestamps dropped)."""
        return replace(self, num_frames=num_frames, timestamps=None)

    def shifted(self, seconds) -> "FrameGrid":
        """The same grid moved by ``seconds`` on the clock."""
        ts = None if self.timestamps is None else tuple(t + float(seconds) for t in self.timestamps)
        return replace(self, t0=self.t0 + _as_fraction(seconds), timestamps=ts)

    @property
    def variable(self) -> bool:
        """True when the grid carries actual timestamps (variable frame rate)."""
        return self.timestamps is not None

    # -- (de)serialisation --------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-able form; fractions as strings (``"30000/1001"``) with float companions."""
        d = {
            "rate": fraction_str(self.rate),
            "rate_hz": float(self.rate),
            "num_frames": self.num_frames,
            "t0": fraction_str(self.t0),
            "t0_s": float(self.t0),
            "hop": self.hop,
            "window": self.window,
            "sample_rate": self.sample_rate,
        }
        if self.timestamps is not None:
            d["timestamps"] = list(self.timestamps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FrameGrid":
        """Inverse of :meth:`to_dict`."""
        return cls(Fraction(d["rate"]), int(d["num_frames"]), Fraction(d.get("t0", "0")),
                   d.get("hop"), d.get("window"), d.get("sample_rate"), d.get("timestamps"))

    def describe(self) -> str:
        """One phrase, e.g. ``"191 frames at 50 Hz (hop 20 ms, window 25 ms, first centre 12.5 ms)"``."""
        parts = []
        if self.hop is not None and self.sample_rate:
            parts.append(f"hop {_ms(Fraction(self.hop, self.sample_rate))}")
        if self.window is not None and self.sample_rate:
            parts.append(f"window {_ms(Fraction(self.window, self.sample_rate))}")
        parts.append(f"first centre {_ms(self.t0)}")
        unit = "Hz" if self.hop is not None else "fps"
        return f"{self.num_frames} frames at {_rate(self.rate)} {unit} ({', '.join(parts)})"


def _ms(seconds: Fraction) -> str:
    ms = float(seconds) * 1000
    return f"{ms:.4g} ms"


def _rate(rate: Fraction) -> str:
    return fraction_str(rate) if rate.denominator not in (1,) and rate.denominator != 2 else f"{float(rate):g}"
