"""``avalign presets [--json]``: the presets with their output shape rule, rate, model and source.

The ``model`` column names the checkpoint the system uses (pass it, or a local copy, with ``--model``),
``file`` where the preset needs a model file that has no hub id (DeepSpeech v0.1.0's ``.pb``), and ``-``
where it needs no model. ``--json`` has ``model`` (the id or null) and ``needs_model``.
"""

from __future__ import annotations

import json

from .. import systems


def register(sub) -> None:
    p = sub.add_parser("presets", help="list presets with their output shape rule, model and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = [systems.get(n).describe() for n in systems.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max((len(r["name"]) for r in rows), default=4)
    s = max((len(r["shape"]) for r in rows), default=5)
    models = [model_label(r) for r in rows]
    m = max((len(x) for x in models), default=5)
    print(f"{'preset':<{w}}  {'output':<{s}}  {'fps':<5}  {'model':<{m}}  source")
    for r, model in zip(rows, models):
        print(f"{r['name']:<{w}}  {r['shape']:<{s}}  {r['fps'] or 'any':<5}  {model:<{m}}  {r['system']}")
    return 0


def model_label(row: dict) -> str:
    """One word for the ``model`` column: the checkpoint id, ``file`` (a model file is needed) or ``-`` (none)."""
    if not row.get("needs_model"):
        return "-"
    return row.get("model") or "file"
