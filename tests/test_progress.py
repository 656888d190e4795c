"""Progress bars on long neural extraction (issue 12, class 9) and the batch summary's throughput."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from avalign import progress


class Terminal(io.StringIO):
    """A stderr stand-in that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def tty(monkeypatch):
    """A terminal as stderr. Tests call ``tty()`` in their body: pytest's capture swaps sys.stderr per phase."""
    return lambda: _terminal(monkeypatch)


def _terminal(monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.delenv("AVALIGN_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "_quiet", False)
    return term


def test_when_a_bar_shows(tty, monkeypatch):
    term = tty()
    assert progress.enabled(audio_seconds=30.0, total=2)
    assert not progress.enabled(audio_seconds=29.9, total=2), "short audio: no bar"
    assert not progress.enabled(audio_seconds=600.0, total=1), "one step: no bar"
    assert not progress.enabled(audio_seconds=600.0, total=2, file=io.StringIO()), "not a terminal: no bar"
    monkeypatch.setenv("AVALIGN_PROGRESS", "0")
    assert not progress.enabled(audio_seconds=600.0, total=2)
    monkeypatch.delenv("AVALIGN_PROGRESS")
    progress.set_quiet()
    assert not progress.enabled(audio_seconds=600.0, total=2)
    progress.set_quiet(False)
    with progress.suppressed():
        assert not progress.enabled(audio_seconds=600.0, total=2)
    assert progress.enabled(audio_seconds=600.0, total=2)
    assert isinstance(progress.bar(total=1, audio_seconds=600, desc="x"), progress.Silent)


def test_bar_counts_steps_and_real_time(tty):
    term = tty()
    with progress.bar(total=4, audio_seconds=40.0, desc="hubert") as bar:
        assert isinstance(bar, progress.Bar)
        for _ in range(4):
            bar.advance()
        assert bar.done == 4 and bar.realtime_factor() > 0
    text = term.getvalue()
    assert "hubert" in text and "x real time" in text and "4/4" in text


def _bar_output(term, run):
    """(result with a terminal, stderr text, result with progress off)."""
    with_bar = run()
    text = term.getvalue()
    progress.set_quiet()
    try:
        quiet_len = len(term.getvalue())
        without = run()
        assert len(term.getvalue()) == quiet_len, "quiet: nothing more on stderr"
    finally:
        progress.set_quiet(False)
    return with_bar, text, without


def test_ssl_long_audio_shows_chunks(tty, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from ssl_models import model_dirs

    from avalign import features

    folder = model_dirs()["wav2vec2-base-960h"]  # shared with the other SSL tests (built once per run)
    ex = features.create("wav2vec2", model=str(folder), chunk_seconds=1.0, context_seconds=0.2)
    x = np.random.default_rng(0).standard_normal(int(16000 * 3.5)).astype(np.float32) * 0.1
    ex.compute(x[:16000])  # load the model before stderr is a terminal
    term = tty()
    monkeypatch.setattr(progress, "MIN_SECONDS", 1.0)
    a, text, b = _bar_output(term, lambda: ex.compute(x))
    assert "wav2vec2" in text and "x real time" in text and "4/4" in text, text  # 3.5 s in 1 s chunks: 4 calls
    np.testing.assert_array_equal(a, b)


def test_whisper_long_audio_shows_windows(tty, tmp_path):
    term = tty()  # whisper windows are 30 s: 45 s of audio makes two
    pytest.importorskip("torch")
    from avalign import features
    from avalign.features.whisper import save_random_model

    path = save_random_model(tmp_path / "w", size="tiny", encoder_layers=1, seed=0)
    ex = features.create("whisper", model=str(path), long="segments")
    x = np.random.default_rng(1).standard_normal(16000 * 45).astype(np.float32) * 0.1
    a, text, b = _bar_output(term, lambda: ex.compute(x))
    assert "whisper" in text and "2/2" in text and "x real time" in text, text
    np.testing.assert_array_equal(a, b)


def test_deepspeech_long_audio_shows_steps(tty, tmp_path):
    pytest.importorskip("torch")
    from helpers.deepspeech_graph import write_graph

    from avalign.features.deepspeech import logits

    path = tmp_path / "output_graph.pb"
    write_graph(path, n_hidden=8, n_cell=4, n_hidden_3=8, seed=2)
    x = (np.random.default_rng(2).standard_normal(16000 * 32) * 3000).astype(np.int16)
    term = tty()
    a, text, b = _bar_output(term, lambda: logits([x], model=str(path)))
    assert "deepspeech" in text and "x real time" in text, text
    steps = a[0].shape[0]
    assert f"{steps}/{steps}" in text, "the bar ends at the clip's 50 Hz step count"
    np.testing.assert_array_equal(a[0], b[0])


def test_batch_summary_reports_clips_per_s_and_real_time(tmp_path):
    from avalign import synth
    from avalign.batch import RecipeSpec, run_batch

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        synth.write_wav(src / f"c{i}.wav", synth.speech_like(2.0, seed=i))
    summary = run_batch(src, tmp_path / "out", spec=RecipeSpec(preset="wav2lip", fps="25"), quiet=True)
    line = summary.line()
    assert "clips/s" in line and "h of audio per hour" in line and "x real time" in line, line
    xrt = float(line.split("h of audio per hour = ")[1].split("x real time")[0])
    assert xrt == pytest.approx(6.0 / summary.elapsed_s, rel=0.02)


def test_batch_bar_postfix():
    from avalign.batch.progress import Progress

    p = Progress(2, quiet=True)
    p.update({"status": "ok", "duration_s": 3600.0})
    p.update({"status": "error"})
    assert p.realtime_factor() > 1000 and p.clips_per_s() > 0
    assert p.postfix().endswith("1 errors") and "x real time" in p.postfix()


def test_batch_bar_counts_skipped_apart_from_errors():
    from avalign.batch.progress import Progress

    p = Progress(3, quiet=True)
    p.update({"status": "ok", "duration_s": 1.0})
    p.update({"status": "skipped"})
    p.update({"status": "error"})
    assert (p.ok, p.skipped, p.errors) == (1, 1, 1)
    assert ", 1 skipped, 1 errors" in p.postfix()
