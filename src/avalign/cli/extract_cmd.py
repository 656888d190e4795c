"""``avalign extract INPUT -o OUT.npy [--preset NAME | --feature KIND] ...``."""

from __future__ import annotations

import json
import sys

from .. import progress
from ..api import extract
from . import add_budget_argument
from ..errors import InputError
from ..store import check_writable, refuse_empty, save


def parse_option(text: str):
    """``key=value`` with the value read as JSON when it parses (numbers, true, null), else a string."""
    if "=" not in text:
        raise InputError(f"bad --option {text!r}: expected key=value")
    key, value = text.split("=", 1)
    try:
        return key.replace("-", "_"), json.loads(value)
    except ValueError:
        return key.replace("-", "_"), value


def add_recipe_arguments(p) -> None:
    """Options shared by extract and batch: the recipe and the frame rate."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a published system's recipe (see `avalign presets`)")
    g.add_argument("--feature", help="feature kind: mel (default), mfcc, wav2vec2, hubert, wavlm, whisper, deepspeech")
    p.add_argument("--fps", help="frame rate: 25, 29.97, 30000/1001 (default: the video's)")
    p.add_argument("--num-frames", type=int, help="exact number of output rows")
    p.add_argument("--model", help="local model directory or model id (neural features); .pb for deepspeech")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where neural models run")
    p.add_argument("--offset-ms", type=float, default=0.0,
                   help="shift audio against video in ms; positive means the audio is later")
    p.add_argument("--loudness", metavar="LUFS",
                   help="normalise the audio to this integrated loudness first (ITU-R BS.1770, e.g. -23; needs "
                        "pip install 'avalign[loudness]'); 'off' disables a preset's own normalisation")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="feature or preset option, e.g. n_mels=40 (repeatable)")
    add_budget_argument(p)


def recipe_kwargs(args) -> dict:
    """The keyword arguments of :func:`avalign.extract` given by the shared options."""
    kw = dict(parse_option(o) for o in args.option)
    for key in kw:  # a name extract() takes itself (a flag of this command, an internal argument) cannot be an option
        if key in vars(args) or key in ("recipe", "info", "features"):
            flag = (f"; --{key.replace('_', '-')} is this command's own flag" if key in vars(args) else "")
            raise InputError(f"bad --option {key}=...: {key!r} is an argument of extract, not passed on as a feature "
                             f"or preset option{flag} (`avalign batch --option {key}=...` and "
                             f"avalign.features.create(..., {key}=...) as extract(recipe=...) set such an option)")
    return dict(preset=args.preset, feature=args.feature, fps=args.fps, num_frames=args.num_frames,
                model=args.model, device=args.device, offset_ms=args.offset_ms, loudness=args.loudness, **kw)


def add_align_arguments(p) -> None:
    """The alignment rule of a --feature (extract, explain, plot)."""
    p.add_argument("--method", default="interval",
                   help="alignment method for --feature: interval (default: mean over each frame's display "
                        "interval), linear (at each frame's start), stretch, nearest, index, stack, pool")
    p.add_argument("--window", type=int, help="rows per frame (windows) for --feature")
    p.add_argument("--anchor", default="start", help="window anchor: start, centre or an integer offset")
    p.add_argument("--edge", help="edge policy: zeros, clamp, reflect, shift")


def align_kwargs(args) -> dict:
    """The keyword arguments of the alignment rule; none for a preset (it has its own rule)."""
    if getattr(args, "preset", None):
        return {}
    anchor = int(args.anchor) if args.anchor.lstrip("-").isdigit() else args.anchor
    return dict(method=args.method, window=args.window, anchor=anchor, edge=args.edge)


def warn_missing_audio(source, meta: dict) -> None:
    """One warning line on stderr when the source's index declares audio that the file does not hold."""
    audio = meta.get("audio") or {}
    missing = audio.get("missing_samples")
    if missing:
        print(f"avalign: warning: {source}: truncated file: {missing} audio samples "
              f"({audio['missing_seconds']:.3f} s) that its index declares are missing at the end "
              f"(recorded as audio.missing_samples in the sidecar)", file=sys.stderr)


def register(sub) -> None:
    p = sub.add_parser("extract", help="extract features aligned to video frames")
    p.add_argument("input", help="audio or video file")
    p.add_argument("-o", "--output", required=True, help="output .npy (a .json sidecar is written beside it)")
    add_recipe_arguments(p)
    add_align_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing on success (no progress bar)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.quiet:
        progress.set_quiet()
    inputs = (args.input, args.model)
    out = check_writable(args.output, inputs=inputs)
    aligned = extract(args.input, **recipe_kwargs(args), **align_kwargs(args))
    refuse_empty(aligned.values, aligned.meta)
    npy, side = save(out, aligned.values, aligned.meta, inputs=inputs)
    warn_missing_audio(args.input, aligned.meta)
    if not args.quiet:
        print(f"{npy}: {list(aligned.values.shape)} {aligned.values.dtype} ({side.name} beside it)")
    return 0

