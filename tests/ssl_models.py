"""Random-initialised models with the real checkpoints' architectures, built offline for the SSL tests.

Each config below copies the architecture of a published checkpoint (conv
stack, hidden sizes, normalisation, vocabulary) with fewer transformer
layers; :func:`build` saves a seeded random model with ``save_pretrained``
(safetensors) plus its ``preprocessor_config.json`` so that tests exercise the
real loading path.
"""

from __future__ import annotations

from pathlib import Path

CONV = dict(conv_dim=[512] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_stride=[5, 2, 2, 2, 2, 2, 2],
            conv_bias=False, num_feat_extract_layers=7)

#: name -> (model class, config class, config kwargs, preprocessor kwargs)
ARCHS = {
    # facebook/wav2vec2-base-960h: group norm, 768 wide, 32 CTC labels, no attention mask
    "wav2vec2-base-960h": ("Wav2Vec2ForCTC", "Wav2Vec2Config", dict(
        CONV, hidden_size=768, intermediate_size=3072, num_attention_heads=12, feat_extract_norm="group",
        do_stable_layer_norm=False, vocab_size=32, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16),
        dict(do_normalize=True, return_attention_mask=False)),
    # facebook/hubert-large-ls960-ft: layer norm, 1024 wide, stable layer norm
    "hubert-large-ls960-ft": ("HubertForCTC", "HubertConfig", dict(
        CONV, conv_bias=True, hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
        feat_extract_norm="layer", do_stable_layer_norm=True, feat_proj_layer_norm=True, vocab_size=32),
        dict(do_normalize=True, return_attention_mask=True)),
    # cpierse/wav2vec2-large-xlsr-53-esperanto: layer norm, 1024 wide, 44 CTC labels
    "xlsr-53-esperanto": ("Wav2Vec2ForCTC", "Wav2Vec2Config", dict(
        CONV, conv_bias=True, hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
        feat_extract_norm="layer", do_stable_layer_norm=True, vocab_size=44),
        dict(do_normalize=True, return_attention_mask=True)),
    # microsoft/wavlm-base: group norm, 768 wide, relative position buckets; processor does not normalise
    "wavlm-base": ("WavLMModel", "WavLMConfig", dict(
        CONV, hidden_size=768, intermediate_size=3072, num_attention_heads=12, feat_extract_norm="group",
        do_stable_layer_norm=False, num_buckets=320, max_bucket_distance=800),
        dict(do_normalize=False, return_attention_mask=True)),
    # a wav2vec2 large (layer-norm) architecture without CTC head, e.g. jonatasgrosman/wav2vec2-large-xlsr-53-english
    "wav2vec2-large-lv60": ("Wav2Vec2Model", "Wav2Vec2Config", dict(
        CONV, conv_bias=True, hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
        feat_extract_norm="layer", do_stable_layer_norm=True),
        dict(do_normalize=True, return_attention_mask=True)),
    # facebook/hubert-base-ls960 and TencentGameMate/chinese-hubert-base (JoyVASA): group norm, 768 wide, no conv bias
    "hubert-base-ls960": ("HubertModel", "HubertConfig", dict(
        CONV, hidden_size=768, intermediate_size=3072, num_attention_heads=12, feat_extract_norm="group",
        do_stable_layer_norm=False),
        dict(do_normalize=False, return_attention_mask=False)),
}

#: preset -> the architecture in :data:`ARCHS` its checkpoint has
PRESET_ARCH = {"er-nerf-hubert": "hubert-large-ls960-ft", "geneface-hubert": "hubert-large-ls960-ft",
        "genefacepp-hubert": "hubert-large-ls960-ft", "rad-nerf": "xlsr-53-esperanto",
        "faceformer": "wav2vec2-base-960h", "hallo": "wav2vec2-base-960h", "aniportrait": "wav2vec2-base-960h",
        "emotalk": "wav2vec2-large-lv60"}


#: config changes that keep an architecture's kind and normalisation but make it narrow and fast (long loops)
NARROW = dict(conv_dim=[32] * 7, hidden_size=32, intermediate_size=64, num_attention_heads=2,
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


def build(name: str, folder: Path, *, layers: int = 1, seed: int = 0, **overrides) -> Path:
    """Save a random model of architecture ``name`` with ``layers`` transformer layers into ``folder``
    (``overrides``: config fields changed, e.g. :data:`NARROW`)."""
    import torch
    import transformers as tf

    model_cls, config_cls, kwargs, fe_kwargs = ARCHS[name]
    config = getattr(tf, config_cls)(num_hidden_layers=layers, **{**kwargs, **overrides})
    torch.manual_seed(seed)
    model = getattr(tf, model_cls)(config).eval()
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                **fe_kwargs).save_pretrained(folder)
    return folder


_DIRS: dict = {}


def model_dirs() -> dict:
    """``name -> Path`` of every architecture in :data:`ARCHS` (1 layer, seed 0), built once per process."""
    if not _DIRS:
        import atexit
        import shutil
        import tempfile

        import transformers

        transformers.logging.set_verbosity_error()
        root = Path(tempfile.mkdtemp(prefix="avalign_ssl_models_"))
        atexit.register(shutil.rmtree, root, True)
        for name in ARCHS:
            _DIRS[name] = build(name, root / name, layers=1, seed=0)
    return _DIRS


REAL_SPEECH = "musetalk_eng.wav"


def speech(seconds: float, *, offset: float = 0.0):
    """``seconds`` of the real 60 s speech file (float32, 16 kHz) from ``offset`` seconds."""
    from avalign.media import load_audio
    from helpers.real import real_file

    x = load_audio(real_file(REAL_SPEECH)).samples
    a = int(round(offset * 16000))
    return x[a:a + int(round(seconds * 16000))].copy()
