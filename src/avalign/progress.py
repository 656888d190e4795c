"""Progress bars for long neural extraction: chunks done and × real time, on stderr.

A bar shows only when all hold: the work covers at least :data:`MIN_SECONDS`
of audio, it has more than one step, stderr is a terminal, and progress is
not switched off (:func:`set_quiet`, the CLI's ``--quiet``, or
``AVALIGN_PROGRESS=0``). Otherwise :func:`bar` returns a silent object with
the same methods, so callers never test for it.

    with progress.bar(total=len(chunks), audio_seconds=n / 16000, desc="hubert") as b:
        for chunk in chunks:
            ...
            b.advance()

The real-time factor assumes the steps hold equal shares of the audio:
``audio_seconds * done / total / elapsed``.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

#: audio shorter than this (seconds) never shows a bar
MIN_SECONDS = 30.0

_quiet = False


def set_quiet(flag: bool = True) -> None:
    """Switch progress bars off (``True``) or back on for this process."""
    global _quiet
    _quiet = bool(flag)


@contextmanager
def suppressed():
    """No per-extraction bars inside this block, in this process and in worker processes it starts.

    ``avalign batch`` runs its clips inside it: its own bar counts clips instead.
    """
    global _quiet
    before, env = _quiet, os.environ.get("AVALIGN_PROGRESS")
    _quiet = True
    os.environ["AVALIGN_PROGRESS"] = "0"  # inherited by spawned workers
    try:
        yield
    finally:
        _quiet = before
        if env is None:
            os.environ.pop("AVALIGN_PROGRESS", None)
        else:
            os.environ["AVALIGN_PROGRESS"] = env


def enabled(*, audio_seconds: float, total: int, file=None) -> bool:
    """Whether a bar would show for ``total`` steps over ``audio_seconds`` seconds of audio."""
    file = sys.stderr if file is None else file
    if _quiet or os.environ.get("AVALIGN_PROGRESS", "1").strip() in ("0", "no", "off", "false"):
        return False
    if total <= 1 or audio_seconds < MIN_SECONDS:
        return False
    isatty = getattr(file, "isatty", None)
    return bool(isatty and isatty())


class Bar:
    """A tqdm bar counting steps, with the × real time of the audio done so far as its postfix."""

    def __init__(self, *, total: int, audio_seconds: float, desc: str, unit: str = "chunk", file=None):
        from tqdm import tqdm

        self.total = int(total)
        self.audio_seconds = float(audio_seconds)
        self.done = 0
        self.start = time.perf_counter()
        self._tqdm = tqdm(total=self.total, desc=desc, unit=unit, file=sys.stderr if file is None else file,
                          dynamic_ncols=True, mininterval=0.5)

    def realtime_factor(self) -> float:
        """Seconds of audio done per wall-clock second."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return self.audio_seconds * self.done / max(self.total, 1) / elapsed

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more steps done."""
        self.done += int(n)
        self._tqdm.set_postfix_str(f"{self.realtime_factor():.1f}x real time", refresh=False)
        self._tqdm.update(int(n))

    def close(self) -> None:
        """End the bar, leaving its final line (steps, × real time) on stderr."""
        self._tqdm.set_postfix_str(f"{self.realtime_factor():.1f}x real time", refresh=False)
        self._tqdm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Silent:
    """The no-op stand-in for :class:`Bar`."""

    done = 0

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def bar(*, total: int, audio_seconds: float, desc: str, unit: str = "chunk", file=None):
    """A :class:`Bar` when :func:`enabled`, else a :class:`Silent` one (same methods)."""
    if enabled(audio_seconds=audio_seconds, total=total, file=file):
        return Bar(total=total, audio_seconds=audio_seconds, desc=desc, unit=unit, file=file)
    return Silent()
