"""Mel and MFCC extractors against their references: librosa (both padding eras), python_speech_features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from avalign.errors import InputError
from avalign.features import create, dsp
from avalign.features.spectral import LIBROSA_MFCC, MFCC, WAV2LIP_MEL, Mel
from avalign.media import Audio, load_audio
from avalign.synth import speech_like

librosa = pytest.importorskip("librosa")
psf = pytest.importorskip("python_speech_features")


def wav2lip_reference(wav: np.ndarray, *, pad_mode: str) -> np.ndarray:
    """Wav2Lip's audio.melspectrogram as written with librosa (hparams of Wav2Lip), ``(80, M)``."""
    y = scipy.signal.lfilter([1, -0.97], [1], wav)
    d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode=pad_mode)
    fb = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    s = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), np.dot(fb, np.abs(d)))) - 20
    return np.clip((2 * 4.0) * ((s + 100) / 100) - 4.0, -4.0, 4.0)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(4.0, seed=3)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_wav2lip_mel_equals_librosa_in_both_eras(speech, pad_mode):
    ours = Mel(**WAV2LIP_MEL, pad_mode=pad_mode).compute(speech)
    ref = wav2lip_reference(speech, pad_mode=pad_mode).T
    assert ours.shape == ref.shape == (1 + speech.shape[0] // 200, 80)
    assert np.abs(ours - ref).max() <= 1e-4


def test_padding_eras_differ_only_at_the_edges(speech):
    a = Mel(**WAV2LIP_MEL, pad_mode="reflect").compute(speech)
    b = Mel(**WAV2LIP_MEL, pad_mode="constant").compute(speech)
    assert np.abs(a[2:-2] - b[2:-2]).max() == 0
    assert np.abs(a[:2] - b[:2]).max() > 1e-3 or np.abs(a[-2:] - b[-2:]).max() > 1e-3


def test_float64_precision_matches_reference_tighter(speech):
    ours = Mel(**WAV2LIP_MEL, pad_mode="reflect", precision="float64").compute(speech)
    ref = wav2lip_reference(speech, pad_mode="reflect").T
    assert np.abs(ours - ref).max() <= 1e-5


@pytest.mark.parametrize("kw", [
    dict(n_fft=512, hop_length=128, power=2.0, n_mels=40, htk=True, norm=None, level="none"),
    dict(n_fft=400, hop_length=160, win_length=320, window="hamming", power=2.0, level="none"),
    dict(n_fft=1024, hop_length=256, power=1.0, fmin=80.0, fmax=7000.0, level="none", center=False),
    dict(n_fft=800, hop_length=200, power=1.5, n_mels=64, level="none", pad_mode="reflect"),
])
def test_mel_knobs_equal_librosa_melspectrogram(speech, kw):
    ours = Mel(**kw).compute(speech).astype(np.float64)
    ref = librosa.feature.melspectrogram(
        y=speech.astype(np.float64), sr=16000, n_fft=kw["n_fft"], hop_length=kw["hop_length"],
        win_length=kw.get("win_length"), window=kw.get("window", "hann"), center=kw.get("center", True),
        pad_mode=kw.get("pad_mode", "constant"), power=kw["power"], n_mels=kw.get("n_mels", 80),
        fmin=kw.get("fmin", 0.0), fmax=kw.get("fmax"), htk=kw.get("htk", False), norm=kw.get("norm", "slaney")).T
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


def test_db_level_equals_librosa_power_to_db(speech):
    ours = Mel(n_fft=512, hop_length=160, level="db", top_db=80.0).compute(speech)
    s = librosa.feature.melspectrogram(y=speech, sr=16000, n_fft=512, hop_length=160, n_mels=80)
    ref = librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=80.0).T
    assert np.abs(ours - ref).max() <= 1e-3  # dB (float32 arithmetic on a 100 dB range)


@pytest.mark.parametrize("sr", [16000, 22050])
def test_librosa_style_mfcc_equals_librosa_feature_mfcc(speech, sr):
    y = speech if sr == 16000 else librosa.resample(speech, orig_sr=16000, target_sr=sr)
    ours = Mel(sample_rate=sr, **LIBROSA_MFCC).compute(y)
    ref = librosa.feature.mfcc(y=y, sr=sr).T
    assert ours.shape == ref.shape == (1 + y.shape[0] // 512, 20)
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()
    lifted = Mel(sample_rate=sr, **{**LIBROSA_MFCC, "n_mfcc": 13, "lifter": 22}).compute(y)
    ref_l = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, lifter=22).T
    assert np.abs(lifted - ref_l).max() <= 1e-4 * np.abs(ref_l).max()


