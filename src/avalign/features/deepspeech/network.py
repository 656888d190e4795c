"""The DeepSpeech v0.1.0 network in torch, from the frozen graph's weights.

Per 50 Hz step ``t`` with input ``x_t`` (494 values)::

    a1 = clip(x  @ h1 + b1)          clip(v) = min(max(v, 0), 20)
    a2 = clip(a1 @ h2 + b2)
    a3 = clip(a2 @ h3 + b3)
    (fw, bw) = BiLSTM(a3)            TensorFlow BasicLSTMCell, forget bias 1.0
    a5 = clip([fw, bw] @ h5 + b5)
    logits = a5 @ h6 + b6            29 raw logits (no softmax)

TensorFlow's ``BasicLSTMCell`` computes ``[x, h] @ kernel + bias`` and splits
the result into gates in the order ``(i, j, f, o)``: ``c' = c * sigmoid(f + 1)
+ sigmoid(i) * tanh(j)``, ``h' = tanh(c') * sigmoid(o)``. These are
``torch.nn.LSTM``'s equations with gates ``(i, f, g, o)``, so the kernel is
split into input and recurrent parts, transposed, its gate blocks reordered,
and the forget bias folded into the bias. Clips of different lengths run in
one batch as packed sequences: the backward direction starts at each clip's
own last step, as ``tf.nn.bidirectional_dynamic_rnn`` with ``sequence_length`` does.
"""

from __future__ import annotations

import numpy as np

from ..neural import torch as _torch

RELU_CLIP = 20.0
FORGET_BIAS = 1.0


def _reorder(tf_blocks: np.ndarray, cell: int, axis: int) -> np.ndarray:
    """Gate blocks along ``axis`` from TensorFlow's (i, j, f, o) to torch's (i, f, g=j, o)."""
    i, j, f, o = np.split(tf_blocks, 4, axis=axis)
    return np.concatenate([i, f, j, o], axis=axis)


def build(weights: dict, *, device: str = "cpu"):
    """A ``torch.nn.Module`` computing logits ``(B, T, 29)`` from inputs ``(B, T, 494)`` and lengths ``(B,)``."""
    torch = _torch()
    nn = torch.nn

    class DeepSpeechV010(nn.Module):
        def __init__(self):
            super().__init__()
            h3 = weights["h3"].shape[1]
            cell = weights["bidirectional_rnn/fw/basic_lstm_cell/bias"].shape[0] // 4
            self.cell = cell
            for name in ("h1", "b1", "h2", "b2", "h3", "b3", "h5", "b5", "h6", "b6"):
                self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(weights[name])))
            self.lstm = nn.LSTM(input_size=h3, hidden_size=cell, num_layers=1, bias=True,
                                batch_first=True, bidirectional=True)
            with torch.no_grad():
                for d, suffix in (("fw", ""), ("bw", "_reverse")):
                    kernel = weights[f"bidirectional_rnn/{d}/basic_lstm_cell/kernel"]
                    bias = weights[f"bidirectional_rnn/{d}/basic_lstm_cell/bias"].astype(np.float32).copy()
                    bias[2 * cell:3 * cell] += FORGET_BIAS  # TF's f block, before reordering
                    w = _reorder(kernel, cell, axis=1)
                    getattr(self.lstm, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(w[:h3].T)))
                    getattr(self.lstm, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(w[h3:].T)))
                    getattr(self.lstm, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(_reorder(bias, cell, axis=0)))
                    getattr(self.lstm, f"bias_hh_l0{suffix}").zero_()

        def forward(self, x, lengths):
            clip = lambda v: torch.clamp(v, min=0.0, max=RELU_CLIP)  # noqa: E731
            a = clip(x @ self.h1 + self.b1)
            a = clip(a @ self.h2 + self.b2)
            a = clip(a @ self.h3 + self.b3)
            packed = nn.utils.rnn.pack_padded_sequence(a, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            a = clip(out @ self.h5 + self.b5)
            return a @ self.h6 + self.b6

    return DeepSpeechV010().eval().to(device)


def run(module, inputs: list, *, device: str = "cpu", batch_size: int = 8) -> list:
    """Logits ``(T_i, 29)`` float32 for each input ``(T_i, 494)``; clips are padded and batched."""
    torch = _torch()
    outs: list = [None] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: -inputs[i].shape[0])
    cudnn_flags = torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=False)
    with torch.inference_mode(), cudnn_flags:
        prev_tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                t_max = max(inputs[i].shape[0] for i in idx)
                x = np.zeros((len(idx), t_max, inputs[idx[0]].shape[1]), np.float32)
                for b, i in enumerate(idx):
                    x[b, : inputs[i].shape[0]] = inputs[i]
                lengths = torch.tensor([inputs[i].shape[0] for i in idx], dtype=torch.int64)
                y = module(torch.from_numpy(x).to(device), lengths).float().cpu().numpy()
                for b, i in enumerate(idx):
                    outs[i] = y[b, : inputs[i].shape[0]].copy()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    return outs
