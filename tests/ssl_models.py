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
    # TencentGameMate/chinese-wav2vec2-base: a wav2vec2 base (group norm, no conv bias, post layer norm)
    "chinese-wav2vec2-base": ("Wav2Vec2Model", "Wav2Vec2Config", dict(
        CONV, hidden_size=768, intermediate_size=3072, num_attention_heads=12, feat_extract_norm="group",
        do_stable_layer_norm=False, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16),
        dict(do_normalize=True, return_attention_mask=False)),
    # TencentGameMate/chinese-hubert-base: HuBERT base (group norm, no conv bias)
    "chinese-hubert-base": ("HubertModel", "HubertConfig", dict(
        CONV, hidden_size=768, intermediate_size=3072, num_attention_heads=12, feat_extract_norm="group",
        do_stable_layer_norm=False, feat_proj_layer_norm=False),
        dict(do_normalize=True, return_attention_mask=False)),
    # TencentGameMate/chinese-hubert-large: HuBERT large (layer norm, conv bias, stable layer norm)
    "chinese-hubert-large": ("HubertModel", "HubertConfig", dict(
        CONV, conv_bias=True, hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
        feat_extract_norm="layer", do_stable_layer_norm=True, feat_proj_layer_norm=True),
        dict(do_normalize=True, return_attention_mask=True)),
    # facebook/wav2vec2-xls-r-300m: layer norm, conv bias, stable layer norm, 1024 wide
    "wav2vec2-xls-r-300m": ("Wav2Vec2Model", "Wav2Vec2Config", dict(
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


class _Dirs(dict):
    """``name -> Path``, each architecture built (1 layer, seed 0) the first time it is asked for."""

    root: Path | None = None

    def __missing__(self, name):
        if name not in ARCHS:
            raise KeyError(name)
        if self.root is None:
            import atexit
            import shutil
            import tempfile

            import transformers

            transformers.logging.set_verbosity_error()
            self.root = Path(tempfile.mkdtemp(prefix="avalign_ssl_models_"))
            atexit.register(shutil.rmtree, self.root, True)
        self[name] = build(name, self.root / name, layers=1, seed=0)
        return self[name]

    def built(self) -> dict:
        """Every architecture, built now (each is seeded alone, so the order does not matter)."""
        for name in ARCHS:
            self[name]
        return {name: dict.__getitem__(self, name) for name in ARCHS}

    def items(self):
        return self.built().items()

    def keys(self):
        return self.built().keys()

    def values(self):
        return self.built().values()

    def __iter__(self):
        return iter(self.built())


_DIRS = _Dirs()


def model_dirs() -> dict:
    """``name -> Path`` of the architectures in :data:`ARCHS` (1 layer, seed 0), each built once per process
    on first use."""
    return _DIRS


def stretched_forward(model, input_values, seq_len: int, **kwargs):
    """``model(input_values, **kwargs)`` with its conv feature encoder's output stretched to ``seq_len`` frames
    (``F.interpolate(..., align_corners=True, mode="linear")``, the systems' ``linear_interpolation``)
    before the projection and the transformer, as FaceFormer, Hallo and their successors patch wav2vec2."""
    import torch
    import torch.nn.functional as F

    inner = model.feature_extractor

    class Stretched(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, v):
            return F.interpolate(self.inner(v), size=seq_len, align_corners=True, mode="linear")

    model.feature_extractor = Stretched()
    try:
        with torch.no_grad():
            return model(input_values, **kwargs)
    finally:
        model.feature_extractor = inner


REAL_SPEECH = "musetalk_eng.wav"


def speech(seconds: float, *, offset: float = 0.0):
    """``seconds`` of the real 60 s speech file (float32, 16 kHz) from ``offset`` seconds."""
    from avalign.media import load_audio
    from helpers.real import real_file

    x = load_audio(real_file(REAL_SPEECH)).samples
    a = int(round(offset * 16000))
    return x[a:a + int(round(seconds * 16000))].copy()
