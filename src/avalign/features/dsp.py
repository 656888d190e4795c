"""Signal-processing building blocks on numpy/scipy: framing, STFT, mel filter banks.

Pure functions, shapes time-major: an STFT of ``n`` samples is ``(T, n_fft//2 + 1)``.
Filter banks and windows are cached (they are read-only arrays).

Speed notes (measured in ``bench/bench_spectral.py``): :func:`mel_spectrogram`
never materialises the whole STFT. It windows, transforms (scipy's pocketfft,
through :mod:`.kernels`), takes magnitudes and applies the mel filters block by
block, in float32 by default, keeping only the FFT bins that some filter uses.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import budget
from ..errors import InputError
from ..threads import run_parts
from ..timing import stft_num_frames
from . import kernels

PAD_MODES = ("constant", "reflect")

#: Frames per block in :func:`mel_spectrogram` (400 KB of float32 frames at n_fft 800: the
#: temporaries stay in cache; 64-128 measured fastest, 1024 about 25% slower).
BLOCK_FRAMES = 128
#: Samples per step of :func:`preemphasis` (its two passes stay in cache), and the fewest per thread
PREEMPH_BLOCK, PREEMPH_SPLIT = 1 << 14, 1 << 21
#: ``scipy.fft`` workers per block. One: threads on short blocks cost more than they gain on a
#: shared machine (measured 5x slower under load); parallelise across files instead (``avalign batch``).
FFT_WORKERS = 1


def preemphasis(x: np.ndarray, coef: float, *, dtype=None, out: np.ndarray | None = None) -> np.ndarray:
    """``y[t] = x[t] - coef * x[t-1]``, ``y[0] = x[0]`` (zero initial state, ``lfilter([1, -coef], [1], x)``).

    Parameters
    ----------
    x : np.ndarray, shape ``(n,)``
    coef : float
    dtype : numpy dtype, optional
        Computation and output type; default float64 (as ``lfilter`` gives), or
        the type of ``x`` when it is float32.
    out : np.ndarray, shape ``(n,)``, optional
        Where to write the result (not overlapping ``x``).

    Returns
    -------
    np.ndarray, shape ``(n,)``
    """
    if dtype is None:
        dtype = out.dtype if out is not None else (np.float32 if np.asarray(x).dtype == np.float32 else np.float64)
    x = np.asarray(x, dtype=dtype)
    y = np.empty_like(x) if out is None else out
    c = np.dtype(dtype).type(coef)

    def part(a: int, b: int) -> None:  # block by block in cache; long signals on several threads
        for i in range(a, b, PREEMPH_BLOCK):
            j = min(i + PREEMPH_BLOCK, b)
            _filter_into(x, i, j, c, y[i:j])

    run_parts(part, x.shape[0], min_part=PREEMPH_SPLIT)
    return y


def _filter_into(x: np.ndarray, lo: int, hi: int, c, out: np.ndarray) -> None:
    """``preemphasis(x, c)[lo:hi]`` written to ``out`` (length ``hi - lo``); ``c`` of ``x``'s type."""
    first = max(lo, 1)
    if lo == 0 and hi > 0:
        out[0] = x[0]
    np.multiply(x[first - 1:hi - 1], c, out=out[first - lo:])
    np.subtract(x[first:hi], out[first - lo:], out=out[first - lo:])


def _check_pad_mode(pad_mode: str) -> None:
    if pad_mode not in PAD_MODES:
        raise InputError(f"bad pad_mode {pad_mode!r}; expected one of {', '.join(PAD_MODES)}")


