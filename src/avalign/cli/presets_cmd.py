"""``avalign presets [--json]``: the presets with their output shape rule and source."""

from __future__ import annotations

import json

from .. import systems


def register(sub) -> None:
    p = sub.add_parser("presets", help="list presets with their output shape rule and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = [systems.get(n).describe() for n in systems.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max((len(r["name"]) for r in rows), default=4)
    s = max((len(r["shape"]) for r in rows), default=5)
    print(f"{'preset':<{w}}  {'output':<{s}}  {'fps':<5}  source")
    for r in rows:
        print(f"{r['name']:<{w}}  {r['shape']:<{s}}  {r['fps'] or 'any':<5}  {r['system']}")
    return 0
