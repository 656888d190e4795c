"""Probe media files and decode their audio onto the video's clock.

PyAV (FFmpeg's libraries) demuxes and decodes; plain PCM WAV files are read
directly and native FLAC files through libsndfile (the samples and the probe
FFmpeg would give, without importing PyAV: :func:`_pcm_wav`, :func:`_native_flac`);
soxr resamples (resampy's ``kaiser_best`` on request, which
librosa < 0.10 used).

The reference clock is the video's: time 0 is the presentation time of the
first video frame. An :class:`Audio` knows where its first sample sits on that
clock (``start``, seconds; negative when the audio stream starts first). AAC
encoder priming is removed by FFmpeg's decoder from the container's edit list;
trailing encoder padding beyond the stream's declared duration is trimmed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from . import budget
from .errors import AvalignError, InputError, MediaError, NoAudioError
from .threads import run_parts
from .timing import FrameGrid, fraction_str

#: Resamplers accepted by :func:`load_audio`: soxr qualities, and resampy filters.
RESAMPLERS = ("soxr_hq", "soxr_vhq", "soxr_mq", "soxr_lq", "kaiser_best", "kaiser_fast")

#: File extensions treated as media when scanning folders.
MEDIA_EXTENSIONS = (
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".mp4", ".mkv", ".mov",
    ".webm", ".avi", ".m4v", ".wma", ".aiff", ".aif",
)


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream. Times in seconds on the container clock.

    ``fps`` is exact. For a constant frame rate it is one over the frame
    interval (``30000/1001``, never 29.97). For a variable frame rate
    (``vfr``: frame intervals differ by more than one tick of the time base
    and more than 2 %) it is the *average* rate, FFmpeg's ``avg_frame_rate``:
    frames over the stream's duration (``1350/61`` for a 135-frame, 6.1 s
    clip); the actual frame times are then in ``timestamps`` and
    :meth:`grid` carries them, so alignment uses real times, not the average.
    ``base_fps`` is the container's base (tick) rate, e.g. 30 for that clip.
    ``num_frames`` counts the packets actually present (demuxed, not the
    header's claim).
    """

    index: int
    codec: str
    width: int
    height: int
    fps: Fraction
    num_frames: int
    start_time: Fraction
    duration: float
    vfr: bool
    average_fps: Fraction
    timestamps: tuple = field(repr=False, default=())
    base_fps: Fraction | None = None

    def grid(self) -> FrameGrid:
        """The video's frame grid on its own clock (frame 0 at 0 s); actual timestamps when VFR."""
        ts = None
        if self.vfr:
            ts = tuple(t - float(self.start_time) for t in self.timestamps)
        return FrameGrid.from_video(self.fps, self.num_frames, timestamps=ts)

    def to_dict(self) -> dict:
        return {
            "index": self.index, "codec": self.codec, "width": self.width, "height": self.height,
            "fps": fraction_str(self.fps), "fps_hz": float(self.fps), "num_frames": self.num_frames,
            "start_time": float(self.start_time), "duration": self.duration, "vfr": self.vfr,
            "average_fps": fraction_str(self.average_fps),
            "base_fps": None if self.base_fps is None else fraction_str(self.base_fps),
        }


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream. Times in seconds on the container clock.

    ``num_samples`` is what the container declares (its index: an MP4's
    sample table, FLAC's STREAMINFO, a WAV's data size, a Matroska track's
    ``DURATION`` tag; else the file's duration). ``declared_by`` says which:
    ``"index"`` (an exact count), ``"tag"`` (milliseconds), or None (an
    estimate: a shortfall cannot be told from it).
    """

    index: int
    codec: str
    sample_rate: int
    channels: int
    start_time: Fraction
    num_samples: int
    duration: float
    declared_by: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start_time"] = float(self.start_time)
        return d


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` finds in a file."""

    path: str
    format: str
    duration: float
    video: VideoInfo | None
    audio: AudioInfo | None
    streams: tuple = ()

    @property
    def audio_offset(self) -> Fraction:
        """Seconds from the first video frame to the first audio sample (0 without video or audio)."""
        if self.video is None or self.audio is None:
            return Fraction(0)
        return self.audio.start_time - self.video.start_time

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"path": self.path, "format": self.format, "duration": self.duration,
                             "streams": list(self.streams)}
        if self.video is not None:
            d["video"] = self.video.to_dict()
        if self.audio is not None:
            d["audio"] = self.audio.to_dict()
        if self.video is not None and self.audio is not None:
            d["audio_offset"] = float(self.audio_offset)
        return d