@lru_cache(maxsize=32)
def get_window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """Periodic window of ``win_length`` samples, zero-padded to ``n_fft`` at the centre (librosa's rule).

    Returns a read-only float64 array of shape ``(n_fft,)``.
    """
    if window in ("rect", "rectangular", "boxcar", "ones"):
        w = np.ones(win_length)
    elif window in ("hann", "hanning") and win_length > 1:
        # scipy.signal's periodic Hann (general_cosine on M + 1 points, last dropped), bit for bit,
        # without importing scipy.signal (about a second of start-up)
        w = (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, win_length + 1)))[:win_length]
    else:
        try:
            import scipy.signal  # lazy: its import costs seconds on a busy machine

            w = scipy.signal.get_window(window, win_length, fftbins=True)
        except ValueError as exc:
            raise InputError(f"bad window {window!r}: {exc}") from None
    if win_length > n_fft:
        raise InputError(f"window length {win_length} is longer than n_fft {n_fft}")
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = np.pad(w, (left, n_fft - win_length - left))
    w.setflags(write=False)
    return w


def frame(x: np.ndarray, *, frame_length: int, hop: int) -> np.ndarray:
    """Strided view of ``x``: shape ``(1 + (n - frame_length) // hop, frame_length)``."""
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop]


def pad_centre(x: np.ndarray, pad: int, *, pad_mode: str = "constant", preemph: float = 0.0,
               dtype=None) -> np.ndarray:
    """Pad ``pad`` samples on both sides: zeros (``constant``, librosa >= 0.9) or ``reflect`` (< 0.9).

    ``reflect`` mirrors without repeating the edge sample, as ``np.pad`` does
    (repeatedly for signals shorter than ``pad``). With ``preemph`` the
    filter (:func:`preemphasis`) is applied first, written straight into the
    padded buffer. Returns shape ``(n + 2 pad,)`` in ``dtype`` (default: ``x``'s).
    """
    _check_pad_mode(pad_mode)
    x = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    n = x.shape[0]
    if pad_mode == "reflect" and n < 2:
        raise InputError(f"reflect padding needs at least 2 samples, got {n}")
    budget.check(budget.nbytes(n + 2 * pad, itemsize=x.dtype.itemsize),
                 f"{n} samples padded by {pad} on both sides x {x.dtype}")
    if pad_mode == "reflect" and n <= pad + 1:
        if preemph:
            x = preemphasis(x, preemph, dtype=x.dtype)
        return np.pad(x, pad, mode="reflect")
    out = np.empty(n + 2 * pad, dtype=x.dtype)
    if preemph:
        preemphasis(x, preemph, out=out[pad:pad + n])
    else:
        out[pad:pad + n] = x
    if pad == 0:
        return out
    if pad_mode == "constant":
        out[:pad] = 0
        out[pad + n:] = 0
    else:
        out[:pad] = out[2 * pad:pad:-1]
        out[pad + n:] = out[pad + n - 2:n - 2:-1]
    return out


def _padded_range(x: np.ndarray, a: int, b: int, *, pad: int, pad_mode: str, preemph: float,
                  out: np.ndarray) -> np.ndarray:
    """Samples ``[a, b)`` of ``pad_centre(preemphasis(x, preemph), pad, pad_mode=pad_mode)``, the same bits,
    written to ``out[:b - a]`` (returned). ``reflect`` needs ``len(x) > pad + 1`` (one reflection)."""
    n = x.shape[0]
    seg = out[:b - a]
    c = x.dtype.type(preemph)

    def source(lo: int, hi: int, dst: np.ndarray) -> None:  # filtered samples [lo, hi) of x into dst
        if preemph:
            _filter_into(x, lo, hi, c, dst)
        else:
            dst[:] = x[lo:hi]

    lo, hi = max(a - pad, 0), min(b - pad, n)  # source samples inside the range
    if lo < hi:
        source(lo, hi, seg[lo + pad - a:hi + pad - a])
    for p0, p1 in ((a, min(b, pad)), (max(a, pad + n), b)):  # the pads, first and last blocks only
        if p0 >= p1:
            continue
        if pad_mode == "constant":
            seg[p0 - a:p1 - a] = 0
            continue
        j = np.arange(p0 - pad, p1 - pad)
        j = np.where(j < 0, -j, 2 * (n - 1) - j)  # mirrored without repeating the edge sample (np.pad)
        j_lo, j_hi = int(j.min()), int(j.max()) + 1
        mirrored = np.empty(j_hi - j_lo, x.dtype)
        source(j_lo, j_hi, mirrored)
        seg[p0 - a:p1 - a] = mirrored[j - j_lo]
    return seg


