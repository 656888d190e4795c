"""Batch-loop streaming presets (LiveTalking, Ditto) against their systems' loops restated here, on real speech.

The references below restate the systems' code plainly: LiveTalking's
``BaseASR`` (warm-up, queue of 20 ms packets, ``run_step`` with its buffer and
``output_queue``) with ``MelASR`` / ``HubertASR``, and Ditto's online branch of
``inference.py`` with ``Wav2FeatHubert.__call__``. They run on whole audio;
the streams get the same audio in irregular packets.
"""

from __future__ import annotations

import math
from fractions import Fraction
from queue import Empty, Queue

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import avalign
from avalign.errors import InputError

import ssl_models
from helpers.streams import feed

RNG = np.random.default_rng(11)


# -- LiveTalking, restated -----------------------------------------------------------


class RefBaseASR:
    """lipku/LiveTalking ``avatars/audio_features/base_asr.py`` (``fps=25``, ``-l 10 -r 10``, ``batch_size 16``)."""

    def __init__(self, l=10, r=10, batch_size=16, fps=25):
        self.fps, self.chunk, self.batch_size = fps, 16000 // (fps * 2), batch_size
        self.stride_left_size, self.stride_right_size = l, r
        self.queue, self.output_queue, self.feat_queue = Queue(), Queue(), Queue()
        self.frames = []

    def put_audio_frame(self, chunk):
        self.queue.put(chunk)

    def get_audio_frame(self):
        try:
            return self.queue.get(block=False), 0
        except Empty:
            return np.zeros(self.chunk, dtype=np.float32), 1

    def take_batch(self):
        """``run_step``'s first lines: 2 * batch_size packets into the buffer and the output; False while the
        buffer holds no more than the context."""
        for _ in range(self.batch_size * 2):
            frame, kind = self.get_audio_frame()
            self.frames.append(frame)
            self.output_queue.put((frame, kind))
        return len(self.frames) > self.stride_left_size + self.stride_right_size

    def warm_up(self):
        for _ in range(self.stride_left_size + self.stride_right_size):
            frame, kind = self.get_audio_frame()
            self.frames.append(frame)
            self.output_queue.put((frame, kind))
        for _ in range(self.stride_left_size):
            self.output_queue.get()


class RefMelASR(RefBaseASR):
    def __init__(self, melspectrogram, **kw):
        super().__init__(**kw)
        self.melspectrogram = melspectrogram

    def run_step(self):
        if not self.take_batch():
            return
        inputs = np.concatenate(self.frames)
        mel = self.melspectrogram(inputs)
        left = max(0, self.stride_left_size * 80 / 50)
        mel_idx_multiplier = 80. / self.fps
        mel_step_size = 16
        i = 0
        mel_chunks = []
        while i < (len(self.frames) - self.stride_left_size - self.stride_right_size) / 2:
            start_idx = int(left + i * mel_idx_multiplier)
            if start_idx + mel_step_size > len(mel[0]):
                mel_chunks.append(mel[:, len(mel[0]) - mel_step_size:])
            else:
                mel_chunks.append(mel[:, start_idx: start_idx + mel_step_size])
            i += 1
        self.feat_queue.put(mel_chunks)
        self.frames = self.frames[-(self.stride_left_size + self.stride_right_size):]


class RefHubertASR(RefBaseASR):
    def __init__(self, get_hubert, audio_feat_length=(8, 8), **kw):
        super().__init__(**kw)
        self.get_hubert, self.audio_feat_length = get_hubert, audio_feat_length

    def _get_sliced_feature(self, feature_array, vid_idx, audio_feat_win, feature_idx_multiplier=1.0):
        length = feature_array.shape[0]
        selected = []
        center_idx = int(vid_idx * feature_idx_multiplier)
        left = int(center_idx - audio_feat_win[0] * feature_idx_multiplier)
        right = int(center_idx + audio_feat_win[1] * feature_idx_multiplier)
        for idx in range(left, right):
            idx = min(length - 1, max(0, idx))
            selected.append(feature_array[idx])
        return np.asarray(selected)

    def run_step(self):
        if not self.take_batch():
            return
        feats = self.get_hubert(np.concatenate(self.frames))
        self.feat_queue.put([self._get_sliced_feature(feats, i + self.stride_left_size / 2, self.audio_feat_length, 2)
                             for i in range(self.batch_size)])
        self.frames = self.frames[-(self.stride_left_size + self.stride_right_size):]


