"""``avalign extract INPUT -o OUT.npy [--preset NAME | --feature KIND] ...``."""

from __future__ import annotations

import json

from .. import progress
from ..api import extract
from ..errors import InputError
from ..store import check_writable, save


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
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="feature or preset option, e.g. n_mels=40 (repeatable)")


def recipe_kwargs(args) -> dict:
    """The keyword arguments of :func:`avalign.extract` given by the shared options."""
    kw = dict(parse_option(o) for o in args.option)
    return dict(preset=args.preset, feature=args.feature, fps=args.fps, num_frames=args.num_frames,
                model=args.model, device=args.device, offset_ms=args.offset_ms, **kw)


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
    npy, side = save(out, aligned.values, aligned.meta, inputs=inputs)
    if not args.quiet:
        print(f"{npy}: {list(aligned.values.shape)} {aligned.values.dtype} ({side.name} beside it)")
    return 0
