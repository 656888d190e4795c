"""The worked example of docs/streaming.md runs: its Python blocks and its `avalign stream` command, in order."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from helpers.doc_blocks import run_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "streaming.md"


def test_streaming_example_runs(tmp_path, monkeypatch, capsys):
    from avalign.cli import main

    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```(python|bash)\n(.*?)```", DOC.read_text(), flags=re.S)
    assert [k for k, _ in blocks] == ["python", "bash", "python"]
    namespace: dict = {}
    for kind, block in blocks:
        if kind == "bash":
            commands = [line for line in block.splitlines() if line.startswith("avalign ")]
            assert commands
            for line in commands:
                assert main(shlex.split(line)[1:]) == 0
                err = capsys.readouterr().err
                said = [c for c in block.splitlines() if c.startswith("# avalign stream:")][0]
                assert err.startswith(said[2:].split("real-time factor")[0]), (said, err)
            continue
        for call, got in run_block(block, namespace, str(DOC)):
            want = call.split("#", 1)[1].split("  (")[0].strip() if "#" in call else ""
            # the printed values are the comment's first words: "2760 0.2125", "(47, 80, 16) 0.24", "True"
            assert got.startswith(want) or got == want, (call, got)
