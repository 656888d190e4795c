"""PCM WAV files read directly (media._pcm_wav) and FLAC read by libsndfile: the same probe and samples
as through PyAV/FFmpeg."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from avalign import media
from avalign.errors import InputError, MediaError
from helpers.real import real_folder

#: (format tag, bits) per sample format written below
FORMATS = {"u8": (1, 8), "s16": (1, 16), "s24": (1, 24), "s32": (1, 32), "flt": (3, 32), "dbl": (3, 64)}
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
#: (target rate, channel, resampler, scale): one decode per route and setting (resampy sees the same
#: samples as the identity setting, so it is not repeated here)
SETTINGS = [(None, "mean", "soxr_hq", "float"), (None, 0, "soxr_hq", "int16"), (22050, "mean", "soxr_vhq", "float")]


def _pcm_bytes(x: np.ndarray, fmt: str) -> bytes:
    """Interleaved samples ``x`` (n, channels) in [-1, 1) as the file's bytes (our own writer, not FFmpeg's)."""
    if fmt == "u8":
        return np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    if fmt == "s16":
        return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()
    if fmt == "s24":
        v = np.clip(np.round(x * 8388608), -8388608, 8388607).astype("<i4").reshape(-1)
        return v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    if fmt == "s32":
        return np.clip(np.round(x * 2147483648.0), -2147483648, 2147483647).astype("<i4").tobytes()
    return x.astype("<f4" if fmt == "flt" else "<f8").tobytes()


def write_wav(path, x: np.ndarray, sr: int, fmt: str, *, extensible=False, before_data=b"", tag=None,
              data_size=None) -> None:
    n, ch = x.shape
    ftag, bits = FORMATS[fmt]
    data = _pcm_bytes(x, fmt)
    align = ch * bits // 8
    if extensible:
        fmt_chunk = struct.pack("<HHIIHHHHI", 0xFFFE, ch, sr, sr * align, align, bits, 22, bits, 0)
        fmt_chunk += struct.pack("<H", ftag) + GUID_TAIL
    else:
        fmt_chunk = struct.pack("<HHIIHH", tag or ftag, ch, sr, sr * align, align, bits)
    size = len(data) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + before_data
            + b"data" + struct.pack("<I", size) + data + (b"\0" if len(data) & 1 else b""))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _both_routes(path, monkeypatch, settings=SETTINGS):
    """(probe, decodes) through PyAV, then read directly (``WAV_DIRECT`` is left on)."""
    out = []
    for direct in (False, True):
        monkeypatch.setattr(media, "WAV_DIRECT", direct)
        info = media.probe(path)
        out.append((info, [media.load_audio(path, sr, channel=c, resampler=r, scale=s) for sr, c, r, s in settings]))
    return out


def _assert_same(a, b):
    (info_a, decodes_a), (info_b, decodes_b) = a, b
    assert info_a == info_b
    for x, y in zip(decodes_a, decodes_b):
        assert x.samples.dtype == y.samples.dtype and np.array_equal(x.samples, y.samples)
        assert (x.sample_rate, x.start, x.scale, x.meta) == (y.sample_rate, y.start, y.scale, y.meta)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_direct_wav_equals_pyav(fmt, tmp_path, monkeypatch):
    rng = np.random.default_rng(len(fmt))
    for ch, sr, ext in ((1, 16000, False), (2, 44100, True), (3, 22050, False)):
        x = np.clip(rng.standard_normal((int(sr * 0.7) + 1, ch)) * 0.3, -1, 0.999)
        path = tmp_path / f"{fmt}_{ch}.wav"
        write_wav(path, x, sr, fmt, extensible=ext, before_data=b"LIST\x05\0\0\0abcde\0" if ch == 3 else b"")
        assert media._pcm_wav(path) is not None
        _assert_same(*_both_routes(path, monkeypatch))


def test_direct_wav_equals_pyav_on_real_files(monkeypatch):
    for path in sorted(real_folder().glob("*.wav")):
        assert media._pcm_wav(path) is not None, path.name
        _assert_same(*_both_routes(path, monkeypatch, [(None, "mean", "soxr_hq", "float"), (16000, 0, "soxr_hq", "int16")]))


def test_other_wavs_go_through_pyav(tmp_path, monkeypatch):
    x = np.zeros((1600, 1))
    mulaw = tmp_path / "mulaw.wav"  # G.711 mu-law: not plain PCM
    write_wav(mulaw, x, 8000, "u8", tag=7)
    streamed = tmp_path / "streamed.wav"  # no final data size
    write_wav(streamed, x, 16000, "s16", data_size=0xFFFFFFFF)
    ragged = tmp_path / "ragged.wav"  # a partial sample frame at the end
    write_wav(ragged, np.zeros((1601, 1)), 16000, "s16", data_size=3201)
    for path in (mulaw, streamed, ragged):
        assert media._pcm_wav(path) is None
    assert media.probe(mulaw).audio.codec == "pcm_mulaw"
    assert media.load_audio(streamed).num_samples == 1600


def test_truncated_wav_raises_on_both_routes(tmp_path, monkeypatch):
    path = tmp_path / "cut.wav"
    write_wav(path, np.zeros((16000, 1)), 16000, "s16")
    path.write_bytes(path.read_bytes()[:20000])
    messages = []
    for direct in (False, True):
        monkeypatch.setattr(media, "WAV_DIRECT", direct)
        with pytest.raises(MediaError) as exc:
            media.load_audio(path)
        messages.append(str(exc.value))
    assert messages[0] == messages[1] and "truncated WAV file" in messages[0]


def test_mono_16_bit_wav_read_in_parallel_parts_equals_pyav(tmp_path, monkeypatch):
    """The common case (mono int16, no resampling) is converted straight into the output, in parts at odd
    edges on 1, 3 and 7 threads: the same samples as FFmpeg's."""
    rng = np.random.default_rng(5)
    path = tmp_path / "long.wav"
    write_wav(path, np.clip(rng.standard_normal((100_003, 1)) * 0.3, -1, 0.999), 16000, "s16")
    monkeypatch.setattr(media, "WAV_DIRECT", False)
    ref = media.load_audio(path, 16000)
    monkeypatch.setattr(media, "WAV_DIRECT", True)
    monkeypatch.setattr(media, "WAV_SPLIT", 9_001)
    monkeypatch.setattr(media, "WAV_BLOCK", 4_999)
    for threads in ("1", "3", "7"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        got = media.load_audio(path, 16000)
        assert got.samples.dtype == np.float32 and np.array_equal(got.samples, ref.samples) and got.meta == ref.meta
    real_read = media._PcmWav.read_into

    def cut_then_read(self, p, buf):  # the file shrinks after every check of its size, as it is read
        os.truncate(p, 150_000)
        return real_read(self, p, buf)

    monkeypatch.setattr(media._PcmWav, "read_into", cut_then_read)
    with pytest.raises(MediaError, match="truncated WAV file: its data ends"):
        media.load_audio(path, 16000)


@pytest.mark.parametrize("subtype", ["PCM_S8", "PCM_16", "PCM_24"])
def test_flac_through_libsndfile_equals_pyav(subtype, tmp_path, monkeypatch):
    soundfile = pytest.importorskip("soundfile")
    rng = np.random.default_rng(7)
    for ch, sr, n in ((1, 16000, 9607), (2, 44100, 26467), (3, 22050, 1), (1, 8000, 4096), (1, 11025, 65537)):
        x = np.clip(rng.standard_normal((n, ch)) * 0.3, -1, 0.99)
        path = tmp_path / f"{subtype}_{ch}_{n}.flac"
        soundfile.write(path, x, sr, subtype=subtype, format="FLAC")
        out = []
        for flag in (False, True):
            monkeypatch.setattr(media, "FLAC_LIBSNDFILE", flag)
            assert (media._native_flac(path) is not None) == flag  # STREAMINFO read without PyAV
            info = media.probe(path)
            assert (media._flac_reader(path, info) is not None) == flag
            out.append((info, [media.load_audio(path, r, channel=c, scale=s) for r, c, _, s in SETTINGS]))
        assert out[0][0] == out[1][0]  # the same MediaInfo from STREAMINFO as from FFmpeg's probe
        for a, b in zip(out[0][1], out[1][1]):
            assert np.array_equal(a.samples, b.samples) and (a.start, a.meta) == (b.start, b.meta)


@pytest.mark.parametrize("bits,subtype", [(8, "PCM_S8"), (16, "PCM_16"), (24, "PCM_24")])
def test_flac_every_sample_value_equals_pyav(bits, subtype, tmp_path, monkeypatch):
    """libsndfile's float32 reads equal FFmpeg's integer samples scaled, for every value of the type."""
    soundfile = pytest.importorskip("soundfile")
    values = np.arange(-(2 ** (bits - 1)), 2 ** (bits - 1), dtype=np.int32)
    path = tmp_path / f"all{bits}.flac"
    soundfile.write(path, values << (32 - bits), 48000, subtype=subtype, format="FLAC")
    got = []
    for flag in (False, True):
        monkeypatch.setattr(media, "FLAC_LIBSNDFILE", flag)
        got.append(media.load_audio(path, None).samples)
    assert got[0].shape == values.shape and np.array_equal(got[0], got[1])
    assert np.array_equal(got[1], values / 2.0 ** (bits - 1))


def test_flac_with_cover_art_or_id3_goes_through_pyav(tmp_path):
    """A PICTURE block (FFmpeg shows it as a video stream) or a leading ID3 tag: no STREAMINFO shortcut."""
    soundfile = pytest.importorskip("soundfile")
    path = tmp_path / "plain.flac"
    soundfile.write(path, np.zeros(1600), 16000, format="FLAC")
    data = path.read_bytes()
    assert media._native_flac(path) is not None
    at, blocks = 4, []
    while True:  # the metadata blocks, to insert a PICTURE block before the first audio frame
        last, n = data[at] & 0x80, int.from_bytes(data[at + 1:at + 4], "big")
        blocks.append(bytearray(data[at:at + 4 + n]))
        at += 4 + n
        if last:
            break
    blocks[-1][0] &= 0x7F
    picture = bytes([0x80 | 6]) + (8).to_bytes(3, "big") + bytes(8)
    art = tmp_path / "art.flac"
    art.write_bytes(b"fLaC" + b"".join(blocks) + picture + data[at:])
    assert media._native_flac(art) is None
    id3 = tmp_path / "id3.flac"
    id3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + data)
    assert media._native_flac(id3) is None
    assert media.probe(id3).audio.num_samples == 1600


