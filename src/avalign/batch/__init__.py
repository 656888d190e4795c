"""Batch extraction over datasets: resumable, with a manifest, a local process pool or Ray.

``run_batch(src, out, spec=RecipeSpec(feature="mel"))`` computes one output per
clip of a folder or manifest into ``out`` and records a row per clip in
``out/manifest.jsonl``; a rerun computes only what is missing. See
``docs/batch.md``.
"""

from __future__ import annotations

from .manifest import MANIFEST_NAME, Manifest
from .recipe import RecipeSpec, SyncSpec
from .runner import EXECUTORS, Summary, run_batch
from .sources import Clip, read_source

__all__ = ["Clip", "EXECUTORS", "MANIFEST_NAME", "Manifest", "RecipeSpec", "Summary", "SyncSpec", "read_source", "run_batch"]
