"""Random-initialised openai-whisper models (seeded), saved as ``.pt`` checkpoints like the published ones."""

from __future__ import annotations

import dataclasses


def openai_model(n_state, n_head, n_layer, seed):
    """An openai-whisper ``Whisper`` (eval mode) of encoder width ``n_state``, seeded, and its dims."""
    import torch
    import whisper as openai_whisper

    dims = openai_whisper.model.ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=n_state,
                                                n_audio_head=n_head, n_audio_layer=n_layer, n_vocab=64,
                                                n_text_ctx=16, n_text_state=n_state, n_text_head=n_head,
                                                n_text_layer=1)
    torch.manual_seed(seed)
    return openai_whisper.model.Whisper(dims).eval(), dims


def save_openai(model, dims, path):
    """Save ``model`` as openai-whisper saves checkpoints (dims + state dict) to ``path``; returns ``path``."""
    import torch

    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path
