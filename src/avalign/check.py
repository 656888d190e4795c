"""Does a feature file match a video? Counts, rates and per-frame time error, in words.

:func:`check` reads a feature file (``.npy``) and, when present, its avalign
sidecar. Without a sidecar (a file made by another tool) the expected row
count comes from a preset's rule (``--preset``) or from the video's frame
count, with the audio decoded to know its exact length. A mismatch is
explained by :func:`diagnose`, which recognises the usual mistakes: one row
short or long, a count made for another frame rate, features left at their
native rate (50, 80 or 100 Hz) instead of one row per video frame, and the
off-by-one counts of conv stacks (``(n-80)//320``, not ``n/320``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .errors import InputError, NoVideoError
from .media import probe
from .store import load
from .timing import FrameGrid, fraction_str

#: Frame rates a feature file is commonly (and wrongly) made for.
COMMON_FPS = (Fraction(25), Fraction(30), Fraction(24), Fraction(60), Fraction(30000, 1001),
              Fraction(24000, 1001), Fraction(60000, 1001), Fraction(50))


@dataclass
class CheckReport:
    """Result of :func:`check`.

    Attributes
    ----------
    ok : bool
        True when the rows match what the video (and the preset's rule) asks for.
    lines : list of str
        The explanation, one sentence a line.
    rows, expected, video_frames : int
        Rows in the file, rows expected, frames in the video.
    max_time_error : float or None
        Seconds; largest distance between a row's time and its video frame's (sidecar files).
    reasons : list of str
        Why the count is off (empty on a match).
    audio_offset : float
        Seconds from the first video frame to the first audio sample in the container.
    """

    ok: bool
    lines: list[str] = field(default_factory=list)
    rows: int = 0
    video_frames: int = 0
    max_time_error: float | None = None
    expected: int = 0
    reasons: list[str] = field(default_factory=list)
    audio_offset: float = 0.0

    def text(self) -> str:
        return "\n".join(self.lines)


def _khz(sr: int) -> str:
    return f"{sr / 1000:g} kHz"


def _fps(f: Fraction) -> str:
    return fraction_str(f)


# ---------------------------------------------------------------------------
# Diagnosis: which rule gives this many rows?
# ---------------------------------------------------------------------------


def native_counts(n16: int) -> list[tuple[str, int, str]]:
    """Native frame counts of the common feature families for ``n16`` samples at 16 kHz.

    Returns ``(family, count, sentence)`` triples; each count is asked of the
    extractor or preset step that produces it (no formula is restated here).
    """
    from .features import create
    from .systems.steps import DeepSpeechLogits, PsfMfcc, Wav2LipMel
    from .timing import ssl_num_frames, whisper_num_frames

    conv, whisper = ssl_num_frames(n16), whisper_num_frames(n16)
    ds, w2l, mfcc = DeepSpeechLogits().frames(n16, None), Wav2LipMel().frames(n16, None), PsfMfcc().frames(n16, None)
    mel = create("mel", n_fft=400, hop_length=160).num_frames(n16)
    return [
        ("wav2vec2", conv, f"wav2vec2/HuBERT/WavLM give (n-80)//320 = {conv} frames at 50 Hz, "
                           f"not n/320 = {n16 / 320:.6g}"),
        ("whisper", whisper["encoder"], f"the Whisper encoder trimmed to the audio gives n//320 = "
                                        f"{whisper['encoder']} frames at 50 Hz"),
        ("deepspeech", ds, f"DeepSpeech logits give ceil(mfcc_frames/2) = {ds} frames at 50 Hz"),
        ("wav2lip-mel", w2l, f"Wav2Lip's mel gives 1 + n//200 = {w2l} frames at 80 Hz"),
        ("mel", mel, f"a centred 10 ms mel gives 1 + n//160 = {mel} frames at 100 Hz"),
        ("whisper-mel", whisper["mel"], f"Whisper's log-mel gives n//160 = {whisper['mel']} frames at 100 Hz"),
        ("mfcc", mfcc, f"python_speech_features MFCC gives 1 + ceil((n-400)/160) = {mfcc} frames at 100 Hz"),
    ]


def _count_variants(x: Fraction) -> dict[str, int]:
    return {"floor": math.floor(x), "round": round(x), "ceil": math.ceil(x)}


def diagnose(rows: int, *, n_samples: int, sample_rate: int, fps, video_frames: int, preset=None,
             expected: int | None = None) -> list[str]:
    """Sentences explaining why ``rows`` differs from what the video asks for (empty when it matches).

    Parameters
    ----------
    rows : int
        Rows in the feature file.
    n_samples, sample_rate : int
        The audio: samples at Hz.
    fps : Fraction
        The video's frame rate.
    video_frames : int
        Frames in the video.
    preset : Preset, optional
        The preset whose rule the file should follow.
    expected : int, optional
        The expected count (default: the preset's rule, else ``video_frames``).
    """
    fps = Fraction(fps)
    d = Fraction(n_samples, sample_rate)
    n16 = n_samples if sample_rate == 16000 else -(-n_samples * 16000 // sample_rate)
    if expected is None:
        expected = preset.num_frames(n_samples, preset.rate_on(fps), video_frames) if preset else video_frames
    if rows == expected:
        return []
    out: list[str] = []
    diff = rows - expected
    what = f"preset {preset.name}'s rule" if preset is not None else f"the {video_frames} video frames"
    if abs(diff) == 1:
        out.append(f"one row {'short' if diff < 0 else 'long'}: {rows} rows where {what} give{'s' if preset else ''}"
                   f" {expected}")
    if preset is not None and rows == video_frames:
        out.append(f"{rows} rows = one per video frame, but preset {preset.name}'s rule gives {expected} "
                   f"({preset.shape}): made by another recipe?")
    # a count made from the audio duration instead of the video's frames
    if preset is None:
        for rule, c in _count_variants(d * fps).items():
            if c == rows:
                out.append(f"{rows} rows = {rule}(duration x fps) = {rule}({float(d):.4g} s x {_fps(fps)}): counted "
                           f"from the audio's length, not the video's {video_frames} frames")
                break
    # left at the feature's native rate
    for family, c, sentence in native_counts(n16):
        if c == rows:
            out.append(f"{rows} rows for {float(d):.2f} s: {sentence}: made at the feature's native rate, not "
                       f"one row per video frame ({expected} expected at {_fps(fps)} fps)")
            break
    else:
        for hz in (50, 80, 100):
            if abs(rows - float(d) * hz) <= 2 and abs(rows - expected) > 2:
                out.append(f"{rows} rows ~ {float(d):.4g} s x {hz} Hz: looks like features at their native "
                           f"{hz} Hz rate, not one row per video frame")
                break
    # made for another frame rate
    hits = []
    for f in COMMON_FPS:
        if f == fps or (preset is not None and preset.fixed_fps is not None):
            continue
        vf = round(Fraction(video_frames) * f / fps)
        counts = {}
        if preset is not None:
            try:
                counts[f"{preset.name}'s rule at {_fps(f)} fps"] = preset.num_frames(n_samples, f, vf)
            except InputError:  # the system itself fails at that rate
                continue
        else:
            counts[f"the video's {float(video_frames / fps):.4g} s counted at {_fps(f)} fps"] = vf
            for rule, c in _count_variants(d * f).items():
                counts.setdefault(f"{rule}({float(d):.4g} s of audio x {_fps(f)} fps)", c)
        hit = next((k for k, c in counts.items() if c == rows), None)
        if hit:
            hits.append((f, hit))
    if hits:
        also = [_fps(f) for f, _ in hits[1:]]
        out.append(f"made for the wrong fps: {rows} rows = {hits[0][1]}"
                   + (f" (also {', '.join(also)} fps)" if also else "")
                   + f"; this video is {_fps(fps)} fps ({video_frames} frames)")
    # made with another preset's recipe
    for other in known_presets():
        if (preset is not None and other.name == preset.name) or other.sample_rate != sample_rate:
            continue
        try:
            c = other.num_frames(n_samples, other.rate_on(fps), video_frames)
        except Exception:  # noqa: BLE001 - a rule that cannot apply here explains nothing
            continue
        if c == rows:
            out.append(f"{rows} rows = preset {other.name}'s rule ({other.shape}): made with {other.name}"
                       + (f" instead of {preset.name}?" if preset is not None else "?"))
            break
    if not out:
        out.append(f"{rows} rows where {expected} are expected ({diff:+d}); no common mistake explains it")
    return out


def known_presets() -> list:
    """Instances of every available preset (for recognising a file made with another recipe)."""
    from . import systems

    out = []
    for name in systems.names():
        try:
            out.append(systems.get(name))
        except Exception:  # noqa: BLE001 - a preset that cannot be built is simply not a candidate
            continue
    return out


# ---------------------------------------------------------------------------
# Shape rule
# ---------------------------------------------------------------------------


def shape_mismatch(shape_rule: str, shape: tuple) -> str | None:
    """A sentence when ``shape`` breaks ``shape_rule`` (``"[K, 80, 16]"``), else None.

    Only the rule's integer dimensions are compared; an unparsable rule is not judged. A rule that
    names other shapes for some options (``"[N, 10, 5, 384] (stream=bucket: [N, 50, 384])"``) is met
    by any of them; the sentence is about the first.
    """
    rules = re.findall(r"\[([^\]]*)\]", shape_rule or "")
    if not rules:
        return None
    reasons = [_breaks(r, shape) for r in rules]
    return None if None in reasons else reasons[0]


def _breaks(rule: str, shape: tuple) -> str | None:
    dims = [x.strip() for x in rule.split(",")]
    shown = "(" + ", ".join(str(x) for x in shape) + ")"
    if len(dims) != len(shape):
        return f"shape {shown} has {len(shape)} dimensions; the rule [{rule}] has {len(dims)}"
    for k, (want, got) in enumerate(zip(dims[1:], shape[1:]), start=1):
        if want.isdigit() and int(want) != got:
            return f"shape {shown}: dimension {k} is {got}, the rule [{rule}] says {want}"
    return None


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------


def _resolve_preset(preset):
    if preset is None:
        return None
    from . import systems

    return preset if isinstance(preset, systems.Preset) else systems.get(preset)


def _offset_line(info) -> tuple[float, str | None]:
    off = float(info.audio_offset)
    if not off:
        return 0.0, None
    v, a = info.video, info.audio
    return off, (f"container: video starts at {float(v.start_time) * 1000:.3f} ms, audio at "
                 f"{float(a.start_time) * 1000:.3f} ms: audio starts {off * 1000:+.3f} ms from the first video "
                 f"frame ({off * float(v.fps):+.2f} frames)")


def _preset_time_error(p, n: int, sr: int, fps, v, rows: int):
    """How the audio each preset row receives sits against the video frame it is paired with (row i, frame i).

    The offset of row i is the centre of its sample span (the preset's own
    :meth:`~avalign.systems.Preset.sources`) minus the middle of frame i's
    display interval. A system's window anchoring gives a constant offset;
    the time error is how far each row strays from that constant. It fails the
    check only when the rows were made for another rate than the video's. Returns
    ``(max error s, ok, line, reason or None)``.
    """
    from .align import display_intervals

    f = p.rate_on(fps)
    spans = p.sources(n, f, v.num_frames)
    k = min(rows, v.num_frames)
    start, end = display_intervals(v.grid())
    offset = (spans[:k].sum(axis=1) / (2 * sr)) - 0.5 * (start[:k] + end[:k])
    median = float(np.median(offset))
    err = np.abs(offset - median)
    max_err = float(err.max())
    worst = int(np.argmax(err))
    line = (f"time error per frame: rows' audio sits {median * 1000:+.3f} ms from their video frames' centres "
            f"(the system's anchoring); max {max_err * 1000:.3f} ms from that, at row {worst}, over {k} rows")
    if v.vfr:
        return max_err, True, (f"note: preset {p.name} assumes constant {_fps(f)} fps; this variable-rate video's "
                               f"frames are up to {max_err * 1000:.3f} ms from i/fps ({line})"), None
    if f != v.fps and max_err > 0.5 / float(v.fps):  # a system's own edge quirks (Wav2Lip's last chunk) are reported only
        return max_err, False, line, (f"rows drift up to {max_err * 1000:.3f} ms from their video frames (more than "
                                      f"half a frame): made for {_fps(f)} fps, the video is {_fps(v.fps)} fps")
    return max_err, True, line, None


def check(video, features, *, preset=None) -> CheckReport:
    """Compare a feature file against a video's frames.

    Parameters
    ----------
    video : path
        The video the features were made for.
    features : path
        The ``.npy`` file; its avalign sidecar (``.json``) is used when present.
    preset : str or Preset, optional
        The preset whose rule the file should follow (default: the sidecar's,
        else one row per video frame).

    Returns
    -------
    CheckReport
        ``ok`` and the explanation; raises :class:`InputError` for bad input
        (missing files, no video stream, not an array).
    """
    info = probe(video)
    if info.video is None:
        raise NoVideoError(f"{video}: no video stream to check the features against")
    values, meta = load(features)
    if values.ndim == 0:
        raise InputError(f"{features}: a scalar, not a feature array with one row per frame")
    if meta is None:
        return _check_plain(info, video, values, preset)
    return _check_sidecar(info, values, meta, preset)


def _check_plain(info, video, values, preset) -> CheckReport:
    """A feature file without a sidecar: decode the audio to know ``n``, apply the rule, explain."""
    v = info.video
    rows = int(values.shape[0])
    p = _resolve_preset(preset)
    if info.audio is None:
        raise InputError(f"{video}: no audio stream, so the rows cannot be checked against its audio")
    from .pipeline import make_recipe, read_audio

    recipe = p if p is not None else make_recipe(feature="mel")
    sr = recipe.sample_rate
    audio = read_audio(video, recipe, info=info)  # the reader extract uses (a preset reads as its system does)
    n = audio.num_samples  # the whole stream, as a tool that ignores the container offset reads it
    n_clock = audio.on_clock(0).num_samples  # from the first video frame, as avalign extract reads it
    lines = []
    head = f"audio {float(audio.duration):.6g} s = {n} samples at {_khz(sr)}"
    if p is not None:
        f = p.rate_on(v.fps)
        expected = p.num_frames(n, f, v.num_frames)
        lines.append(f"{head}; preset {p.name} ({p.shape}) gives {expected} rows for {v.num_frames} video frames "
                     f"at {_fps(v.fps)} fps; the file has {rows} rows (no sidecar)")
        lines.append(f"rule: {p.rule}")
        if p.fixed_fps is not None and Fraction(p.fixed_fps) != v.fps:
            lines.append(f"warning: {p.name} assumes {_fps(p.fixed_fps)} fps; this video is {_fps(v.fps)} fps")
    else:
        f = v.fps
        expected = v.num_frames
        lines.append(f"{head} -> {rows} rows (no sidecar) for {v.num_frames} video frames at {_fps(v.fps)} fps")
    off, line = _offset_line(info)
    if line:
        lines.append(line + "; a tool that reads the audio from its first sample ignores this")
    ok = rows == expected
    if not ok and p is not None and n_clock != n:
        on_clock = p.num_frames(n_clock, f, v.num_frames)
        if rows == on_clock:
            lines.append(f"the file follows the rule for the audio from the first video frame on ({n_clock} samples, "
                         f"as avalign extract reads it): {on_clock} rows")
            expected, ok = on_clock, True
    reasons = [] if ok else diagnose(rows, n_samples=n, sample_rate=sr, fps=v.fps, video_frames=v.num_frames,
                                     preset=p, expected=expected)
    bad_shape = shape_mismatch(p.shape, values.shape) if p is not None else None
    if bad_shape:
        reasons.append(bad_shape)
        ok = False
    lines.extend(f"why: {r}" for r in reasons)
    lines.append(f"OK: {rows} rows match" if ok else f"MISMATCH: {rows} rows, expected {expected} ({rows - expected:+d})"
                 if rows != expected else f"MISMATCH: {rows} rows as expected, but the shape is wrong")
    return CheckReport(ok, lines, rows, v.num_frames, None, expected, reasons, off)


def _check_sidecar(info, values, meta, preset) -> CheckReport:
    v = info.video
    rows = int(values.shape[0])
    vgrid = v.grid()
    lines = []
    audio = meta.get("audio") or {}
    sr, n = audio.get("sample_rate"), audio.get("num_samples")
    head = []
    if sr and n is not None:
        head.append(f"audio {n / sr:.6g} s = {n} samples at {_khz(sr)}")
    if meta.get("source_grid"):
        head.append(f"{FrameGrid.from_dict(meta['source_grid']).describe().replace('frames', 'feature frames', 1)}")
    grid = FrameGrid.from_dict(meta["grid"]) if meta.get("grid") else None
    target = f"{rows} rows for {v.num_frames} video frames at {_fps(v.fps)} fps"
    lines.append("; ".join(head) + (" -> " if head else "") + target)
    expected = v.num_frames
    side_preset = meta.get("preset")
    if preset is not None and side_preset and getattr(preset, "name", preset) != side_preset:
        lines.append(f"note: the sidecar says preset {side_preset}; checking against {getattr(preset, 'name', preset)}")
    p = _resolve_preset(preset if preset is not None else side_preset)
    fps = Fraction(meta["fps"]) if meta.get("fps") else v.fps
    if p is not None:
        if n is None:
            raise InputError("the sidecar does not record the audio length; cannot apply the preset's rule")
        expected = p.num_frames(int(n), p.rate_on(fps), v.num_frames)
        if expected != v.num_frames:
            lines.append(f"preset {p.name}: its rule gives {expected} rows for this audio ({p.shape}); "
                         f"the video has {v.num_frames} frames")
    elif meta.get("fps") and fps != v.fps:
        lines.append(f"note: the features were made for {_fps(fps)} fps; the video is {_fps(v.fps)} fps")
    ok = rows == expected
    reasons: list[str] = []
    max_err = None
    if p is not None and n is not None and rows == expected and rows:
        max_err, ok, line, reason = _preset_time_error(p, int(n), int(sr), fps, v, rows)
        lines.append(line)
        if reason:
            reasons.append(reason)
    elif grid is not None and rows and grid.num_frames == rows and rows == v.num_frames:
        err = np.abs(grid.times() - vgrid.times())
        max_err = float(err.max())
        if p is not None and v.vfr:
            # presets place row i at i / fps, as their systems do; say how far a variable-rate video is from that
            lines.append(f"note: preset {p.name} assumes constant {_fps(fps)} fps; this variable-rate video's "
                         f"frames are up to {max_err * 1000:.3f} ms from i/fps")
        else:
            lines.append(f"time error per frame: max {max_err * 1000:.3f} ms over {rows} frames")
            if max_err > 0.5 / float(v.fps):
                ok = False
                reasons.append(f"rows are placed up to {max_err * 1000:.3f} ms from their video frames "
                               f"(more than half a frame)")
    off, line = _offset_line(info)
    if line:
        recorded = (meta.get("offsets") or {}).get("audio_start_on_video_clock")
        honoured = recorded is not None and abs(float(recorded) - off) < 1e-6
        lines.append(line + ("; honoured by the extraction" if honoured else
                             "; NOT recorded in the sidecar (the features may be shifted by it)"))
    shift = (meta.get("offsets") or {}).get("offset_ms")
    if shift:
        lines.append(f"audio shifted by --offset-ms {float(shift):+g} (positive: audio later)")
    if rows != expected:
        if sr and n is not None:
            reasons += diagnose(rows, n_samples=int(n), sample_rate=int(sr), fps=v.fps, video_frames=v.num_frames,
                                preset=p, expected=expected)
        else:
            reasons.append(f"{rows} rows where {expected} are expected")
    bad_shape = shape_mismatch(p.shape, values.shape) if p is not None else None
    if bad_shape:
        reasons.append(bad_shape)
        ok = False
    lines.extend(f"why: {r}" for r in reasons)
    if ok:
        lines.append("OK: features match the video")
    elif rows != expected:
        lines.append(f"MISMATCH: {rows} rows, expected {expected} ({rows - expected:+d})")
    else:
        lines.append(f"MISMATCH: {rows} rows as expected, but " + ("the shape is wrong" if bad_shape else
                     "their times do not match the video's frames"))
    return CheckReport(ok, lines, rows, v.num_frames, max_err, expected, reasons, off)


__all__ = ["CheckReport", "check", "diagnose", "native_counts", "shape_mismatch"]
