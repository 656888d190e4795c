"""Progress of a batch: a tqdm bar with ETA, clips/s and × real time (hours of audio per hour); silent in quiet mode."""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts finished clips and the audio they held.

    Parameters
    ----------
    total : int
        Clips to compute in this run (skipped ones excluded).
    quiet : bool
        No bar (for logs); the counts are still kept for the summary.
    """

    def __init__(self, total: int, *, quiet: bool = False, file=None):
        self.total = total
        self.ok = 0
        self.errors = 0
        self.skipped = 0  # left out by the sync thresholds (batch --sync)
        self.audio_s = 0.0
        self.start = time.perf_counter()
        self.bar = None
        if not quiet and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="clip", file=file or sys.stderr, dynamic_ncols=True,
                            smoothing=0.05, mininterval=0.5)

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def realtime_factor(self) -> float:
        """Seconds of audio done per wall-clock second (= hours of audio per hour)."""
        return self.audio_s / max(self.elapsed, 1e-9)

    def clips_per_s(self) -> float:
        """Finished clips (ok, error or skipped by the sync thresholds) per wall-clock second."""
        return (self.ok + self.errors + self.skipped) / max(self.elapsed, 1e-9)

    def postfix(self) -> str:
        """The bar's postfix: clips/s, × real time and errors."""
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return (f"{self.clips_per_s():.2f} clips/s, {self.realtime_factor():.3g}x real time{skipped}, "
                f"{self.errors} errors")

    def update(self, row: dict) -> None:
        """Count one finished clip (its manifest row)."""
        if row["status"] == "ok":
            self.ok += 1
            self.audio_s += float(row.get("duration_s") or 0.0)
        elif row["status"] == "skipped":
            self.skipped += 1
        else:
            self.errors += 1
        if self.bar is not None:
            self.bar.set_postfix_str(self.postfix(), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
