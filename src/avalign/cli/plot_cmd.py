"""``avalign plot INPUT [--preset NAME | --feature KIND] [--frame I] -o out.png``."""

from __future__ import annotations

from ..plot import plot
from .extract_cmd import add_align_arguments, align_kwargs, parse_option


def register(sub) -> None:
    p = sub.add_parser("plot", help="draw waveform, features, video frame boundaries and one frame's audio window",
                       description="A PNG showing the waveform, a feature heatmap, the video frame boundaries, "
                                   "the audio window that one row receives, and thumbnails of video frames.")
    p.add_argument("input", help="video (or audio file with --fps)")
    p.add_argument("-o", "--output", required=True, help="output PNG")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="show this preset's windows")
    g.add_argument("--feature", help="feature kind (default mel), aligned by --method")
    p.add_argument("--frame", type=int, help="the row to highlight (default: the middle one)")
    p.add_argument("--fps", help="frame rate (default: the video's)")
    add_align_arguments(p)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="feature or preset option")
    p.set_defaults(func=run)


def run(args) -> int:
    kw = dict(parse_option(o) for o in args.option)
    kw.update(align_kwargs(args))
    data = plot(args.input, args.output, args.preset, feature=args.feature, frame=args.frame, fps=args.fps, **kw)
    w0, w1 = data["window"]
    print(f"{args.output}: row {data['frame']} of {data['rows']} receives {w0:.4f}-{w1:.4f} s")
    return 0
