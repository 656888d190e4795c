"""Regression harness: pin every preset's and every feature's output on the real media files.

Each case is one ``avalign.extract`` call; its record is the output's shape,
dtype, sha256 of the C-contiguous bytes, float64 ``sum`` and ``abs_sum``
(a tolerance diagnostic) and the sidecar's ``grid.num_frames``. A call that
raises ``InputError`` records the error's class name and message instead.

Cases: every preset (at 25, 30000/1001 and 30 fps, or once at its fixed
rate; on a video also once at the video's own rate) and every feature kind at
its defaults, aligned with the default settings and with ``method="linear"``,
on every media file of the real data folder (``$AVALIGN_REAL_DATA``, default
``../shared/data/real`` from the repository root). Spectral and DeepSpeech
cases read whole files through ``extract``; neural cases (SSL, Whisper) take
the first :data:`CROP_SECONDS` of the file decoded at 16 kHz by
``avalign.load_audio`` (so there the video's own rate is given as ``fps``);
a neural feature runs once per file and is passed to ``extract(features=...)``
for each rate and method.
Models are the seeded random ones of the tests (``tests/ssl_models.py``,
``tests/helpers``).

    python3 tools/regression.py --write tests/data/regression.json
    python3 tools/regression.py --check tests/data/regression.json [--only PATTERN]
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("AVALIGN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
MEDIA = (".wav", ".mp4")
RATES = ("25", "30000/1001", "30")
CROP_SECONDS = 3.0
#: relative tolerance on ``sum`` / ``abs_sum`` that tells run-to-run noise from a real change
SUM_RTOL = 1e-6
#: cases computed by a model (torch: SSL, Whisper, DeepSpeech) are compared by shape, dtype, rows and their sums
#: to this relative tolerance, not by hash: float32 kernels of torch/oneDNN give other last bits on another CPU
#: (seen: the baseline's bytes on one machine, sums off by up to 2.5e-5 relative on an AMD EPYC). A real change
#: (a row moved, a window shifted, another layer) moves abs_sum by about 1/rows, far above this.
MODEL_RTOL = 1e-4
#: feature kind -> the random model it runs with (a key of :func:`models`), or None
FEATURES = {"mel": None, "mfcc": None, "wav2vec2": "wav2vec2-base-960h", "hubert": "hubert-large-ls960-ft",
            "wavlm": "wavlm-base", "whisper": "whisper-hf-tiny", "deepspeech": "deepspeech"}
#: features and preset families computed on the crop (the rest read whole files)
NEURAL = {"wav2vec2", "hubert", "wavlm", "whisper"}

for _p in (ROOT / "tests", ROOT / "src"):  # this checkout's code and test helpers come first
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def media_files(folder: Path = REAL) -> list[Path]:
    """The media files (audio and video) of ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in MEDIA)


def models(root: Path) -> dict:
    """The seeded random models of the tests, built into ``root``: key -> path (str)."""
    import ssl_models
    from helpers.deepspeech_graph import write_graph
    from helpers.whisper_models import openai_model, save_openai

    from avalign.features import whisper as W

    out = {name: str(path) for name, path in ssl_models.model_dirs().items()}
    graph = root / "deepspeech-0_1_0-b90017e8.pb"
    write_graph(graph, n_hidden=16, n_cell=8, seed=11)  # as tests/test_deepspeech_presets.py
    out["deepspeech"] = str(graph)
    out["whisper-hf-tiny"] = str(W.save_random_model(root / "whisper-hf-tiny", size="tiny", seed=4))
    model, dims = openai_model(384, 6, 4, seed=3)  # as tests/test_presets_whisper.py
    out["whisper-openai-tiny"] = str(save_openai(model, dims, root / "whisper-openai-tiny.pt"))
    return out


def preset_model(name: str):
    """(model key or None, neural?) for preset ``name`` (by its feature family)."""
    import ssl_models

    import avalign

    if name in ssl_models.PRESET_ARCH:
        return ssl_models.PRESET_ARCH[name], True
    family = avalign.preset(name).describe()["feature"]
    if "whisper" in family:
        return ("whisper-hf-tiny" if name == "musetalk-v15" else "whisper-openai-tiny"), True
    if "deepspeech" in family:
        return "deepspeech", False
    return None, False