@dataclass(frozen=True)
class Audio:
    """Mono samples at a known rate, placed on a clock.

    Attributes
    ----------
    samples : np.ndarray, shape ``(n,)``, float32
        In [-1, 1), or int16 magnitudes when ``scale == "int16"``.
    sample_rate : int
        Hz.
    start : Fraction
        Seconds of sample 0 on the reference clock (the video clock for a
        video file: audio start minus video start).
    meta : dict
        How the samples were made (source, channels, resampler, trims).
    """

    samples: np.ndarray
    sample_rate: int
    start: Fraction = Fraction(0)
    scale: str = "float"
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> Fraction:
        """Exact length in seconds: ``num_samples / sample_rate``."""
        return Fraction(self.num_samples, self.sample_rate)

    @classmethod
    def from_array(cls, samples, sample_rate: int, *, start=0, scale: str = "float") -> "Audio":
        """Wrap a 1-D array (checked: finite, 1-D) as Audio."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise InputError(f"audio must be 1-D (mono), got shape {x.shape}")
        x = x.astype(np.float32, copy=False)
        if not np.all(np.isfinite(x)):
            raise InputError("audio contains NaN or infinite samples")
        return cls(x, int(sample_rate), Fraction(start), scale)

    def shifted(self, seconds) -> "Audio":
        """The same samples placed ``seconds`` later on the clock."""
        return replace(self, start=self.start + Fraction(seconds))

    def on_clock(self, start=0, num_samples: int | None = None) -> "Audio":
        """Pad with zeros or trim so that sample 0 sits at ``start`` seconds (rounded to a sample).

        With ``num_samples``, also pad or trim the end to that length. The
        padding and trimming done are recorded in ``meta["clock"]``.
        """
        shift = round((self.start - Fraction(start)) * self.sample_rate)
        x = self.samples
        if shift > 0:
            x = np.concatenate([np.zeros(shift, x.dtype), x])
        elif shift < 0:
            x = x[-shift:]
        if num_samples is not None:
            x = x[:num_samples] if x.shape[0] >= num_samples else np.pad(x, (0, num_samples - x.shape[0]))
        meta = dict(self.meta)
        meta["clock"] = {"padded_start": max(shift, 0), "trimmed_start": max(-shift, 0),
                         "from_start": float(self.start), "length": int(x.shape[0])}
        return replace(self, samples=x, start=Fraction(start), meta=meta)


# ---------------------------------------------------------------------------
# Opening files
# ---------------------------------------------------------------------------


def _open(path):
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MediaError(f"{path}: is a directory, not a media file")
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
        raise MediaError(f"{path}: not a regular file (a FIFO, socket or device), not a media file")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{path}: file is empty")
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({_reason(exc)})") from None
    except Exception as exc:  # pragma: no cover - unusual PyAV failures
        raise MediaError(f"{path}: not a readable media file ({exc})") from None


def _reason(exc) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _demux_streams(container, path: str, video, audio) -> tuple[list[int], int]:
    """One demuxing pass (no decoding) over the first video and audio streams.

    Returns the sorted presentation timestamps of every video packet (in the
    stream's time base) and the number of audio packets. Raises
    :class:`MediaError` when the file ends before the packets its index lists
    (a truncated file whose index sits at the front, ``moov`` first).
    """
    import av

    streams = [s for s in (video, audio) if s is not None]
    pts: list[int] = []
    n_video = n_audio = 0
    audio_end = None
    try:
        for p in container.demux(*streams):
            if p.size <= 0:
                continue
            if video is not None and p.stream.index == video.index:
                n_video += 1
                if p.pts is not None:
                    pts.append(p.pts)
            else:
                n_audio += 1
                if p.pts is not None:
                    end = p.pts + (p.duration or 0)  # ticks of the audio time base
                    audio_end = end if audio_end is None else max(audio_end, end)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: truncated or corrupt file ({_reason(exc)})") from None
    # an MP4/MOV index counts video packets and gives exact durations: less data means the file was cut
    indexed = container.format.name.startswith("mov,mp4")
    if indexed and video is not None and video.frames and n_video < video.frames:
        raise MediaError(f"{path}: truncated file: its index lists {video.frames} video frames but only "
                         f"{n_video} are present")
    if audio_end is not None:
        audio_end = audio_end * Fraction(audio.time_base)
    if indexed and audio is not None and audio.duration and audio.start_time is not None:
        tb = Fraction(audio.time_base)
        declared_end = Fraction(audio.start_time + audio.duration) * tb
        # packets may end a little before the declared end (priming, rounding): the decoder counts exactly
        # (load_audio); here only what is more than the refusal limit short is refused
        got = Fraction(0) if audio_end is None else audio_end
        declared = declared_end - Fraction(audio.start_time) * tb
        limit = min(Fraction(MAX_MISSING_SECONDS), Fraction(MAX_MISSING_FRACTION) * declared)
        if declared_end - got > limit:
            raise MediaError(f"{path}: truncated file: its audio stream should last until {float(declared_end):.3f} s "
                             f"but its data ends at {float(got):.3f} s; refused above {MAX_MISSING_SECONDS:g} s or "
                             f"{100 * MAX_MISSING_FRACTION:g} % missing (see docs/foundation.md)")
    pts.sort()
    return pts, n_audio


#: The GUIDs of Sony Wave64 (``.w64``): the ``riff`` and ``wave`` headers and the ``data`` chunk.
_W64_RIFF = b"riff" + bytes.fromhex("2e91cf11a5d628db04c10000")
_W64_WAVE = b"wave" + bytes.fromhex("f3acd3118cd100c04f8edb8a")
_W64_DATA = b"data" + bytes.fromhex("f3acd3118cd100c04f8edb8a")


def _wav_data_size(fh, size: int) -> tuple[int, int] | None:
    """``(declared bytes of the data chunk, bytes present after its header)`` of a RIFF, RIFX, RF64, BW64 or
    Wave64 file, or None (not such a file, or a size that marks a stream written without a final size)."""
    head = fh.read(16)
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        order = "big" if head[:4] == b"RIFX" else "little"
        ds64 = None  # RF64 / BW64: 64-bit sizes in the ds64 chunk, the 32-bit fields set to 0xFFFFFFFF
        pos = 12
        while pos + 8 <= size:  # one step per chunk of the file: each step advances by its header at least
            fh.seek(pos)
            chunk = fh.read(8)
            n = int.from_bytes(chunk[4:8], order)
            if chunk[:4] == b"ds64" and n >= 16:
                ds64 = int.from_bytes(fh.read(16)[8:16], "little")
            if chunk[:4] == b"data":
                if n == 0xFFFFFFFF and ds64 is not None:
                    n = ds64
                elif n in (0, 0xFFFFFFFF):
                    return None
                return n, size - pos - 8
            pos += 8 + n + (n & 1)
        return None
    if len(head) == 16 and head == _W64_RIFF:
        pos = 40  # riff GUID, 8-byte size, wave GUID
        fh.seek(24)
        if fh.read(16) != _W64_WAVE:
            return None
        while pos + 24 <= size:  # Wave64 chunk sizes count their 24-byte header; chunks are 8-byte aligned
            fh.seek(pos)
            chunk = fh.read(24)
            n = int.from_bytes(chunk[16:24], "little")
            if n < 24:
                return None
            if chunk[:16] == _W64_DATA:
                return n - 24, size - pos - 24
            pos += n + (-n % 8)
    return None


def _check_wav_length(path: str) -> None:
    """Raise :class:`MediaError` when a WAV's data chunk (RIFF, RIFX, RF64/BW64 through ds64, or Wave64)
    declares more bytes than the file holds."""
    try:
        with open(path, "rb") as fh:
            found = _wav_data_size(fh, os.fstat(fh.fileno()).st_size)
    except OSError:
        return
    if found is not None and found[0] > found[1]:
        raise MediaError(f"{path}: truncated WAV file: its data chunk declares {found[0]} bytes but only "
                         f"{found[1]} are present")


#: Containers whose index gives an audio stream's exact length in samples.
_EXACT_INDEX = ("mov,mp4", "flac", "wav", "w64", "aiff")


def _declared_samples(container, st, sr: int) -> tuple[int, str | None]:
    """Samples the container declares for audio stream ``st``, and where that comes from (see AudioInfo)."""
    fmt = container.format.name
    if st.duration and fmt.startswith(_EXACT_INDEX):
        return round(Fraction(st.duration) * Fraction(st.time_base) * sr), "index"
    tag = (st.metadata or {}).get("DURATION") or (st.metadata or {}).get("duration")
    seconds = _parse_clock(tag) if tag else None
    if seconds is not None:
        return round(seconds * sr), "tag"
    if st.duration:
        return round(Fraction(st.duration) * Fraction(st.time_base) * sr), None
    if container.duration:
        return round(Fraction(container.duration, 1_000_000) * sr), None
    return 0, None


def _parse_clock(text: str) -> Fraction | None:
    """``"00:00:02.066000000"`` -> seconds (a Fraction); None when it does not parse."""
    parts = str(text).strip().split(":")
    if len(parts) != 3:
        return None
    try:
        h, m = int(parts[0]), int(parts[1])
        sec = Fraction(parts[2])
    except (ValueError, ZeroDivisionError):
        return None
    if h < 0 or not 0 <= m < 60 or not 0 <= sec < 61:
        return None
    return h * 3600 + m * 60 + sec


#: Audio missing at the end of a cut file (its index declares more than its data holds) is reported in
#: the sidecar (``audio.missing_samples``) and as a warning up to these limits, and refused above either.
MAX_MISSING_SECONDS = 1.0
MAX_MISSING_FRACTION = 0.05


def missing_audio_limit(declared: int, sample_rate: int) -> int:
    """The most samples (at ``sample_rate``) that may be missing from ``declared`` before a file is refused."""
    return min(int(MAX_MISSING_SECONDS * sample_rate), int(MAX_MISSING_FRACTION * declared))


def _missing_audio_error(path: str, missing: int, declared: int, sample_rate: int) -> MediaError:
    return MediaError(
        f"{path}: truncated file: its index declares {declared} audio samples ({declared / sample_rate:.3f} s) "
        f"but {missing} ({missing / sample_rate:.3f} s, {100 * missing / max(declared, 1):.1f} %) are missing; "
        f"refused above {MAX_MISSING_SECONDS:g} s or {100 * MAX_MISSING_FRACTION:g} % (see docs/foundation.md)")


def _audio_only_info(path: str, fmt: str, codec: str, sr: int, channels: int, n: int) -> MediaInfo:
    """The :class:`MediaInfo` FFmpeg's probe gives for a file holding one audio stream of ``n`` samples from 0."""
    us = (2 * n * 1_000_000 + sr) // (2 * sr)  # FFmpeg's container duration: microseconds, rounded half up
    audio = AudioInfo(0, codec, sr, channels, Fraction(0), n, n / sr, "index")
    return MediaInfo(path, fmt, us / 1e6, None, audio, ({"index": 0, "type": "audio", "codec": codec},))


#: Read WAV files without PyAV when they are plain PCM (set False to always decode through FFmpeg).
WAV_DIRECT = True

#: ``WAVE_FORMAT_EXTENSIBLE`` sub-format GUID after its first two bytes (the format tag)
_KSDATAFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")
#: (format tag, bits per sample) -> FFmpeg's codec name, for the PCM layouts read directly
_WAV_CODECS = {(1, 8): "pcm_u8", (1, 16): "pcm_s16le", (1, 24): "pcm_s24le", (1, 32): "pcm_s32le",
               (3, 32): "pcm_f32le", (3, 64): "pcm_f64le"}
#: FFmpeg's codec -> the file's sample type (None: 24-bit, widened to int32 as FFmpeg's decoder does)
_WAV_DTYPES = {"pcm_u8": np.dtype(np.uint8), "pcm_s16le": np.dtype("<i2"), "pcm_s24le": None,
               "pcm_s32le": np.dtype("<i4"), "pcm_f32le": np.dtype("<f4"), "pcm_f64le": np.dtype("<f8")}
#: sample frames converted per block by :meth:`_PcmWav.blocks` (bounded temporaries)
WAV_BLOCK = 1 << 16
#: a mono 16-bit file is read in parallel parts of at least this many samples (``compute_threads()`` at most)
WAV_SPLIT = 1 << 21


@dataclass(frozen=True)
class _PcmWav:
    """A RIFF/WAVE file of plain PCM: where its samples are and how FFmpeg would decode them."""

    codec: str
    sample_rate: int
    channels: int
    bits: int
    offset: int  # bytes: first byte of the data chunk's payload
    size: int  # bytes of payload (a whole number of sample frames)

    @property
    def num_samples(self) -> int:
        return self.size // (self.channels * self.bits // 8)

    def info(self, path: str) -> MediaInfo:
        """What :func:`probe` returns for this file through FFmpeg (tests compare the two routes)."""
        return _audio_only_info(path, "wav", self.codec, self.sample_rate, self.channels, self.num_samples)

    def read_into(self, path: str, buf: "_Buffer") -> None:
        """A mono 16-bit file's samples as float32 in [-1, 1), straight into ``buf``.

        The same values as :meth:`blocks` and :func:`_to_mono` (a power-of-two scale
        is exact), converted as they are read, without temporaries; a long file in
        parallel parts (:data:`WAV_SPLIT`), each read at its own offset.
        """
        n = self.num_samples
        dst = buf.reserve(n)
        scale = np.float32(1.0 / 32768.0)
        fd = os.open(path, os.O_RDONLY)

        def part(a: int, b: int) -> None:
            raw = np.empty(min(WAV_BLOCK, b - a), "<i2")
            for c in range(a, b, raw.shape[0]):
                m = min(raw.shape[0], b - c)
                got = os.preadv(fd, [memoryview(raw[:m]).cast("B")], self.offset + 2 * c)
                if got < 2 * m:
                    raise MediaError(f"{path}: truncated WAV file: its data ends {n - c - got // 2} samples early")
                np.multiply(raw[:m], scale, out=dst[c:c + m])

        try:
            run_parts(part, n, min_part=WAV_SPLIT)
        finally:
            os.close(fd)
        buf.commit(n)

    def blocks(self, path: str):
        """Samples as PyAV's frames give them: arrays ``(channels, m)`` in the decoder's sample format
        (int16, int32 with 24-bit values shifted left by 8, uint8, float32 or float64)."""
        width = self.bits // 8
        frame_bytes = width * self.channels
        dtype = _WAV_DTYPES[self.codec]
        with open(path, "rb") as fh:
            fh.seek(self.offset)
            left = self.num_samples
            while left > 0:
                m = min(left, WAV_BLOCK)
                raw = fh.read(m * frame_bytes)
                if len(raw) < m * frame_bytes:
                    raise MediaError(f"{path}: truncated WAV file: its data ends {left - len(raw) // frame_bytes} "
                                     "samples early")
                if dtype is None:  # 24-bit: FFmpeg decodes to 32-bit samples, the 3 bytes in the high part
                    b = np.zeros((m * self.channels, 4), np.uint8)
                    b[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
                    x = b.reshape(-1).view("<i4")
                else:
                    x = np.frombuffer(raw, dtype)
                x = x.astype(x.dtype.newbyteorder("="), copy=False)
                yield x.reshape(m, self.channels).T
                left -= m


#: Probe and decode native FLAC files without PyAV, reading STREAMINFO and decoding with libsndfile
#: (``soundfile``) when it is installed: the same probe and samples as FFmpeg's (tests/test_media_wav.py),
#: faster; set False to always go through FFmpeg.
FLAC_LIBSNDFILE = True
#: FLAC bits per sample read this way: libsndfile's subtypes, whose float32 reads equal FFmpeg's samples
#: scaled to [-1, 1) (a power-of-two scale of at most 24-bit integers is exact in float32)
_FLAC_SUBTYPES = {8: "PCM_S8", 16: "PCM_16", 24: "PCM_24"}
#: FLAC metadata block types: STREAMINFO, and PICTURE (FFmpeg shows cover art as a video stream)
_FLAC_STREAMINFO, _FLAC_PICTURE = 0, 6
#: sample frames per libsndfile read (fewer, larger reads measure a few per cent faster than 65536)
FLAC_BLOCK = 1 << 20
#: a mono file is decoded in parallel parts of at least this many sample frames (``compute_threads()`` at most)
FLAC_SPLIT = 1 << 21


class _NotLibsndfile(Exception):
    """libsndfile's reading of a file departs from FFmpeg's (length, layout): use PyAV."""


@dataclass(frozen=True)
class _NativeFlac:
    """A native FLAC file (``fLaC`` first) whose STREAMINFO declares its rate, channels and length."""

    sample_rate: int
    channels: int
    num_samples: int

    def info(self, path: str) -> MediaInfo:
        """What :func:`probe` returns for this file through FFmpeg (tests compare the two routes)."""
        return _audio_only_info(path, "flac", "flac", self.sample_rate, self.channels, self.num_samples)


def _native_flac(path) -> _NativeFlac | None:
    """STREAMINFO of a plain native FLAC file, or None for anything else (then PyAV probes it).

    Plain: ``fLaC``, STREAMINFO first, a non-zero rate and length, 8, 16 or 24 bits,
    no PICTURE block, metadata that ends inside the file and a frame sync code
    (``0xFFF8`` or ``0xFFF9``) right after it.
    """
    if not FLAC_LIBSNDFILE:
        return None
    try:
        path = os.fspath(path)
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if fh.read(4) != b"fLaC":
                return None
            pos, streaminfo = 4, None
            while True:
                fh.seek(pos)
                head = fh.read(4)
                if len(head) < 4:
                    return None
                kind, n = head[0] & 0x7F, int.from_bytes(head[1:4], "big")
                if streaminfo is None:
                    if kind != _FLAC_STREAMINFO or n != 34:
                        return None
                    streaminfo = fh.read(34)
                elif kind in (_FLAC_STREAMINFO, _FLAC_PICTURE, 127):
                    return None
                pos += 4 + n
                if pos + 2 > size:
                    return None
                if head[0] & 0x80:  # the last metadata block
                    break
            fh.seek(pos)
            sync = fh.read(2)
    except (OSError, TypeError):
        return None
    if len(streaminfo) < 34 or sync not in (b"\xff\xf8", b"\xff\xf9"):
        return None
    bits = int.from_bytes(streaminfo[10:18], "big")
    rate, channels, bps, total = bits >> 44, ((bits >> 41) & 7) + 1, ((bits >> 36) & 31) + 1, bits & (2 ** 36 - 1)
    if not rate or not total or bps not in _FLAC_SUBTYPES:
        return None
    return _NativeFlac(rate, channels, total)


def _flac_reader(path, info: MediaInfo):
    """A function ``read(push, into=None)`` that decodes this native FLAC file with libsndfile, or None
    when the file is not one (or soundfile is missing).

    ``read`` hands ``push`` float32 blocks ``(channels, m)`` equal to FFmpeg's samples scaled to [-1, 1), or,
    given ``into`` (a mono file's output :class:`_Buffer`), writes the samples straight into it. It raises
    :class:`_NotLibsndfile` when libsndfile delivers another sample count than the probe declares.
    """
    if not FLAC_LIBSNDFILE or info.format != "flac" or info.audio is None or info.audio.codec != "flac" \
            or info.audio.start_time != 0 or info.video is not None or not info.audio.num_samples:
        return None
    try:
        import soundfile
    except (ImportError, OSError):  # not installed, or its libsndfile failed to load
        return None
    try:
        sf_info = soundfile.info(os.fspath(path))
    except Exception:
        return None
    if (sf_info.subtype not in _FLAC_SUBTYPES.values() or sf_info.format != "FLAC"
            or sf_info.frames != info.audio.num_samples
            or sf_info.samplerate != info.audio.sample_rate or sf_info.channels != info.audio.channels):
        return None
    path, frames = os.fspath(path), sf_info.frames

    def span(start: int, stop: int, out: np.ndarray | None, push) -> None:
        """Decode samples ``[start, stop)``: into ``out`` (mono, ``stop - start`` long) or to ``push``."""
        n = start
        with soundfile.SoundFile(path) as fh:
            if start:
                fh.seek(start)  # libFLAC seeks to the exact sample: the same samples as a read from 0
            while n < stop:
                m = min(FLAC_BLOCK, stop - n)
                if out is not None:
                    got = fh.read(m, dtype="float32", out=out[n - start:n - start + m]).shape[0]
                else:
                    x = fh.read(m, dtype="float32", always_2d=True)
                    got = x.shape[0]
                    push(x.T)
                if got == 0:
                    raise _NotLibsndfile(f"{n} of {frames} samples")
                n += got

    def read(push, into: "_Buffer | None" = None) -> None:
        try:
            if into is None:
                span(0, frames, None, push)
                return
            out = into.reserve(frames)
            # libFLAC releases the GIL: each thread decodes its own part through its own handle
            run_parts(lambda lo, hi: span(lo, hi, out[lo:hi], None), frames, min_part=FLAC_SPLIT)
            into.commit(frames)
        except (_NotLibsndfile, AvalignError, MemoryError):  # avalign's own (a budget, a channel): no retry
            raise
        except Exception as exc:  # libsndfile's errors: let FFmpeg decode (and report) instead
            raise _NotLibsndfile(str(exc)) from None

    return read


def _pcm_wav(path) -> _PcmWav | None:
    """The layout of a plain-PCM WAV file, or None for anything else (then PyAV reads it).

    Plain: ``RIFF``/``WAVE``, a ``fmt `` chunk before the ``data`` chunk, PCM
    8/16/24/32-bit or IEEE float 32/64-bit (also as ``WAVE_FORMAT_EXTENSIBLE``),
    a block alignment of ``channels * bits / 8``, and a data chunk that declares
    a non-zero whole number of sample frames. A data chunk longer than the
    file raises :class:`MediaError` (as on the PyAV route).
    """
    if not WAV_DIRECT:
        return None
    try:
        path = os.fspath(path)
        if not os.path.isfile(path):  # a FIFO or device: _open refuses it (opening would block)
            return None
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(fh.fileno()).st_size
            pos, fmt = 12, None
            while pos + 8 <= size:
                fh.seek(pos)
                chunk = fh.read(8)
                n = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"fmt ":
                    fmt = fh.read(min(n, 64))
                elif chunk[:4] == b"data":
                    break
                pos += 8 + n + (n & 1)
            else:
                return None
    except (OSError, TypeError):
        return None
    if fmt is None or len(fmt) < 16:
        return None
    tag = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    align = int.from_bytes(fmt[12:14], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == 0xFFFE:
        if len(fmt) < 40 or fmt[26:40] != _KSDATAFORMAT_TAIL:
            return None
        tag = int.from_bytes(fmt[24:26], "little")
    codec = _WAV_CODECS.get((tag, bits))
    if codec is None or channels < 1 or rate < 1 or align != channels * bits // 8:
        return None
    if n in (0, 0xFFFFFFFF) or n % align:  # no final size, or a partial sample frame: FFmpeg's own rules
        return None
    if pos + 8 + n > size:
        _check_wav_length(path)  # raises: the data chunk declares more than the file holds
        return None
    return _PcmWav(codec, rate, channels, bits, pos + 8, n)


def _rate_from_intervals(pts: list[int], tb: Fraction, base_rate: Fraction | None) -> tuple[Fraction, bool, Fraction]:
    """``(fps, vfr, average_fps)`` from sorted timestamps.

    Constant rate: every interval equal within one tick of the time base
    (millisecond time bases give 33/34 at 29.97 fps); the fps is then the
    container's base rate when it agrees with the mean interval, else
    ``1 / (interval * tb)``. Otherwise variable: fps is the average rate.
    """
    if len(pts) < 2:
        fps = base_rate if base_rate else Fraction(25)
        return fps, False, fps
    d = np.diff(np.asarray(pts, dtype=np.int64))
    span = Fraction(int(pts[-1] - pts[0])) * tb
    average = Fraction(len(pts) - 1) / span if span > 0 else (base_rate or Fraction(25))
    lo, hi = int(d.min()), int(d.max())
    spread_ok = hi - lo <= 1 or (hi - lo) <= 0.02 * float(np.median(d))
    if spread_ok:
        if base_rate and abs(float(base_rate) - float(average)) <= 0.002 * float(average):
            return base_rate, False, average
        if lo == hi:
            return 1 / (Fraction(lo) * tb), False, average
        return average.limit_denominator(1001), False, average
    return average, True, average


def probe(path) -> MediaInfo:
    """Read a file's streams: exact video fps and frame count, start times, audio layout.

    The video frame count and timestamps come from the packets (demuxing
    only, no decoding). Raises :class:`MediaError` for a missing, empty or
    unreadable file.
    """
    native = _pcm_wav(path) or _native_flac(path)
    if native is not None:
        return native.info(os.fspath(path))
    container = _open(path)
    try:
        return _probe(container, os.fspath(path))
    except (InputError, MemoryError):
        raise
    except Exception as exc:
        raise MediaError(f"{os.fspath(path)}: cannot read the file's streams ({exc})") from None
    finally:
        container.close()


def _probe(container, path: str) -> MediaInfo:
    streams = []
    for s in container.streams:
        streams.append({"index": s.index, "type": s.type,
                        "codec": s.codec_context.name if s.codec_context else None})
    duration = container.duration / 1e6 if container.duration else 0.0
    video = audio = None
    if container.format.name in ("wav", "w64"):
        _check_wav_length(path)
    pts, _ = _demux_streams(container, path, container.streams.video[0] if container.streams.video else None,
                            container.streams.audio[0] if container.streams.audio else None)
    if container.streams.video:
        vs = container.streams.video[0]
        tb = Fraction(vs.time_base)
        base = Fraction(vs.base_rate) if vs.base_rate else None
        fps, vfr, average = _rate_from_intervals(pts, tb, base)
        if vfr and vs.average_rate:
            fps = average = Fraction(vs.average_rate)  # FFmpeg's frames / duration
        start = Fraction(pts[0]) * tb if pts else Fraction(vs.start_time or 0) * tb
        vdur = float(Fraction(vs.duration) * tb) if vs.duration else (len(pts) / float(fps))
        video = VideoInfo(vs.index, vs.codec_context.name, vs.codec_context.width, vs.codec_context.height,
                          fps, len(pts), start, vdur, vfr, average,
                          tuple(float(Fraction(p) * tb) for p in pts), base)
    if container.streams.audio:
        st = container.streams.audio[0]
        tb = Fraction(st.time_base)
        start = Fraction(st.start_time or 0) * tb
        if st.codec_context is None or not st.codec_context.sample_rate:
            raise MediaError(f"{path}: the audio stream has no sample rate (corrupt or truncated header)")
        sr = st.codec_context.sample_rate
        n, declared_by = _declared_samples(container, st, sr)
        channels = st.codec_context.channels if hasattr(st.codec_context, "channels") else st.channels
        audio = AudioInfo(st.index, st.codec_context.name, sr, channels, start, n, n / sr if sr else 0.0,
                          declared_by)
    if video is None and audio is None:
        raise MediaError(f"{path}: no audio or video stream")
    if not duration:
        duration = max(video.duration if video else 0.0, audio.duration if audio else 0.0)
    return MediaInfo(path, container.format.name, duration, video, audio, tuple(streams))


# ---------------------------------------------------------------------------
# Decoding audio
# ---------------------------------------------------------------------------


_PLANAR = {"fltp": np.float32, "s16p": np.int16, "s32p": np.int32, "dblp": np.float64, "u8p": np.uint8,
           "s64p": np.int64}
_PACKED = {"flt": np.float32, "s16": np.int16, "s32": np.int32, "dbl": np.float64, "u8": np.uint8, "s64": np.int64}


def _frame_channels(frame) -> np.ndarray:
    """One decoded audio frame -> its samples, shape ``(channels, samples)``, in the frame's own dtype."""
    name, n, ch = frame.format.name, frame.samples, len(frame.layout.channels)
    if name in _PLANAR:
        planes = frame.planes
        if ch == 1:
            return np.frombuffer(planes[0], _PLANAR[name], count=n)[None, :]
        return np.stack([np.frombuffer(planes[c], _PLANAR[name], count=n) for c in range(ch)])
    if name in _PACKED:
        return np.frombuffer(frame.planes[0], _PACKED[name], count=n * ch).reshape(n, ch).T
    try:
        x = frame.to_ndarray()  # pragma: no cover - unusual sample formats
    except (ValueError, TypeError) as exc:
        raise MediaError(f"audio sample format {name!r} is not supported ({exc})") from None
    return x if frame.format.is_planar else x.reshape(-1, ch).T


def _to_mono(x: np.ndarray, channel: int | str) -> np.ndarray:
    """Samples ``(channels, n)`` in a decoder's sample format -> float32 mono ``(n,)``."""
    if x.dtype == np.int16:
        x = x.astype(np.float32)
        x /= 32768.0  # in place: the same rounding as ``/``, one array fewer
    elif x.dtype == np.int32:
        x = (x / 2147483648.0).astype(np.float32)
    elif x.dtype == np.int64:
        x = (x / 9223372036854775808.0).astype(np.float32)
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / 128.0
    else:
        x = x.astype(np.float32, copy=False)
    if x.shape[0] == 1:
        return x[0]
    if channel == "mean":
        return np.mean(x, axis=0, dtype=np.float32)
    if isinstance(channel, int) and 0 <= channel < x.shape[0]:
        return x[channel]
    raise InputError(f"channel {channel!r} does not exist in audio with {x.shape[0]} channels")


class _Buffer:
    """A growing float32 array: one allocation when the final size is known in advance.

    The advance size comes from a header, which may lie: it is capped at :data:`PREALLOCATE` samples and at a
    quarter of the memory budget; growing past the budget (the data is really there) raises BudgetError.
    """

    #: Most samples allocated from a header's claim before any is decoded (256 MiB of float32).
    PREALLOCATE = 1 << 26

    def __init__(self, capacity: int = 0):
        capacity = min(int(capacity), self.PREALLOCATE, budget.budget() // 16)
        self.data = np.empty(max(capacity, 1024), np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        self.reserve(x.shape[0])[:] = x
        self.n += x.shape[0]

    def reserve(self, m: int) -> np.ndarray:
        """A writable view of the next ``m`` samples (growing the buffer); :meth:`commit` counts them."""
        end = self.n + m
        if end > self.data.shape[0]:
            size = max(end, 2 * self.data.shape[0])
            budget.check(budget.nbytes(size + self.data.shape[0], itemsize=4),
                         f"{end} decoded samples x float32 so far, growing the buffer to {size} samples")
            grown = np.empty(size, np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        return self.data[self.n:end]

    def commit(self, m: int) -> None:
        """Count ``m`` samples written into the view :meth:`reserve` returned."""
        self.n += m

    def array(self, n: int | None = None) -> np.ndarray:
        """The first ``n`` samples (zero-padded when fewer were appended); the buffer is released."""
        n = self.n if n is None else n
        data, filled = self.data, self.n
        self.data, self.n = np.empty(0, np.float32), 0
        if n > data.shape[0]:
            data = np.concatenate([data[:filled], np.zeros(n - filled, np.float32)])
        else:
            data[filled:n] = 0  # empty when n <= filled
        if data.shape[0] > n + max(4096, n // 8):  # a buffer far too big is not kept alive by a view
            return data[:n].copy()
        return data[:n]


class _Resampler:
    """Streaming resampler: soxr's stream (bounded memory) or resampy on the whole signal.

    ``expected_in`` (samples, optional) sizes the output buffer in advance.
    """

    def __init__(self, sr_in: int, sr_out: int, method: str, expected_in: int = 0):
        if method not in RESAMPLERS:
            raise InputError(f"unknown resampler {method!r}; expected one of {', '.join(RESAMPLERS)}")
        self.method = method
        self.identity = sr_in == sr_out
        self.sr_in, self.sr_out = sr_in, sr_out
        self.pending: list[np.ndarray] = []
        self.n_pending = 0
        self.n_in = 0
        soxr_stream = not self.identity and method.startswith("soxr")
        expected_out = -(-expected_in * sr_out // sr_in) if soxr_stream else expected_in
        self.out = _Buffer(expected_out + 64)
        if soxr_stream:
            import soxr

            self.stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality=method)
        else:
            self.stream = None

    #: samples gathered before one call to soxr (fewer, larger calls)
    BLOCK = 1 << 16

    def push(self, x: np.ndarray) -> None:
        self.n_in += x.shape[0]
        if self.stream is None:
            self.out.append(x)  # a copy: decoded frames are not kept alive
            return
        self.pending.append(x)
        self.n_pending += x.shape[0]
        if self.n_pending >= self.BLOCK:
            self._flush(last=False)

    def _flush(self, *, last: bool) -> None:
        x = np.concatenate(self.pending) if self.pending else np.zeros(0, np.float32)
        self.pending, self.n_pending = [], 0
        self.out.append(self.stream.resample_chunk(x.astype(np.float32, copy=False), last=last))

    def finish(self) -> np.ndarray:
        # librosa's length rule: ceil(n * sr_out / sr_in), padding or trimming the tail
        n_out = -(-self.n_in * self.sr_out // self.sr_in)
        if self.identity:
            return self.out.array()
        if self.stream is not None:
            self._flush(last=True)
            return self.out.array(n_out)
        from .errors import require

        resampy = require("resampy", "resampy")
        y = resampy.resample(self.out.array(), self.sr_in, self.sr_out, filter=self.method, axis=-1)
        y = y.astype(np.float32, copy=False)
        return y[:n_out] if y.shape[0] >= n_out else np.pad(y, (0, n_out - y.shape[0]))


def resample(samples: np.ndarray, *, orig_sr: int, target_sr: int, resampler: str = "soxr_hq") -> np.ndarray:
    """Resample a 1-D float32 signal, length ``ceil(n * target_sr / orig_sr)`` (librosa's rule)."""
    x = np.asarray(samples, dtype=np.float32)
    r = _Resampler(orig_sr, target_sr, resampler, expected_in=x.shape[0])
    r.push(x)
    return r.finish()


def load_audio(path, sample_rate: int | None = 16000, *, channel: int | str = "mean",
               resampler: str = "soxr_hq", scale: str = "float", clock: str = "video",
               info: MediaInfo | None = None) -> Audio:
    """Decode a file's first audio stream to mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or Path
        Any container PyAV reads (wav, flac, mp3, m4a, ogg, mp4, mkv, mov, webm).
    sample_rate : int or None
        Target rate in Hz; ``None`` keeps the file's rate.
    channel : "mean" or int
        Mono mix-down: mean of channels (librosa's ``to_mono``), or one channel.
    resampler : str
        ``soxr_hq`` (default; librosa >= 0.10), ``soxr_vhq``, ... or resampy's
        ``kaiser_best`` (librosa < 0.10). The length is ``ceil(n * sr / sr_in)``.
    scale : "float" or "int16"
        ``int16`` returns int16 magnitudes (``round(x * 32768)``, clipped), as
        read by ``scipy.io.wavfile`` for the DeepSpeech and syncnet lineages.
    clock : "video" or "audio"
        ``video``: ``start`` is the audio's start minus the first video frame's
        (0 when there is no video). ``audio``: ``start`` is 0.
    info : MediaInfo, optional
        The file's :func:`probe` result when the caller already has it (saves a pass).

    Returns
    -------
    Audio
        ``samples`` shape ``(n,)``; ``meta`` records source rate, channels,
        resampler and trims.
    """
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise InputError(f"bad sample rate {sample_rate!r}: must be a positive integer (Hz)")
    if scale not in ("float", "int16"):
        raise InputError(f"bad scale {scale!r}: expected 'float' or 'int16'")
    if clock not in ("video", "audio"):
        raise InputError(f"bad clock {clock!r}: expected 'video' or 'audio'")
    if info is None:
        info = probe(path)
    if info.audio is None:
        raise NoAudioError(f"{os.fspath(path)}: no audio stream")
    src_rate = info.audio.sample_rate
    target = int(sample_rate or src_rate)
    if resampler not in RESAMPLERS:
        raise InputError(f"unknown resampler {resampler!r}; expected one of {', '.join(RESAMPLERS)}")
    declared = info.audio.num_samples
    # a header may lie (a FLAC STREAMINFO or an MP4 index declaring hours in a few bytes): the buffer is sized
    # from the declared count only as far as the file's size makes it plausible, and grows beyond that
    expected_in = min(declared, _plausible_samples(path))
    resampler_obj = _Resampler(src_rate, target, resampler, expected_in=expected_in)
    first_pts = None
    n_decoded = 0
    decode_error = None
    frame_size = 0

    def push(x: np.ndarray) -> None:
        nonlocal n_decoded
        mono = _to_mono(x, channel)
        # trailing encoder padding beyond the declared stream duration
        if declared and n_decoded + mono.shape[0] > declared:
            mono = mono[: max(declared - n_decoded, 0)]
        n_decoded += mono.shape[0]
        if mono.shape[0]:
            resampler_obj.push(mono)

    wav = _pcm_wav(path) if info.format == "wav" else None  # an MP4, FLAC, ... is not opened to look
    read_flac = _flac_reader(path, info) if wav is None else None  # libsndfile's header read, once
    integer_source = False  # integer PCM decodes to finite samples: no scan for NaN needed
    if wav is not None and wav.num_samples == declared and wav.sample_rate == src_rate:
        first_pts = Fraction(0)
        integer_source = not wav.codec.startswith("pcm_f")
        if wav.codec == "pcm_s16le" and wav.channels == 1 and resampler_obj.identity:
            wav.read_into(os.fspath(path), resampler_obj.out)  # the common case: straight into the output
            n_decoded = resampler_obj.n_in = wav.num_samples
        else:
            for block in wav.blocks(os.fspath(path)):
                push(block)
    elif read_flac is not None:
        try:
            if info.audio.channels == 1 and resampler_obj.identity:  # straight into the output buffer
                read_flac(push, into=resampler_obj.out)
                n_decoded = resampler_obj.out.n
            else:
                read_flac(push)
            first_pts, integer_source = Fraction(0), True
        except _NotLibsndfile:  # something libsndfile reads otherwise than FFmpeg: start again with PyAV
            resampler_obj = _Resampler(src_rate, target, resampler, expected_in=expected_in)
            n_decoded = 0
    if first_pts is None:
        import av

        container = _open(path)
        stream = container.streams.audio[0]
        frame_size = getattr(stream.codec_context, "frame_size", 0)
        try:
            for frame in container.decode(stream):
                if first_pts is None and frame.pts is not None:
                    first_pts = Fraction(frame.pts) * Fraction(stream.time_base)
                push(_frame_channels(frame))
        except av.error.FFmpegError as exc:
            if not (info.audio.declared_by and n_decoded):
                raise MediaError(f"{os.fspath(path)}: truncated or corrupt audio stream after {n_decoded} samples "
                                 f"({_reason(exc)})") from None
            decode_error = _reason(exc)  # the data ends (or breaks) early: counted as missing below
        finally:
            container.close()
    if n_decoded == 0:
        raise MediaError(f"{os.fspath(path)}: the audio stream holds no samples (empty or truncated file)")
    missing = _missing_samples(info.audio, n_decoded, stream_frame_size=frame_size)
    if missing is not None and missing > missing_audio_limit(declared, src_rate):
        raise _missing_audio_error(os.fspath(path), missing, declared, src_rate)
    y = resampler_obj.finish()
    if not integer_source and not np.all(np.isfinite(y)):
        raise InputError(f"{os.fspath(path)}: audio contains NaN or infinite samples")
    if scale == "int16":
        y = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.float32)
    audio_start = first_pts if first_pts is not None else info.audio.start_time
    start = Fraction(0)
    if clock == "video" and info.video is not None:
        start = audio_start - info.video.start_time
    meta = {
        "source": os.fspath(path), "source_sample_rate": src_rate, "channels": info.audio.channels,
        "mixdown": channel if info.audio.channels > 1 else None, "resampler": resampler if src_rate != target else None,
        "source_samples": n_decoded, "declared_samples": info.audio.num_samples,
        "audio_start": float(audio_start), "start_on_video_clock": float(start),
    }
    if missing:
        # the source's samples (at source_sample_rate) that its index declares but the file does not hold
        meta["missing_samples"] = missing
        meta["missing_seconds"] = missing / src_rate
        if decode_error:
            meta["decode_error"] = decode_error
    return Audio(y, target, start, scale, meta)


def _plausible_samples(path) -> int:
    """An upper bound on the samples a file of this size can decode to, for sizing buffers (not a limit).

    64 samples per byte: more than the most compressed speech codecs give (Opus at 6 kbit/s, 48 kHz).
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    return 64 * size + (1 << 16)


def _missing_samples(audio: AudioInfo, n_decoded: int, *, stream_frame_size: int = 0) -> int | None:
    """Samples the container's index declares beyond those decoded; None when its count is only an estimate.

    An index counts samples (MP4's sample table, FLAC, WAV), but an MP4 edit list that removes the encoder's
    priming is in the movie's time scale (often milliseconds): a shortfall of up to 2 ms is that rounding,
    not missing data. A Matroska ``DURATION`` tag includes the last block's duration as the muxer saw it:
    there the tolerance is one codec frame (AAC: 1024 samples) plus 2 ms.
    """
    if not audio.declared_by or not audio.num_samples:
        return None
    short = audio.num_samples - n_decoded
    tolerance = -(-2 * audio.sample_rate // 1000)
    if audio.declared_by == "tag":
        tolerance += int(stream_frame_size or 0)
    return 0 if short <= tolerance else short
