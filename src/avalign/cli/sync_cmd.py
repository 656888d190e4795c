"""``avalign sync VIDEO [--method onset|syncnet] [--model syncnet_v2.model] [--json] [--plot out.png] [--apply -o OUT.npy]``."""

from __future__ import annotations

import json

from ..errors import InputError
from ..store import check_writable, refuse_empty, save


def register(sub) -> None:
    p = sub.add_parser("sync", help="measure the audio-video offset (onset or SyncNet), optionally extract with it")
    p.add_argument("input", help="video file with an audio stream")
    p.add_argument("--method", choices=("onset", "syncnet"), default="onset",
                   help="onset (no weights; flashes, claps, motion) or syncnet (needs --model)")
    p.add_argument("--model", help="syncnet_python's syncnet_v2.model (a torch state dict)")
    p.add_argument("--crop", help="x,y,w,h in pixels: the face (syncnet) or the region to watch (onset)")
    p.add_argument("--vshift", type=int, default=15, help="search range in video frames each way (default 15)")
    p.add_argument("--seconds", type=float, help="analyse only the first SECONDS of the clip")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where SyncNet runs (default cpu)")
    p.add_argument("--json", action="store_true", help="print the result and its curves as JSON")
    p.add_argument("--plot", help="write the distance/score-per-offset curve to this .png")
    p.add_argument("--apply", action="store_true", help="then extract features with the measured offset (-o, --preset)")
    p.add_argument("-o", "--output", help="with --apply: output .npy (sidecar beside it)")
    p.add_argument("--preset", help="with --apply: the preset to extract (default: --feature mel)")
    p.add_argument("--feature", help="with --apply: the feature kind (default mel)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..sync import sync

    if args.apply and not args.output:
        raise InputError("--apply needs -o OUT.npy")
    if (args.output or args.preset or args.feature) and not args.apply:
        raise InputError("-o, --preset and --feature go with --apply")
    out = check_writable(args.output) if args.apply else None
    if args.plot:
        check_writable(args.plot)
    result = sync(args.input, method=args.method, model=args.model, crop=args.crop, vshift=args.vshift,
                  seconds=args.seconds, device=args.device)
    if args.plot:
        _plot(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        line = (f"{args.input}: offset {result.offset_ms:+.1f} ms ({result.offset_frames:+.2f} frames at "
                f"{float(result.fps):g} fps), confidence {result.confidence:.3f}")
        if result.lse_d is not None:
            line += f", LSE-D {result.lse_d:.3f}, LSE-C {result.lse_c:.3f}"
        print(line)
    if args.apply:
        from ..sync import extract_synced

        aligned = extract_synced(args.input, result, preset=args.preset, feature=args.feature)
        refuse_empty(aligned.values, aligned.meta)
        npy, _ = save(out, aligned.values, aligned.meta)
        if not args.json:
            print(f"{npy}: {list(aligned.values.shape)} extracted with --offset-ms {result.offset_ms:g}")
    return 0


def _plot(result, path) -> None:
    from ..errors import require

    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "distance" if "distance" in result.curves else "score"
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(result.curves["offsets_ms"], result.curves[key])
    ax.axvline(result.offset_ms, color="r", lw=0.8)
    ax.set_xlabel("offset (ms; > 0: sound early)")
    ax.set_ylabel(key)
    ax.set_title(f"{result.method}: {result.offset_ms:+.0f} ms, confidence {result.confidence:.2f}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
