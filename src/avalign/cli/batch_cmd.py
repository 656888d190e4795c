"""``avalign batch SRC -o OUT [--preset NAME | --feature KIND] [--workers N] [--executor local|ray]``.

Exit codes: 0 every clip ok, 1 some clips failed (error rows in the
manifest), 2 bad usage (missing SRC, unknown preset, ray not installed).
"""

from __future__ import annotations

import sys

from ..batch import EXECUTORS, RecipeSpec, run_batch
from .extract_cmd import add_recipe_arguments, recipe_kwargs

#: Error rows printed after the summary (the manifest has them all).
SHOW_ERRORS = 10


def register(sub) -> None:
    p = sub.add_parser("batch", help="extract a folder or manifest of clips, resumable, with a manifest")
    p.add_argument("src", help="folder of media files (recursive) or manifest (.jsonl/.csv with path,"
                               " optional id, fps, num_frames)")
    p.add_argument("-o", "--output", required=True,
                   help="output folder: one .npy (+ .json) per clip mirroring SRC, and manifest.jsonl")
    add_recipe_arguments(p)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (local) or extractor actors (ray); default 1")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local processes, or a Ray Data pipeline (RAY_ADDRESS or a local Ray)")
    p.add_argument("--system-names", action="store_true",
                   help="save as OUT/<clip>/<the system's file name> (aud_hu.npy, ...) instead of OUT/<clip>.npy")
    p.add_argument("--retry-errors", action="store_true",
                   help="recompute clips with an error row even when their file has not changed")
    p.add_argument("--overwrite", action="store_true",
                   help="allow a recipe other than the one OUT holds (its clips are recomputed); refused otherwise")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (for logs); the summary still prints")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.workers < 1:
        from ..errors import InputError

        raise InputError(f"bad --workers {args.workers}: must be at least 1")
    spec = RecipeSpec.from_kwargs(recipe_kwargs(args))
    summary = run_batch(args.src, args.output, spec=spec, executor=args.executor, workers=args.workers,
                        system_names=args.system_names, retry_errors=args.retry_errors, overwrite=args.overwrite,
                        quiet=args.quiet)
    print(summary.line())
    for row in summary.errors[:SHOW_ERRORS]:
        print(f"  error {row['id']}: {row.get('error')}", file=sys.stderr)
    if len(summary.errors) > SHOW_ERRORS:
        print(f"  ... and {len(summary.errors) - SHOW_ERRORS} more error rows in {summary.manifest}", file=sys.stderr)
    return summary.exit_code