class RefWhisperASR(RefHubertASR):
    """``WhisperASR`` (MuseTalk's path): ``audio2feat`` on the buffer, windows ``[2, 3]`` reshaped to ``(-1, 384)``."""

    def run_step(self):
        if not self.take_batch():
            return
        feats = self.get_hubert(np.concatenate(self.frames))  # here: audio2feat, (1500, L + 1, 384)
        self.feat_queue.put([self._get_sliced_feature(feats, i + self.stride_left_size / 2, [2, 3], 2).reshape(-1, 384)
                             for i in range(self.batch_size)])
        self.frames = self.frames[-(self.stride_left_size + self.stride_right_size):]


def livetalking_rows(asr, x):
    """Rows of the video frames that show the audio ``x``: run the ASR until they exist, drop the warm-up frames.

    The system pairs video frame ``F`` with the ``output_queue`` packets ``2F, 2F + 1``; the warm-up left
    ``r / 2`` frames of silence before the audio, so the audio's frame ``j`` is the system's frame ``j + r / 2``.
    """
    asr.warm_up()
    chunk = asr.chunk
    x = np.concatenate([x, np.zeros(-len(x) % chunk, np.float32)])  # the TTS's last partial packet, completed
    for a in range(0, len(x), chunk):
        asr.put_audio_frame(x[a:a + chunk])
    frames, feats = [], []
    rows = -(-len(x) // (2 * chunk))
    lead = asr.stride_right_size // 2
    while len(feats) < rows + lead:
        asr.run_step()
        while not asr.feat_queue.empty():
            feats.extend(asr.feat_queue.get())
    while not asr.output_queue.empty():
        frames.append(asr.output_queue.get())
    # the audio comes out of output_queue right after the r / 2 silent warm-up frames
    assert all(k == 1 for _, k in frames[:2 * lead]) and frames[2 * lead][1] == 0
    return np.asarray(feats[lead:lead + rows])


def speech(seconds, offset):
    return ssl_models.speech(seconds, offset=offset)


@pytest.fixture(scope="module")
def ref_mel():
    pytest.importorskip("librosa")
    from helpers.system_refs import ref_melspectrogram

    return lambda wav: ref_melspectrogram(wav, pad_mode="constant")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 16000 * 2), sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=5),
       offset=st.floats(0, 50))
def test_livetalking_wav2lip_equals_its_loop_on_real_speech(ref_mel, n, sizes, offset):
    x = speech(n / 16000, offset)[:n]
    s = avalign.stream("livetalking-wav2lip")
    got = feed(s, x, sizes)
    want = livetalking_rows(RefMelASR(ref_mel), x)
    assert got.shape == want.shape == (math.ceil(len(x) / 640), 80, 16)
    assert np.abs(got - want).max() <= 1e-4
    # the same loop whatever the packets: bit-identical to one push of everything
    s1 = avalign.stream("livetalking-wav2lip")
    assert np.array_equal(got, np.concatenate([s1.push(x), s1.flush()]))


@pytest.mark.parametrize("l", [10, 11])  # noqa: E741 - an odd l puts the centre at 2i + l, not 2i + l - 1
def test_livetalking_hubert_equals_its_loop_on_real_speech(l):  # noqa: E741
    pytest.importorskip("transformers")
    from test_presets_ssl import _get_hubert_from_16k_speech, hf

    d = str(ssl_models.model_dirs()["hubert-large-ls960-ft"])
    fe, model = hf("hubert-large-ls960-ft")
    x = speech(1.0, 12.0)  # 25 rows: two steps of 16 frames (the first gives 11)
    s = avalign.stream("livetalking-hubert", model=d, l=l)
    got = feed(s, x, [320, 7, 5000])
    want = livetalking_rows(RefHubertASR(lambda w: _get_hubert_from_16k_speech(w, fe, model), l=l), x)
    assert got.shape == want.shape == (math.ceil(len(x) / 640), 32, 1024)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)
    assert s.lookahead == 12800


def test_livetalking_whisper_equals_its_loop_on_real_speech(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch
    from avalign.features import whisper as W

    d = W.save_random_model(tmp_path / "whisper-tiny", size="tiny", encoder_layers=1, seed=0)
    fe = transformers.WhisperFeatureExtractor()
    enc = transformers.WhisperModel.from_pretrained(d).encoder.eval()

    def audio2feat(wav):  # LiveTalking avatars/musetalk/whisper/audio2feature.py (float32 on CPU)
        feats = fe(wav, return_tensors="pt", sampling_rate=16000).input_features
        with torch.no_grad():
            hs = enc(feats, output_hidden_states=True).hidden_states
        return torch.stack(hs, dim=2).squeeze(0).numpy()

    x = speech(0.4, 20.0)  # 10 rows, from the first step (the step boundary is checked with mel and HuBERT)
    s = avalign.stream("livetalking-whisper", model=str(d))
    got = feed(s, x, [320, 4000])
    want = livetalking_rows(RefWhisperASR(audio2feat), x)
    assert got.shape == want.shape == (10, 10 * 2, 384)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)
    assert s.lookahead == 12800



