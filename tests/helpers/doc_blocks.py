"""Run a documentation page's Python blocks: each block's printed lines, paired with its ``print(`` lines."""

from __future__ import annotations

import contextlib
import io


def run_block(block: str, namespace: dict, source: str) -> list[tuple[str, str]]:
    """Exec ``block`` in ``namespace``; ``(print line, printed line)`` pairs (one line printed per ``print(``)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, source, "exec"), namespace)  # noqa: S102 - our own documentation
    printed = out.getvalue().splitlines()
    calls = [line for line in block.splitlines() if line.startswith("print(")]
    assert len(calls) == len(printed), block
    return list(zip(calls, printed))
