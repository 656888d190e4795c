"""``avalign check VIDEO FEATURES.npy``: does this feature file match this video?"""

from __future__ import annotations

from ..check import check


def register(sub) -> None:
    p = sub.add_parser("check", help="check a feature file against a video (exit 1 on mismatch)")
    p.add_argument("video")
    p.add_argument("features")
    p.set_defaults(func=run)


def run(args) -> int:
    report = check(args.video, args.features)
    print(report.text())
    return 0 if report.ok else 1