def _rel(ours, ref):
    return np.abs(ours - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("scale", ["float", "int16"])
def test_mfcc_equals_python_speech_features(speech, scale):
    x = speech if scale == "float" else np.round(speech * 32767).astype(np.int16)
    ours = MFCC(input_scale=scale).compute(x.astype(np.float32))
    ref = psf.mfcc(x, 16000)
    assert ours.shape == ref.shape
    assert _rel(ours, ref) <= 1e-4
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("kw, psf_kw", [
    (dict(numcep=26, nfilt=26, ceplifter=0, append_energy=False), dict(numcep=26, ceplifter=0, appendEnergy=False)),
    (dict(nfilt=40, lowfreq=100.0, highfreq=7000.0, preemph=0.0),
     dict(nfilt=40, lowfreq=100, highfreq=7000, preemph=0)),
    (dict(winlen=0.032, winstep=0.016, window="hamming"), dict(winlen=0.032, winstep=0.016, winfunc=np.hamming)),
])
def test_mfcc_options_equal_python_speech_features(speech, kw, psf_kw):
    x = np.round(speech[:20000] * 32767).astype(np.int16)
    ours = MFCC(**kw).compute(x.astype(np.float32))
    ref = psf.mfcc(x, 16000, **psf_kw)
    assert ours.shape == ref.shape
    assert _rel(ours, ref) <= 1e-4


def test_mfcc_at_44k_cuts_frames_longer_than_nfft_like_psf():
    x = np.round(speech_like(1.0, sample_rate=44100) * 32767).astype(np.int16)
    ours = MFCC(sample_rate=44100).compute(x.astype(np.float32))
    ref = psf.mfcc(x, 44100)
    assert ours.shape == ref.shape
    assert _rel(ours, ref) <= 1e-4


def test_mfcc_extract_scales_float_audio_to_int16(speech):
    audio = Audio.from_array(speech, 16000)
    feats = MFCC(input_scale="int16").extract(audio)
    ref = psf.mfcc(np.clip(np.round(speech * 32768), -32768, 32767), 16000)
    assert _rel(feats.values, ref) <= 1e-4
    assert feats.values.shape[0] == feats.grid.num_frames


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=12000), center=st.booleans(), pad=st.sampled_from(["constant", "reflect"]))
def test_mel_frame_count_formula_matches_rows(n, center, pad):
    mel = Mel(n_fft=400, hop_length=160, center=center, pad_mode=pad)
    if n < mel.min_samples:
        return
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = mel.compute(x)
    assert out.shape == (mel.num_frames(n), 80)
    assert mel.num_frames(n) == librosa.feature.melspectrogram(y=x, sr=16000, n_fft=400, hop_length=160,
                                                               center=center, pad_mode=pad).shape[1]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=8000))
def test_mfcc_frame_count_formula_matches_psf(n):
    x = np.random.default_rng(n).integers(-3000, 3000, n).astype(np.int16)
    mfcc = MFCC()
    assert mfcc.compute(x.astype(np.float32)).shape == (mfcc.num_frames(n), 13) == psf.mfcc(x, 16000).shape


def test_short_reflect_signal_pads_like_numpy():
    x = np.arange(1, 6, dtype=np.float32)
    for pad in (2, 4, 9):
        assert np.array_equal(dsp.pad_centre(x, pad, pad_mode="reflect"), np.pad(x, pad, mode="reflect"))


def test_preemphasis_equals_lfilter():
    x = np.random.default_rng(0).standard_normal(1000)
    assert np.array_equal(dsp.preemphasis(x, 0.97), scipy.signal.lfilter([1, -0.97], [1], x))


def test_filterbanks_are_cached_and_read_only():
    a = Mel(**WAV2LIP_MEL).filterbank()
    assert a is Mel(**WAV2LIP_MEL, pad_mode="reflect").filterbank()
    assert not a.flags.writeable
    fb = dsp.psf_filterbank(nfilt=26, nfft=512, sample_rate=16000)
    assert fb is dsp.psf_filterbank(nfilt=26, nfft=512, sample_rate=16000) and not fb.flags.writeable
    assert np.allclose(fb.T, psf.get_filterbanks(26, 512, 16000, 0, None))


@pytest.mark.parametrize("bad", [dict(level="loud"), dict(pad_mode="edge"), dict(precision="float16"),
                                 dict(fmax=9000.0), dict(n_mfcc=100), dict(win_length=1000), dict(hop_length=0)])
def test_bad_mel_options_are_refused(bad):
    with pytest.raises(InputError):
        Mel(**bad)


