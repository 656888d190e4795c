"""``avalign explain --preset NAME --duration 10 --fps 25``: what audio each output row receives."""

from __future__ import annotations

import json

from ..explain import explain
from . import add_budget_argument
from .extract_cmd import add_align_arguments, align_kwargs, parse_option


def register(sub) -> None:
    p = sub.add_parser("explain", help="show a preset's or feature's rule, row count and the audio each row receives",
                       description="The rule in one sentence, the row count, and the sample and time span that "
                                   "rows 0, 1, 2 and the last two receive (padding outside the audio marked).")
    p.add_argument("input", nargs="?", help="optional media file: its audio length, fps and frame count are used")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a published system's recipe (see `avalign presets`)")
    g.add_argument("--feature", help="a feature kind (mel, mfcc, ...) aligned by --method (default mel)")
    p.add_argument("--duration", help="seconds of audio (without INPUT)")
    p.add_argument("--samples", type=int, help="samples of audio at the recipe's rate (without INPUT)")
    p.add_argument("--fps", help="video frame rate: 25, 29.97, 30000/1001 (default: the file's)")
    p.add_argument("--num-frames", type=int, help="video frames (default: the file's, else floor(duration x fps))")
    add_align_arguments(p)
    p.add_argument("--rows", help="rows to show, comma-separated (negative from the end; default 0,1,2,-2,-1)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="feature or preset option (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_budget_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import InputError

    kw = dict(parse_option(o) for o in args.option)
    kw.update(align_kwargs(args))
    rows = (0, 1, 2, -2, -1)
    if args.rows:
        try:
            rows = tuple(int(x) for x in args.rows.split(","))
        except ValueError:
            raise InputError(f"bad --rows {args.rows!r}: expected integers such as 0,1,2,-1") from None
    ex = explain(args.preset, feature=args.feature, source=args.input, duration=args.duration,
                 n_samples=args.samples, fps=args.fps, video_frames=args.num_frames, **kw)
    print(json.dumps(ex.to_dict(rows), indent=2) if args.json else ex.text(rows))
    return 0