def cases(folder: Path = REAL) -> list[dict]:
    """Every case: ``{"id", "file", "preset" | "feature", "fps", "method", "model", "crop"}``."""
    import avalign

    files = media_files(folder)
    video = {f.name: avalign.probe(f).video for f in files}
    out = []

    def rates(f, fixed):
        if fixed:
            return [None]
        own = [None] if video[f.name] is not None else []
        return [*RATES, *own]

    for f in files:
        for name in avalign.presets():
            key, neural = preset_model(name)
            for fps in rates(f, avalign.preset(name).describe()["fps"] is not None):
                out.append(dict(id=f"preset:{name}/{f.name}@{_tag(fps)}", file=f.name, preset=name, fps=fps,
                                method=None, model=key, crop=neural))
        for name, key in FEATURES.items():
            for fps in rates(f, False):
                for method in (None, "linear"):
                    out.append(dict(id=f"feature:{name}/{f.name}@{_tag(fps)}/{method or 'default'}", file=f.name,
                                    feature=name, fps=fps, method=method, model=key, crop=name in NEURAL))
    return out


def _tag(fps) -> str:
    return "own" if fps is None else fps.replace("/", "_")


def digest(values) -> dict:
    """The record of one output array (no values, only their fingerprint)."""
    a = np.ascontiguousarray(values)
    x = a.astype(np.float64)
    return {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
            "sum": float(x.sum()), "abs_sum": float(np.abs(x).sum())}


class Runner:
    """Runs cases with the models built once and audio decoded once per file."""

    def __init__(self, folder: Path = REAL):
        import avalign

        self.folder = Path(folder)
        self._tmp = tempfile.TemporaryDirectory(prefix="avalign_regression_")
        root = Path(self._tmp.name)
        os.environ["AVALIGN_CACHE"] = str(root / "cache")  # converted DeepSpeech weights
        self.models = models(root)
        self._crops: dict = {}
        self._info: dict = {}
        self._feats: dict = {}
        self._avalign = avalign

    def crop(self, name: str):
        """The first :data:`CROP_SECONDS` of file ``name`` at 16 kHz (soxr, channel mean)."""
        if name not in self._crops:
            a = self._avalign.load_audio(self.folder / name, 16000)
            self._crops[name] = self._avalign.Audio.from_array(a.samples[:int(CROP_SECONDS * 16000)], 16000)
        return self._crops[name]

    def features(self, name: str, feature: str, model: str):
        """``feature`` of :meth:`crop` ``(name)`` (the crop starts at 0: it is on the video clock as it is)."""
        key = (name, feature)
        if key not in self._feats:
            from avalign import features

            self._feats = {key: features.create(feature, model=model).extract(self.crop(name))}
        return self._feats[key]

    def run(self, case: dict) -> dict:
        """The record of ``case`` (or of the InputError it raises)."""
        av = self._avalign
        path = self.folder / case["file"]
        fps = case["fps"]
        kw = {} if case["method"] is None else {"method": case["method"]}
        if case["model"] is not None:
            kw["model"] = self.models[case["model"]]
        which = {"preset": case["preset"]} if "preset" in case else {"feature": case["feature"]}
        try:
            if case["crop"]:
                source = self.crop(case["file"])
                fixed = "preset" in case and av.preset(case["preset"]).fixed_fps is not None
                if fps is None and not fixed:  # a fixed-rate preset runs at its rate whatever the video's
                    if path not in self._info:
                        self._info[path] = av.probe(path).video
                    v = self._info[path]
                    fps = None if v is None else str(v.fps)  # the video's own rate (the crop has no video)
            else:
                source = path
            if case["crop"] and "feature" in case:  # one forward pass per file, aligned at every rate
                kw["features"] = self.features(case["file"], case["feature"], kw["model"])
            out = av.extract(source, fps=fps, **which, **kw)
        except av.InputError as exc:
            # the media folder differs between machines; the message is recorded relative to it
            message = str(exc).replace(str(self.folder), "<real>")
            return {"error": type(exc).__name__, "message": message}
        return {**digest(out.values), "rows": out.meta["grid"]["num_frames"]}

    def close(self):
        self._tmp.cleanup()


def select(all_cases: list[dict], only: str | None) -> list[dict]:
    """Cases whose id matches the glob ``only`` (a plain string matches as a substring)."""
    if not only:
        return all_cases
    pat = only if any(c in only for c in "*?[") else f"*{only}*"
    return [c for c in all_cases if fnmatch.fnmatchcase(c["id"], pat)]


