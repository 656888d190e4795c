"""avalign.sync: the onset method on generated flash + click clips, the SyncNet method against
syncnet_python's evaluate loop (restated here) on a real face video, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import avalign
from avalign import synth
from avalign.cli import main
from avalign.sync import frames as sync_frames

FLASHES = (20, 45, 71)


def _vfr_times(n: int, seed: int = 0) -> np.ndarray:
    steps = np.random.default_rng(seed).choice([1 / 30, 1 / 20, 1 / 25, 1 / 15], size=n - 1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _clip(path, rate: str, click_shift: float, **kw) -> dict:
    if rate == "vfr":
        return synth.write_clip(path, fps=25, num_frames=90, bright_frames=FLASHES, click_shift=click_shift,
                                frame_times=_vfr_times(90), **kw)
    return synth.write_clip(path, fps=rate, num_frames=90, bright_frames=FLASHES, click_shift=click_shift, **kw)


@pytest.mark.parametrize("rate", ["25", "30000/1001", "24000/1001", "vfr"])
@pytest.mark.parametrize("shift_ms", [-200, -73, 0, 51, 200])
def test_onset_measures_a_known_offset(tmp_path, rate, shift_ms):
    """Clicks shift_ms after their flashes (AAC): the measured correction is -shift_ms, within 5 ms."""
    clip = tmp_path / "clip.mp4"
    _clip(clip, rate, shift_ms / 1000)
    if rate == "vfr":
        assert avalign.probe(clip).video.vfr
    r = avalign.sync(clip, method="onset")
    assert abs(r.offset_ms - (-shift_ms)) <= 5, (r.offset_ms, shift_ms)
    assert r.offset_frames == pytest.approx(r.offset_ms * float(r.fps) / 1000)
    assert r.confidence > 10
    # the curve peaks at the reported offset, over the +-15 frame search
    scores = np.asarray(r.curves["score"])
    assert r.curves["offsets_ms"][int(np.argmax(scores))] == r.offset_ms
    assert r.curves["offsets_ms"][-1] == round(15 * 1000 / float(r.fps))


def test_onset_confidence_is_low_without_events(tmp_path):
    """No flash in the picture: the peak-to-sidelobe ratio of a random match is small."""
    clip = tmp_path / "clip.mp4"
    synth.write_clip(clip, fps=25, num_frames=90, bright_frames=(),
                     audio=synth.click_track(57600, [16000, 30000], length=32))
    assert avalign.sync(clip).confidence < 5


@pytest.mark.parametrize("rate", ["30000/1001", "vfr"])
def test_apply_puts_the_click_on_the_flash(tmp_path, rate):
    """sync --apply extracts with the measured offset: the loudest mel rows are the flash frames."""
    clip = tmp_path / "clip.mp4"
    _clip(clip, rate, -0.16)
    out = tmp_path / "feats.npy"
    assert main(["sync", str(clip), "--apply", "-o", str(out), "--json"]) == 0
    values = np.load(out)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["offsets"]["offset_ms"] == meta["offsets"]["sync"]["offset_ms"]
    assert abs(meta["offsets"]["offset_ms"] - 160) <= 5
    assert values.shape[0] == avalign.probe(clip).video.num_frames
    # the measured offset puts each click back at the instant its flash appears: the start-instant rule
    # (method="linear") then finds it on the flash frame (the default rule samples each frame's middle, and a
    # click on a frame boundary sits half a frame from both neighbours)
    fixed = avalign.extract(clip, feature="mel", method="linear", offset_ms=meta["offsets"]["offset_ms"]).values
    energy = np.exp(fixed).sum(axis=1)
    assert sorted(int(i) for i in np.argsort(energy)[-3:]) == list(FLASHES)
    # without the correction the clicks fall 4-5 frames early
    plain = avalign.extract(clip, feature="mel", method="linear").values
    assert sorted(int(i) for i in np.argsort(np.exp(plain).sum(axis=1))[-3:]) != list(FLASHES)


def test_onset_crop_watches_a_region(tmp_path):
    """--crop: only the cropped region's changes count (here the whole 64x64 frame flashes, so a crop still finds it)."""
    clip = tmp_path / "clip.mp4"
    _clip(clip, "25", 0.08)
    r = avalign.sync(clip, crop="8,8,32,32")
    assert abs(r.offset_ms + 80) <= 5