def test_flac_decoded_in_parallel_parts_equals_pyav(tmp_path, monkeypatch):
    """A long mono file is decoded by threads, each from its own seek: the same samples as FFmpeg's."""
    soundfile = pytest.importorskip("soundfile")
    rng = np.random.default_rng(3)
    path = tmp_path / "long.flac"
    soundfile.write(path, np.clip(rng.standard_normal(100_003) * 0.3, -1, 0.99), 16000, format="FLAC")
    monkeypatch.setattr(media, "FLAC_LIBSNDFILE", False)
    ref = media.load_audio(path, None)
    monkeypatch.setattr(media, "FLAC_LIBSNDFILE", True)
    monkeypatch.setattr(media, "FLAC_SPLIT", 9_000)  # odd part edges, not on FLAC's 4096-sample frames
    monkeypatch.setattr(media, "FLAC_BLOCK", 5_000)
    for threads in ("1", "3", "7"):
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        got = media.load_audio(path, None)
        assert np.array_equal(got.samples, ref.samples) and got.meta == ref.meta


def test_avalign_errors_on_the_libsndfile_route_are_not_decoded_again(tmp_path, monkeypatch):
    """A bad channel or the memory budget fails on libsndfile's route at once, without PyAV decoding it again."""
    soundfile = pytest.importorskip("soundfile")
    from avalign import budget
    from avalign.errors import BudgetError

    path = tmp_path / "st.flac"
    soundfile.write(path, np.random.default_rng(1).standard_normal((48000, 2)) * 0.2, 16000, format="FLAC")
    info = media.probe(path)

    def no_pyav(*args, **kwargs):
        raise AssertionError("decoded again through PyAV")

    monkeypatch.setattr(media, "_open", no_pyav)
    with pytest.raises(InputError, match="channel 5 does not exist"):
        media.load_audio(path, None, channel=5, info=info)
    with budget.limit("150k"), pytest.raises(BudgetError):
        media.load_audio(path, None, channel=0, info=info)


@pytest.mark.parametrize("parallel", [False, True])
def test_truncated_flac_same_error_on_both_routes(parallel, tmp_path, monkeypatch):
    soundfile = pytest.importorskip("soundfile")
    if parallel:
        monkeypatch.setattr(media, "FLAC_SPLIT", 4_000)
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
    path = tmp_path / "x.flac"
    soundfile.write(path, np.random.default_rng(0).standard_normal(48000) * 0.2, 16000, format="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    messages = []
    for flag in (False, True):  # libsndfile reads short: PyAV decodes again and reports as before
        monkeypatch.setattr(media, "FLAC_LIBSNDFILE", flag)
        with pytest.raises(MediaError) as exc:
            media.load_audio(cut)
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