def compute(only: str | None = None, folder: Path = REAL, *, log=None, ids=None, all_cases=None) -> dict:
    """``id -> record`` of every selected case (only those in ``ids`` when given: the baseline's, so that
    presets added after it, which their own tests cover, are not run). ``all_cases``: :func:`cases` of
    ``folder`` when the caller has built it already (it probes every media file)."""
    runner = Runner(folder)
    try:
        out = {}
        for c in select(cases(folder) if all_cases is None else all_cases, only):
            if ids is not None and c["id"] not in ids:
                continue
            t = time.perf_counter()
            out[c["id"]] = runner.run(c)
            if log:
                log(f"{time.perf_counter() - t:7.3f} s  {c['id']}")
        return out
    finally:
        runner.close()


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= SUM_RTOL * max(abs(a), abs(b), 1e-30)


def _model_close(new: dict, old: dict) -> bool:
    """Same shape, dtype and rows, and sums within :data:`MODEL_RTOL` of ``abs_sum``."""
    if any(new.get(k) != old.get(k) for k in ("shape", "dtype", "rows")) or "abs_sum" not in new:
        return False
    scale = max(abs(old["abs_sum"]), 1e-30)
    return (abs(new["abs_sum"] - old["abs_sum"]) <= MODEL_RTOL * scale
            and abs(new["sum"] - old["sum"]) <= MODEL_RTOL * scale)


def compare(expected: dict, got: dict, *, complete: bool = False, tolerant=frozenset()) -> list[str]:
    """One line per case of ``got`` that differs from ``expected`` (or is missing there), sorted by id;
    with ``complete``, also one per case of ``expected`` that ``got`` lacks. Cases in ``tolerant``
    (the ids of the cases computed by a model, ``c["model"]``) pass when their sums agree to :data:`MODEL_RTOL`;
    all others must be bit-identical."""
    lines = [f"{cid}: in the baseline but no longer a case" for cid in sorted(set(expected) - set(got)) if complete]
    for cid in sorted(got):
        new, old = got[cid], expected.get(cid)
        if old is None:
            lines.append(f"{cid}: not in the baseline")
        elif new != old and cid in tolerant and _model_close(new, old):
            continue
        elif new != old:
            if "sha256" in new and "sha256" in old and new["shape"] == old["shape"] and new["dtype"] == old["dtype"]:
                sums = _close(new["sum"], old["sum"]) and _close(new["abs_sum"], old["abs_sum"])
                hint = ("sums agree to 1e-6 relative (nondeterminism?)" if sums else
                        f"sums differ: sum {old['sum']!r} -> {new['sum']!r}, abs_sum {old['abs_sum']!r} -> "
                        f"{new['abs_sum']!r}")
                lines.append(f"{cid}: hash differs; {hint}")
            else:
                diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                        if old.get(k) != new.get(k) and k not in ("sha256", "sum", "abs_sum")}
                lines.append(f"{cid}: {diff or 'hash differs'}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="JSON", help="write the baseline of the selected cases")
    mode.add_argument("--check", metavar="JSON", help="compare the selected cases with a baseline")
    ap.add_argument("--only", metavar="PATTERN", help="glob (or substring) on case ids, e.g. 'preset:wav2lip/*'")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each case's time")
    args = ap.parse_args(argv)
    if not REAL.is_dir():
        print(f"regression: real media folder {REAL} is missing (set AVALIGN_REAL_DATA)", file=sys.stderr)
        return 2
    log = (lambda s: print(s, file=sys.stderr)) if args.verbose else None
    t = time.perf_counter()
    expected = json.loads(Path(args.check).read_text())["cases"] if args.check else None
    all_cases = cases()
    got = compute(args.only, log=log, ids=None if expected is None else set(expected), all_cases=all_cases)
    took = time.perf_counter() - t
    if args.write:
        path = Path(args.write)
        old = json.loads(path.read_text()) if args.only and path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = dict(sorted({**old.get("cases", {}), **got}.items()))
        path.write_text(json.dumps({"crop_seconds": CROP_SECONDS, "cases": merged}, indent=0) + "\n")
        print(f"wrote {len(got)} cases to {path} in {took:.1f} s")
        return 0
    tolerant = {c["id"] for c in all_cases if c["model"]}
    lines = compare(expected, got, complete=not args.only, tolerant=tolerant)
    for line in lines:
        print(line)
    new = [c["id"] for c in select(all_cases, args.only) if c["id"] not in expected]
    if new:
        print(f"{len(new)} cases are not in the baseline (added since; not run): "
              f"{', '.join(sorted({c.split('/')[0] for c in new}))}")
    print(f"{len(got) - len(lines)} of {len(got)} cases identical (model cases: sums to {MODEL_RTOL:g}) "
          f"({took:.1f} s)")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