class _Indices:
    """A stand-in extractor whose frame ``t`` holds ``t``: the rows show which frames a step selects."""

    def normalise(self, x):
        return x

    def infer(self, xs):
        return [np.arange(len(xs[0]) // 320 - 1, dtype=np.float32)[:, None]]


@pytest.mark.parametrize("l,batch", [(11, 16), (10, 16), (7, 5), (0, 3)])  # noqa: E741
def test_livetalking_selection_centres_on_its_formula(l, batch):  # noqa: E741
    """LiveTalking's ``_get_sliced_feature(feats, i + l / 2, (8, 8), 2)``: centre ``int((i + l / 2) * 2)``,
    frames ``[centre - 16, centre + 16)`` clamped; for odd ``l`` too."""
    from avalign.streaming.loops import LiveTalkingHubert

    loop = LiveTalkingHubert(_Indices(), left=l, batch=batch)
    got = loop.call(np.zeros(loop.length, np.float32))[..., 0]
    n = loop.length // 320 - 1
    want = [[min(max(int((i + l / 2) * 2) + j, 0), n - 1) for j in range(-16, 16)] for i in range(batch)]
    assert got.tolist() == want

# -- Ditto, restated ------------------------------------------------------------------


def ditto_online_reference(audio, encode, chunksize=(3, 5, 2)):
    """antgroup/ditto-talkinghead ``inference.py`` (online branch) feeding ``Wav2FeatHubert.__call__``."""
    num_f = math.ceil(len(audio) / 16000 * 25)
    audio = np.concatenate([np.zeros((chunksize[0] * 640,), dtype=np.float32), audio], 0)
    split_len = int(sum(chunksize) * 0.04 * 16000) + 80
    feats = []
    for i in range(0, len(audio), chunksize[1] * 640):
        audio_chunk = audio[i:i + split_len]
        if len(audio_chunk) < split_len:
            audio_chunk = np.pad(audio_chunk, (0, split_len - len(audio_chunk)), mode="constant")
        valid_feat_s = - sum(chunksize[1:]) * 2
        valid_feat_e = - chunksize[2] * 2
        encoding_chunk = encode(audio_chunk)
        valid_encoding = encoding_chunk[valid_feat_s:valid_feat_e]
        feats.append(valid_encoding.reshape(chunksize[1], 2, -1).mean(1))
    return np.concatenate(feats, 0)[:num_f]  # the SDK renders N_d = num_f frames


def test_ditto_online_equals_its_loop_on_real_speech():
    pytest.importorskip("transformers")
    import torch
    from test_presets_ssl import hf

    d = str(ssl_models.model_dirs()["hubert-large-ls960-ft"])
    _, model = hf("hubert-large-ls960-ft")

    def encode(chunk):  # the streaming HuBERT takes the raw samples (input_values) of one chunk
        with torch.no_grad():
            return model(torch.from_numpy(chunk[None])).last_hidden_state[0].numpy()

    n = 4480  # two chunks; Ditto's float num_f, ceil(4480 / 16000 * 25), gives 8 rows for 7 frames of audio
    x = speech(n / 16000, 30.0)
    s = avalign.stream("ditto-online", model=d)
    got = feed(s, x, [1, 640, 3333])
    want = ditto_online_reference(x, encode)
    assert got.shape == want.shape == (8, 1024)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert s.lookahead == 3920 and s.latency == pytest.approx(0.285)



@pytest.mark.parametrize("chunksize", [(3, 5, 2), (2, 4, 0), (0, 1, 3)])
def test_ditto_online_is_the_offline_chunk_rule(chunksize):
    """The online loop holds the offline step's chunks: ``split`` samples, ``num_f`` rows, and each chunk's
    states ``[-2 (now + future), -2 future)`` (to the end for ``future = 0``) averaged in pairs."""
    from avalign.streaming.loops import DittoOnline
    from avalign.systems.steps import ChunkPairs

    past, now, future = chunksize
    loop, step = DittoOnline(None, chunksize=chunksize), ChunkPairs(context=chunksize)
    assert loop.length == step.split == int(sum(chunksize) * 0.04 * 16000) + 80
    assert [loop.count(n) for n in (1, 4480, 16000)] == [step.frames(n, None) for n in (1, 4480, 16000)] == [1, 8, 25]
    states = RNG.standard_normal((2 * sum(chunksize) + 3, 4)).astype(np.float32)
    tail = states[len(states) - 2 * (now + future):len(states) - 2 * future]
    np.testing.assert_array_equal(step.pairs(states), (tail[0::2] + tail[1::2]) / 2)

# -- release points, latency, bad input --------------------------------------------------


@pytest.mark.parametrize("kw", [dict(preset="livetalking-wav2lip"), dict(preset="sadtalker"),
                                dict(preset="synctalk-mel"), dict(preset="wav2lip", fps="30000/1001"),
                                dict(feature="mel", fps="30000/1001"), dict(feature="mfcc", fps=25, method="nearest")])
def test_release_points_of_presets_and_features(kw):
    """Row i comes with the first push whose audio reaches the end of frame i plus the look-ahead; each row is
    final then (its need is inside the look-ahead) and the look-ahead is tight."""
    s = avalign.stream(**kw)
    x = (RNG.standard_normal(16000 * 3) * 0.1).astype(np.float32)
    a = 0
    for k, size in enumerate([1, 319, 320, 4001, 2, 640, 77] * 40):
        b = min(len(x), a + size)
        before = s.frames_emitted
        s.push(x[a:b])
        for i in range(before, s.frames_emitted):
            due = math.ceil(Fraction(i + 1) * s.sample_rate / s.fps) + s.lookahead
            assert a < due <= b
        assert math.ceil(Fraction(s.frames_emitted + 1) * s.sample_rate / s.fps) + s.lookahead > b
        a = b
        if a == len(x):
            break
    i = np.arange(3000)
    assert np.all(s.need(i) <= s.release(i)) and np.any(s.need(i) == s.release(i))


def test_stated_latencies_of_the_loops():
    s = avalign.stream("livetalking-wav2lip")
    # the first frame of a step waits for the step's 32 packets and 10 packets of right context
    assert s.lookahead == 12800 and s.latency == pytest.approx(0.84)
    # in general 640 * (batch + right / 2 - 1): the batch, and the right context played as warm-up silence
    assert avalign.stream("livetalking-wav2lip", batch_size=4, l=6, r=2).lookahead == 640 * (4 + 1 - 1)
    # Ditto: the chunk's window ends (now + future) frames + 80 samples after the start of its first row
    window = int((3 + 3 + 1) * 0.04 * 16000) + 80
    assert avalign.stream("ditto-online", model="unused", chunksize=(3, 3, 1)).lookahead == window - 3 * 640 - 640


def test_loop_bad_input_keeps_earlier_rows():
    x = speech(2.0, 5.0)
    s = avalign.stream("livetalking-wav2lip")
    first = s.push(x[:20000])
    for bad in (np.array([np.nan], np.float32), np.zeros(4, np.int64), "pcm"):
        with pytest.raises(InputError):
            s.push(bad)
    rows = np.concatenate([first, s.push(x[20000:]), s.flush()])
    s1 = avalign.stream("livetalking-wav2lip")
    assert np.array_equal(rows, np.concatenate([s1.push(x), s1.flush()]))
    with pytest.raises(InputError, match="after flush"):
        s.push(x[:10])
    with pytest.raises(InputError, match="25 fps"):
        avalign.stream("livetalking-wav2lip", fps=30)
    with pytest.raises(InputError, match="HuBERT model"):
        avalign.stream("ditto-online")
    with pytest.raises(InputError, match="chunksize"):
        avalign.stream("ditto-online", model="x", chunksize=(3, 0, 2))


def test_cli_refuses_rates_with_exit_2(tmp_path, capsys):
    from avalign.cli import main

    pcm = tmp_path / "in.pcm"
    np.round(speech(1.0, 0.0) * 20000).astype("<i2").tofile(pcm)
    out = tmp_path / "rows.npys"
    for args in (["--preset", "livetalking-wav2lip", "--fps", "30"], ["--preset", "syncnet", "--fps", "30000/1001"],
                 ["--preset", "wav2lip", "--fps", "25", "--rate", "10000000"], ["--preset", "ditto-online"]):
        assert main(["stream", *args, str(pcm), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert not out.exists() and not (tmp_path / "rows.npys.part").exists()
    assert main(["stream", "--preset", "livetalking-wav2lip", str(pcm), "-o", str(out)]) == 0
    assert "latency 840.0 ms" in capsys.readouterr().err
