"""``avalign check VIDEO FEATURES.npy [--preset NAME]``: does this feature file match this video?

Exit 0 on a match, 1 on a mismatch (explained), 2 for bad input.
"""

from __future__ import annotations

import json

from ..check import check


def register(sub) -> None:
    p = sub.add_parser("check", help="check a feature file against a video (exit 1 on mismatch)",
                       description="Check that a feature file (avalign's, or another tool's without a sidecar) "
                                   "has the rows a video and a preset's rule ask for; explain a mismatch.")
    p.add_argument("video")
    p.add_argument("features", help=".npy feature file (its .json sidecar is used when present)")
    p.add_argument("--preset", help="the preset whose rule the file should follow (default: the sidecar's, "
                                    "else one row per video frame)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    report = check(args.video, args.features, preset=args.preset)
    if args.json:
        print(json.dumps({"ok": report.ok, "rows": report.rows, "expected": report.expected,
                          "video_frames": report.video_frames, "max_time_error": report.max_time_error,
                          "audio_offset": report.audio_offset, "reasons": report.reasons,
                          "lines": report.lines}, indent=2))
    else:
        print(report.text())
    return 0 if report.ok else 1