def test_unknown_option_is_refused_through_the_registry():
    with pytest.raises(InputError, match="unknown option"):
        create("mel", nfft=512)
    with pytest.raises(InputError):
        create("mfcc", input_scale="int32")


def test_mel_on_real_22k_file_equals_librosa_load_and_stft(real):
    path = real / "imitator_audio1.wav"
    ours = Mel(**WAV2LIP_MEL, pad_mode="reflect").compute(load_audio(path, 16000, resampler="kaiser_best").samples)
    wav, _ = librosa.load(path, sr=16000, res_type="kaiser_best")
    ref = wav2lip_reference(wav, pad_mode="reflect").T
    assert ours.shape == ref.shape == (1 + 61334 // 200, 80)
    assert np.abs(ours - ref).max() <= 1e-4


def test_threaded_mel_equals_single_thread(monkeypatch):
    """Long signals are split across threads by frame range; the result is bit-identical to one thread."""
    from avalign import threads
    from avalign.synth import speech_like

    x = speech_like(80.0, seed=3)  # 6401 frames: long enough for 3 threads of 8 blocks
    mel = Mel(**WAV2LIP_MEL)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = mel.compute(x)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.compute_threads() == 3
    np.testing.assert_array_equal(mel.compute(x), one)
    assert one.shape == (mel.num_frames(x.shape[0]), 80)


@pytest.mark.parametrize("kw", [dict(WAV2LIP_MEL), dict(WAV2LIP_MEL, precision="float64"), LIBROSA_MFCC,
                                dict(n_fft=512, hop_length=128, power=2.0, level="db", top_db=80.0)])
def test_band_by_band_order_holds_the_same_values(kw):
    """``order="F"`` (what the Wav2Lip mel step asks for) changes the memory layout only, long signals included."""
    x = speech_like(30.0, seed=5)  # several blocks, two threads
    mel = Mel(**kw)
    c, f = mel.compute(x), mel.compute(x, order="F")
    assert c.flags.c_contiguous and f.flags.f_contiguous and f.dtype == c.dtype == np.float32
    assert f.shape == c.shape and f.tobytes(order="C") == c.tobytes()
    with pytest.raises(InputError, match="order"):
        dsp.mel_spectrogram(x, filterbank=mel.filterbank(), n_fft=mel.config.n_fft, hop=mel.config.hop_length,
                            order="A")


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 3000), pad=st.integers(0, 400), pad_mode=st.sampled_from(dsp.PAD_MODES),
       preemph=st.sampled_from([0.0, 0.97, 0.5]), dtype=st.sampled_from([np.float32, np.float64]),
       cut=st.tuples(st.floats(0, 1), st.floats(0, 1)), seed=st.integers(0, 2**16))
def test_each_blocks_padded_filtered_samples_equal_the_whole_padded_signal(n, pad, pad_mode, preemph, dtype, cut,
                                                                           seed):
    """The mel makes each block's samples on the fly; any range equals pad_centre(preemphasis(x)) bit for bit."""
    if pad_mode == "reflect" and n <= pad + 1:
        return  # one reflection only; shorter signals take pad_centre's np.pad route
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    whole = dsp.pad_centre(x, pad, pad_mode=pad_mode, preemph=preemph)
    a, b = sorted(int(c * whole.shape[0]) for c in cut)
    got = dsp._padded_range(x, a, b, pad=pad, pad_mode=pad_mode, preemph=preemph, out=np.empty(b - a + 5, dtype))
    assert got.dtype == whole.dtype and got.tobytes() == whole[a:b].tobytes()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40000), center=st.booleans(), pad_mode=st.sampled_from(dsp.PAD_MODES),
       preemph=st.sampled_from([0.0, 0.97]), seed=st.integers(0, 2**16))
def test_mel_equals_the_padded_signal_framed_whole(n, center, pad_mode, preemph, seed):
    """mel_spectrogram (per-block samples) against the same ops on the whole padded, filtered signal."""
    if (not center and n < 800) or (center and pad_mode == "reflect" and n < 2):
        return
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    fb = Mel(**WAV2LIP_MEL).filterbank()
    got = dsp.mel_spectrogram(x, filterbank=fb, n_fft=800, hop=200, center=center, pad_mode=pad_mode,
                              preemph=preemph, block=64)
    y = dsp.pad_centre(x, 400, pad_mode=pad_mode, preemph=preemph) if center else dsp.preemphasis(x, preemph)
    ref = dsp.mel_spectrogram(y, filterbank=fb, n_fft=800, hop=200, center=False, block=64)  # frames: views of y
    assert got.shape == ref.shape and got.tobytes() == ref.tobytes()