# ---------------------------------------------------------------------------
# SyncNet
# ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _reference_network():
    """syncnet_python's SyncNetModel.S, written out layer by layer (the test's own restatement)."""
    nn = torch.nn

    def block2(i, o, k, p):
        return [nn.Conv2d(i, o, kernel_size=k, stride=1, padding=p), nn.BatchNorm2d(o), nn.ReLU()]

    def block3(i, o, k, s, p):
        return [nn.Conv3d(i, o, kernel_size=k, stride=s, padding=p), nn.BatchNorm3d(o), nn.ReLU()]

    class S(nn.Module):
        def __init__(self):
            super().__init__()
            self.netcnnaud = nn.Sequential(
                *block2(1, 64, 3, 1), nn.MaxPool2d(1, 1), *block2(64, 192, 3, 1), nn.MaxPool2d(3, (1, 2)),
                *block2(192, 384, 3, 1), *block2(384, 256, 3, 1), *block2(256, 256, 3, 1), nn.MaxPool2d(3, 2),
                *block2(256, 512, (5, 4), 0))
            self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 1024))
            self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 1024))
            self.netcnnlip = nn.Sequential(
                *block3(3, 96, (5, 7, 7), (1, 2, 2), 0), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
                *block3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
                *block3(256, 256, (1, 3, 3), 1, (0, 1, 1)), *block3(256, 256, (1, 3, 3), 1, (0, 1, 1)),
                *block3(256, 256, (1, 3, 3), 1, (0, 1, 1)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
                *block3(256, 512, (1, 6, 6), 1, 0))

    torch.manual_seed(0)
    net = S()
    for m in net.modules():  # non-trivial running statistics, so eval-mode batch norm matters
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    net = _reference_network()
    path = tmp_path_factory.mktemp("w") / "syncnet_v2.model"
    torch.save(net.state_dict(), path)
    return net, path


def _evaluate_restated(net, images, audio, *, vshift, batch_size=20):
    """SyncNetInstance.evaluate's steps after ffmpeg, restated: frames (T, H, W, 3) BGR, int16 audio at 16 kHz."""
    import python_speech_features
    import scipy.signal

    imtv = torch.from_numpy(np.transpose(images[None].astype(float), (0, 4, 1, 2, 3))).float()  # 1,3,T,H,W
    mfcc = python_speech_features.mfcc(audio, 16000).T
    cct = torch.from_numpy(mfcc[None, None].astype(float)).float()
    last = min(len(images), len(audio) // 640) - 5
    im_feat, cc_feat = [], []
    with torch.no_grad():
        for i in range(0, last, batch_size):
            vs = range(i, min(last, i + batch_size))
            im_feat.append(net.forward_lip(torch.cat([imtv[:, :, v:v + 5] for v in vs], 0)))
            cc_feat.append(net.forward_aud(torch.cat([cct[:, :, :, 4 * v:4 * v + 20] for v in vs], 0)))
    im_feat, cc_feat = torch.cat(im_feat), torch.cat(cc_feat)
    padded = torch.nn.functional.pad(cc_feat, (0, 0, vshift, vshift))
    dists = [torch.nn.functional.pairwise_distance(im_feat[[i]].repeat(2 * vshift + 1, 1),
                                                   padded[i:i + 2 * vshift + 1]) for i in range(len(im_feat))]
    mdist = torch.mean(torch.stack(dists, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    fconf = torch.median(mdist).numpy() - np.stack([d[minidx].numpy() for d in dists])
    return (int(vshift - minidx), float(conf), float(minval), np.array([d.numpy() for d in dists]),
            scipy.signal.medfilt(fconf, kernel_size=9), cct[0, 0].numpy())


def _forward(net):
    net.forward_aud = lambda x: net.netfcaud(net.netcnnaud(x).flatten(1))
    net.forward_lip = lambda x: net.netfclip(net.netcnnlip(x).flatten(1))
    return net


def test_syncnet_equals_evaluate_at_25_fps(real, weights):
    """Random weights saved as a state dict: offset, conf, LSE-D, distances and the frame curve equal evaluate's."""
    net, path = weights
    video = real / "synctalk_short_demo.mp4"  # 25 fps, 512x512 face video, audio starts with the video
    info = avalign.probe(video)
    assert info.video.fps == 25 and info.audio_offset == 0
    seconds, vshift = 0.72, 3
    r = avalign.sync(video, method="syncnet", model=path, vshift=vshift, seconds=seconds)
    frames = [img for t, img in sync_frames.iter_frames(video, size=224, pix_fmt="bgr24") if t < seconds]
    audio = avalign.load_audio(video, 16000, scale="int16").samples[: int(seconds * 16000)].astype(np.int16)
    offset, conf, minval, dists, fconf, mfcc = _evaluate_restated(_forward(net), np.stack(frames), audio,
                                                                  vshift=vshift)
    assert r.num_windows == len(dists) == 13
    assert r.offset_frames == offset and r.offset_ms == offset * 40
    np.testing.assert_allclose(r.curves["dists"], dists, rtol=1e-6, atol=1e-6)
    assert r.lse_c == pytest.approx(conf, abs=1e-5) and r.confidence == r.lse_c
    assert r.lse_d == pytest.approx(minval, abs=1e-5)
    np.testing.assert_allclose(r.curves["frame_confidence"], fconf, atol=1e-5)
    # the audio windows are the syncnet preset's (python_speech_features on int16)
    cct = avalign.extract(video, "syncnet").values
    np.testing.assert_allclose(cct[:3], np.stack([mfcc[:, 4 * v:4 * v + 20] for v in range(3)]), rtol=1e-5, atol=1e-4)


def _toy_net():
    """A stand-in for trained weights: lip = brightness of the 5 frames, audio = c0 (log energy) of
    MFCC frames 0, 4, .., 16 (25 ms from each frame's instant), both scaled to [0, 1]; they agree
    only where flashes and clicks coincide."""

    def unit(x):
        x = x - x.min(dim=1, keepdim=True).values
        return x / (x.max(dim=1, keepdim=True).values + 1e-3)

    class Toy:
        def forward_lip(self, x):  # (B, 3, 5, H, W)
            return unit(x.mean(dim=(1, 3, 4)))

        def forward_aud(self, x):  # (B, 1, 13, 20)
            return unit(x[:, 0, 0, 0::4])

    return Toy()


def test_syncnet_offset_in_ms_is_the_same_at_30000_1001(tmp_path):
    """The same flashes and clicks (clicks 120 ms late) at 25 and 30000/1001 fps: one offset in ms, within a frame."""
    times = (0.32, 0.76, 1.08, 1.6, 2.0)
    found = {}
    for rate in ("25", "30000/1001"):
        fps = float(avalign.parse_fps(rate))
        clip = tmp_path / f"c{fps:.0f}.mp4"
        synth.write_clip(clip, fps=rate, num_frames=int(2.6 * fps), bright_frames=[round(t * fps) for t in times],
                         click_shift=0.12)
        found[rate] = avalign.sync(clip, method="syncnet", net=_toy_net(), vshift=6)
    assert found["25"].offset_frames == -3 and found["25"].offset_ms == -120
    assert abs(found["30000/1001"].offset_ms - found["25"].offset_ms) <= 1001 / 30
    assert found["30000/1001"].offset_frames in (-3, -4)


def test_syncnet_windows_follow_timestamps():
    """At 25 fps: evaluate's windows; at 30000/1001: frames nearest t + j/25, MFCC at round(100 t)."""
    from avalign.sync import syncnet_windows

    idx, start = syncnet_windows(np.arange(50) / 25, fps=avalign.parse_fps(25), vfr=False, num_samples=50 * 640)
    assert idx.shape == (45, 5) and (idx == np.arange(45)[:, None] + np.arange(5)).all()
    assert (start == 4 * np.arange(45)).all()
    idx, start = syncnet_windows(np.arange(60) * 1001 / 30000, fps=avalign.parse_fps("30000/1001"), vfr=False,
                                 num_samples=60 * 534)
    t = np.arange(idx.shape[0]) * 1001 / 30000
    err = idx * 1001 / 30000 - (t[:, None] + np.arange(5) / 25)
    assert np.abs(err).max() <= 1001 / 60000 + 1e-9
    assert (start == np.floor(100 * t + 0.5)).all()


# ---------------------------------------------------------------------------
# bad input: one line, exit 2
# ---------------------------------------------------------------------------


def test_bad_input_exits_2(tmp_path, capsys, weights):
    wav = tmp_path / "a.wav"
    synth.write_wav(wav, np.zeros(16000, np.float32))
    short = tmp_path / "short.mp4"
    synth.write_clip(short, fps=25, num_frames=12, bright_frames=(5,))
    other = tmp_path / "other.model"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    _, good = weights
    cases = [
        (["sync", str(wav)], "no video stream"),
        (["sync", str(short), "--method", "syncnet", "--model", str(good)], "too short for SyncNet"),
        (["sync", str(short), "--vshift", "15"], "too short to sync"),
        (["sync", str(short), "--method", "syncnet", "--model", str(other)], "not syncnet_python's SyncNet weights"),
        (["sync", str(short), "--method", "syncnet"], "needs the network's weights"),
        (["sync", str(short), "--crop", "0,0,100,10"], "reaches outside"),
        (["sync", str(short), "-o", str(tmp_path / "x.npy")], "go with --apply"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.npy").exists()
