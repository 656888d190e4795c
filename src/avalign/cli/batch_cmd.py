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
                   help="recompute clips with an error (or sync-skipped) row even when their file has not changed")
    g = p.add_argument_group("sync (measure each clip's audio-video offset first; see docs/sync.md)")
    g.add_argument("--sync", choices=("onset", "syncnet"),
                   help="measure the offset per clip: offset_frames, offset_ms, confidence (+ lse_d, lse_c) in its row")
    g.add_argument("--sync-model", help="SyncNet weights (syncnet_v2.model); with --sync syncnet and no --sync-model,"
                                        " --model is taken as the SyncNet weights")
    g.add_argument("--min-confidence", type=float, help="skip clips whose sync confidence is lower")
    g.add_argument("--max-offset", type=float, help="skip clips whose |offset| is more video frames than this")
    g.add_argument("--apply-sync", action="store_true",
                   help="extract each kept clip with its measured offset (as `avalign sync --apply`)")
    g.add_argument("--sync-crop", help="x,y,w,h: the face (syncnet) or the region to watch (onset)")
    g.add_argument("--sync-vshift", type=int, default=15, help="sync search range in video frames each way (15)")
    g.add_argument("--sync-seconds", type=float, help="measure on the first SECONDS of each clip")
    p.add_argument("--overwrite", action="store_true",
                   help="allow a recipe other than the one OUT holds (its clips are recomputed); refused otherwise")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (for logs); the summary still prints")
    p.set_defaults(func=run)


def sync_kwargs(args) -> dict:
    """``{"sync": SyncSpec, "model": ...}`` from the sync options (empty without --sync)."""
    from ..batch import SyncSpec
    from ..errors import InputError

    given = [name for name in ("sync_model", "min_confidence", "max_offset", "sync_crop", "sync_seconds")
             if getattr(args, name) is not None] + (["apply_sync"] if args.apply_sync else [])
    if args.sync is None:
        if given:
            raise InputError(f"--{given[0].replace('_', '-')} goes with --sync onset|syncnet")
        return {}
    out = {}
    weights = args.sync_model
    if args.sync == "syncnet" and weights is None:
        weights, out["model"] = args.model, None  # --model names the SyncNet weights (issue 16's usage)
    return {**out, "sync": SyncSpec(method=args.sync, model=weights, min_confidence=args.min_confidence,
                                    max_offset=args.max_offset, apply=args.apply_sync, crop=args.sync_crop,
                                    vshift=args.sync_vshift, seconds=args.sync_seconds)}


def run(args) -> int:
    if args.workers < 1:
        from ..errors import InputError

        raise InputError(f"bad --workers {args.workers}: must be at least 1")
    spec = RecipeSpec.from_kwargs({**recipe_kwargs(args), **sync_kwargs(args)})
    summary = run_batch(args.src, args.output, spec=spec, executor=args.executor, workers=args.workers,
                        system_names=args.system_names, retry_errors=args.retry_errors, overwrite=args.overwrite,
                        quiet=args.quiet)
    print(summary.line())
    for row in summary.errors[:SHOW_ERRORS]:
        print(f"  error {row['id']}: {row.get('error')}", file=sys.stderr)
    if len(summary.errors) > SHOW_ERRORS:
        print(f"  ... and {len(summary.errors) - SHOW_ERRORS} more error rows in {summary.manifest}", file=sys.stderr)
    return summary.exit_code
