"""Streaming presets of real-time systems' own loops (filled in below)."""

from __future__ import annotations

#: name -> factory(fps=, model=, device=, sample_rate_in=, **options) -> Stream
REALTIME: dict = {}
