"""``avalign plot INPUT [--preset NAME | --feature KIND] [--frame I] -o out.png``."""

from __future__ import annotations

from ..plot import plot
from .extract_cmd import parse_option


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
    p.add_argument("--method", default="linear", help="alignment method for --feature")
    p.add_argument("--window", type=int, help="rows per frame (windows) for --feature")
    p.add_argument("--anchor", default="start", help="window anchor: start, centre or an integer offset")
    p.add_argument("--edge", help="edge policy: zeros, clamp, reflect, shift")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="feature or preset option")
    p.set_defaults(func=run)


def run(args) -> int:
    kw = dict(parse_option(o) for o in args.option)
    if not args.preset:
        anchor = int(args.anchor) if args.anchor.lstrip("-").isdigit() else args.anchor
        kw.update(method=args.method, window=args.window, anchor=anchor, edge=args.edge)
    data = plot(args.input, args.output, args.preset, feature=args.feature, frame=args.frame, fps=args.fps, **kw)
    w0, w1 = data["window"]
    print(f"{args.output}: row {data['frame']} of {data['rows']} receives {w0:.4f}-{w1:.4f} s")
    return 0
