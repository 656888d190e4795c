"""The Wav2Lip, SadTalker and SyncNet audio code paths, re-written plainly: the references that the
spectral preset tests (tests/test_presets_spectral.py) and the end-to-end benchmark (bench/bench_e2e.py)
compare avalign with. Written the way the systems wrote them (librosa for the mel,
python_speech_features for the MFCC, Python ``int()`` on floats for the indices, list-building loops).
"""

from __future__ import annotations

import math

import numpy as np


def ref_melspectrogram(wav, *, pad_mode):
    """Wav2Lip / SadTalker / SyncTalk ``audio.melspectrogram``: ``(80, M)``."""
    import librosa
    import scipy.signal

    y = scipy.signal.lfilter([1, -0.97], [1], wav)
    d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode=pad_mode)
    fb = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    s = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), np.dot(fb, np.abs(d)))) - 20
    return np.clip((2 * 4.0) * ((s - -100) / (- -100)) - 4.0, -4.0, 4.0)


def ref_wav2lip_chunks(mel, fps):
    """inference.py's loop; ``mel`` is ``(80, M)``, ``fps`` a float as cv2 reports it."""
    mel_chunks = []
    mel_idx_multiplier = 80. / fps
    i = 0
    while 1:
        start_idx = int(i * mel_idx_multiplier)
        if start_idx + 16 > len(mel[0]):
            mel_chunks.append(mel[:, len(mel[0]) - 16:])
            break
        mel_chunks.append(mel[:, start_idx: start_idx + 16])
        i += 1
    return mel_chunks


def ref_sadtalker(wav, melspec):
    """generate_batch.get_data's audio part; ``melspec(wav) -> (80, M)``."""
    bit_per_frames = 16000 / 25
    num_frames = int(len(wav) / bit_per_frames)
    audio_length = int(num_frames * bit_per_frames)
    if len(wav) > audio_length:
        wav = wav[:audio_length]
    elif len(wav) < audio_length:
        wav = np.pad(wav, [0, audio_length - len(wav)], mode="constant", constant_values=0)
    orig_mel = melspec(wav).T
    indiv_mels = []
    for i in range(num_frames):
        start_idx = int(80. * ((i - 2) / float(25)))
        seq = [min(max(item, 0), orig_mel.shape[0] - 1) for item in range(start_idx, start_idx + 16)]
        indiv_mels.append(orig_mel[seq, :].T)
    return indiv_mels


def ref_syncnet(audio_int16, num_video_frames):
    """SyncNetInstance.evaluate's audio windows (cc_batch), each ``(13, 20)``."""
    import python_speech_features as psf

    mfcc = zip(*psf.mfcc(audio_int16, 16000))
    mfcc = np.stack([np.array(i) for i in mfcc])
    min_length = min(num_video_frames, math.floor(len(audio_int16) / 640))
    lastframe = min_length - 5
    return [mfcc[:, vframe * 4: vframe * 4 + 20] for vframe in range(0, lastframe)]