def _framed(x: np.ndarray, *, n_fft: int, hop: int, center: bool, pad_mode: str,
            preemph: float = 0.0) -> np.ndarray:
    if center:
        x = pad_centre(x, n_fft // 2, pad_mode=pad_mode, preemph=preemph)
    elif preemph:
        x = preemphasis(x, preemph, dtype=x.dtype)
    _frames_of(x.shape[0], n_fft=n_fft, hop=hop)
    return frame(x, frame_length=n_fft, hop=hop)


def _frames_of(n: int, *, n_fft: int, hop: int) -> int:
    """Frames of ``n`` (already padded) samples, or InputError when there are none."""
    n_frames = stft_num_frames(n, n_fft=n_fft, hop=hop, center=False)
    if n_frames <= 0:
        raise InputError(f"{n} samples are too few for an STFT of n_fft={n_fft}")
    return n_frames


def stft(x: np.ndarray, *, n_fft: int, hop: int, win_length: int | None = None, window: str = "hann",
         center: bool = True, pad_mode: str = "constant", dtype=np.float64) -> np.ndarray:
    """Complex STFT, shape ``(stft_num_frames(n), n_fft // 2 + 1)``, librosa framing.

    ``pad_mode`` is the edge padding of centring: ``constant`` (zeros,
    librosa >= 0.9) or ``reflect`` (librosa < 0.9). ``dtype`` float32 gives complex64.
    """
    x = np.asarray(x, dtype=dtype)
    frames = _framed(x, n_fft=n_fft, hop=hop, center=center, pad_mode=pad_mode)
    kind = np.result_type(dtype, np.complex64)
    budget.check(budget.nbytes(frames.shape[0], n_fft // 2 + 1, itemsize=kind.itemsize),
                 f"an STFT of {frames.shape[0]} frames x {n_fft // 2 + 1} bins x {kind}")
    w = get_window(window, win_length or n_fft, n_fft).astype(dtype)
    out = np.empty((frames.shape[0], n_fft // 2 + 1), dtype=kind)
    block = max(1, (1 << 22) // n_fft)  # bounded temporaries for long signals
    for i in range(0, frames.shape[0], block):
        out[i:i + block] = kernels.rfft(frames[i:i + block] * w, axis=-1, workers=FFT_WORKERS)
    return out


def spectrogram(x: np.ndarray, *, power: float = 2.0, **stft_args) -> np.ndarray:
    """``|STFT|**power``, shape ``(T, n_fft // 2 + 1)``."""
    return _magnitude(stft(x, **stft_args), power)


def _magnitude(spec: np.ndarray, power: float) -> np.ndarray:
    """``|spec|**power`` (complex ``abs`` then an in-place square for power 2: the fastest measured)."""
    s = np.abs(spec)
    if power == 1.0:
        return s
    if power == 2.0:
        return np.square(s, out=s)
    return np.power(s, power, out=s)


def mel_spectrogram(x: np.ndarray, *, filterbank: np.ndarray, n_fft: int, hop: int, win_length: int | None = None,
                    window: str = "hann", center: bool = True, pad_mode: str = "constant", power: float = 1.0,
                    preemph: float = 0.0, dtype=np.float32, block: int = BLOCK_FRAMES,
                    workers: int | None = None, order: str = "C") -> np.ndarray:
    """Mel-filtered magnitude (``power`` 1) or power (2) spectrogram, shape ``(T, n_mels)``.

    Equals ``|STFT(preemphasis(x, preemph))|**power @ filterbank`` with librosa's framing, computed
    block by block in ``dtype`` (float32 by default) on the FFT bins that the
    filters use.

    Parameters
    ----------
    x : np.ndarray, shape ``(n,)``
        Samples.
    filterbank : np.ndarray, shape ``(n_fft // 2 + 1, n_mels)``
        From :func:`mel_filterbank`.
    n_fft, hop, win_length : int
        Samples.
    block : int
        Frames per block (bounds the temporaries).
    workers : int, optional
        ``scipy.fft`` workers per block; default :data:`FFT_WORKERS`.
    order : {"C", "F"}
        Memory layout of the result: ``F`` stores it band by band (``out.T`` is
        C-contiguous ``(n_mels, T)``), the layout of Wav2Lip's ``[80, 16]`` windows.
    """
    if order not in ("C", "F"):
        raise InputError(f"bad order {order!r}; expected 'C' or 'F'")
    dtype = np.dtype(dtype)
    x = np.asarray(x, dtype=dtype)
    t_expected = stft_num_frames(x.shape[0], n_fft=n_fft, hop=hop, center=center)
    budget.check(budget.nbytes(t_expected, filterbank.shape[1], itemsize=dtype.itemsize)
                 + budget.nbytes(min(block, max(t_expected, 1)), n_fft + n_fft // 2 + 1, itemsize=2 * dtype.itemsize),
                 f"{t_expected} frames x {filterbank.shape[1]} mels x {dtype}, blocks of {block} x {n_fft} samples")
    pad = n_fft // 2 if center else 0
    if (preemph or center) and not (center and pad_mode == "reflect" and x.shape[0] <= pad + 1):
        frames = None  # each block's padded, filtered samples are made in cache (_padded_range), not all at once
        _check_pad_mode(pad_mode)
        t = _frames_of(x.shape[0] + 2 * pad, n_fft=n_fft, hop=hop)
    else:  # no filter and no pad (frames are views of x), or a signal shorter than the reflect pad
        frames = _framed(x, n_fft=n_fft, hop=hop, center=center, pad_mode=pad_mode, preemph=preemph)
        t = frames.shape[0]
    w = get_window(window, win_length or n_fft, n_fft).astype(dtype)
    lo, hi = _used_bins(filterbank)
    project = filter_projection(filterbank[lo:hi], dtype=dtype)
    out = np.empty((t, filterbank.shape[1]), dtype=dtype, order=order)

    def run(start: int, stop: int) -> None:
        width = min(block, stop - start)
        buf = np.empty((width, n_fft), dtype=dtype)
        mag = np.empty((hi - lo, width), dtype=dtype)  # bins x frames, as the product reads
        acc = np.empty((filterbank.shape[1], width), dtype=dtype)
        if frames is None:  # each block's samples are made in seg; seg_frames views them as frames
            seg = np.empty((width - 1) * hop + n_fft, dtype=dtype)
            seg_frames = np.lib.stride_tricks.as_strided(seg, shape=(width, n_fft), strides=(hop * seg.itemsize,
                                                                                             seg.itemsize))
        for i in range(start, stop, block):
            n = min(i + block, stop) - i
            if frames is None:
                _padded_range(x, i * hop, (i + n - 1) * hop + n_fft, pad=pad, pad_mode=pad_mode, preemph=preemph,
                              out=seg)
                f = seg_frames[:n]
            else:
                f = frames[i:i + n]
            np.multiply(f, w, out=buf[:n])
            # transforming the transposed view returns bins x frames, C-ordered: no transposed copies later
            spec = kernels.rfft(buf[:n].T, axis=0, workers=workers or FFT_WORKERS)
            m = mag if n == width else np.empty((hi - lo, n), dtype=dtype)
            np.abs(spec[lo:hi], out=m)
            if power == 2.0:
                np.square(m, out=m)
            elif power != 1.0:
                np.power(m, power, out=m)
            p = project(m, out=acc if n == width else np.empty((filterbank.shape[1], n), dtype=dtype))
            out.T[:, i:i + n] = p  # bands x frames: a straight copy for F, a small transposed one for C

    # contiguous frame ranges per thread, long signals only; the FFT, abs and products release the GIL
    run_parts(run, t, min_part=8 * block)
    return out


def filter_projection(filterbank: np.ndarray, *, dtype=np.float64):
    """A function ``project(s_t, out=None)``: ``S_T (bins, T) -> filterbank.T @ S_T (filters, T)``.

    Mel filters touch a few bins each (Wav2Lip's bank: 739 of 30,400
    weights), so a sparse product does a fraction of the work of a dense
    one, single-threaded: a multi-threaded BLAS call on short blocks was the
    slowest step on a busy machine (measured). Dense banks use BLAS. ``out``
    (C-contiguous, ``dtype``) receives the product in a loop over blocks;
    ``s_t`` must then be C-contiguous ``dtype`` too.
    """
    fb_t = np.ascontiguousarray(np.asarray(filterbank, dtype=dtype).T)
    if np.count_nonzero(fb_t) > 0.25 * fb_t.size:
        return lambda s_t, out=None: np.matmul(fb_t, s_t, out=out)
    sparse_t = kernels.SparseRows(fb_t)  # scipy's CSR kernel without importing scipy.sparse
    return lambda s_t, out=None: sparse_t @ s_t if out is None else sparse_t.matmul_into(s_t, out)


def _used_bins(filterbank: np.ndarray) -> tuple[int, int]:
    """``[lo, hi)``: the FFT bins where some filter is non-zero."""
    used = np.nonzero(np.any(filterbank != 0, axis=1))[0]
    if used.size == 0:
        return 0, filterbank.shape[0]
    return int(used[0]), int(used[-1]) + 1


def hz_to_mel(freq, *, htk: bool = False):
    """Hz -> mel: HTK ``2595 log10(1 + f/700)`` or Slaney (linear below 1 kHz, log above)."""
    f = np.asanyarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz(mels, *, htk: bool = False):
    """mel -> Hz, inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=32)
def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters, shape ``(n_fft // 2 + 1, n_mels)`` (time-major use: ``S @ fb``).

    Same construction as ``librosa.filters.mel`` (Slaney area normalisation
    with ``norm="slaney"``, none with ``None``). Cached, read-only.
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    if not 0 <= fmin < fmax:
        raise InputError(f"bad mel band: fmin {fmin} Hz must be below fmax {fmax} Hz and not negative")
    # the ramps, both slopes and the weights: four (n_mels + 2) x bins float64 arrays at once
    budget.check(4 * budget.nbytes(n_mels + 2, n_fft // 2 + 1, itemsize=8),
                 f"a mel filterbank of {n_mels} mels x {n_fft // 2 + 1} FFT bins x float64, with its temporaries")
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    elif norm is not None:
        raise InputError(f"bad mel norm {norm!r}; expected 'slaney' or None")
    fb = np.ascontiguousarray(weights.T)
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=32)
def psf_filterbank(*, nfilt: int, nfft: int, sample_rate: int, lowfreq: float = 0.0,
                   highfreq: float | None = None) -> np.ndarray:
    """python_speech_features' HTK-mel triangles on FFT bins, shape ``(nfft // 2 + 1, nfilt)``. Cached, read-only.

    Band edges are FFT bins ``floor((nfft + 1) * hz / sample_rate)``; ``highfreq``
    ``None`` or 0 means ``sample_rate / 2`` (psf's ``highfreq or samplerate/2``).
    """
    highfreq = highfreq or sample_rate / 2
    budget.check(2 * budget.nbytes(nfilt + 2, nfft // 2 + 1, itemsize=8),
                 f"a filterbank of {nfilt} filters x {nfft // 2 + 1} FFT bins x float64, with its copy")
    mel = np.linspace(hz_to_mel(lowfreq, htk=True), hz_to_mel(highfreq, htk=True), nfilt + 2)
    edges = np.floor((nfft + 1) * mel_to_hz(mel, htk=True) / sample_rate)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    k = np.arange(nfft // 2 + 1, dtype=np.float64)
    for j in range(nfilt):
        a, b, c = edges[j], edges[j + 1], edges[j + 2]
        rise = (k >= int(a)) & (k < int(b))
        fall = (k >= int(b)) & (k < int(c))
        with np.errstate(divide="ignore", invalid="ignore"):
            fb[j, rise] = (k[rise] - a) / (b - a)
            fb[j, fall] = (c - k[fall]) / (c - b)
    out = np.ascontiguousarray(fb.T)
    out.setflags(write=False)
    return out
