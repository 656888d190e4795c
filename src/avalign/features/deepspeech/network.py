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
+ sigmoid(i) * tanh(j)``, ``h' = tanh(c') * sigmoid(o)``. The cell is written
out here with the graph's kernel as is (split into its input rows and its
recurrent rows): the input projection of all steps is one matmul, then one
batched matmul per step runs both directions. ``torch.nn.LSTM`` would need
the gate blocks reordered to ``(i, f, g, o)``, and its CPU kernels recompile
for every new sequence length (seconds per new clip length). Clips of
different lengths run in one batch: the backward direction reverses each clip
within its own length, as ``tf.nn.bidirectional_dynamic_rnn`` with
``sequence_length`` does.
"""

from __future__ import annotations

import numpy as np

from ... import progress
from ..neural import torch as _torch

RELU_CLIP = 20.0
FORGET_BIAS = 1.0
#: recurrent steps (20 ms each) between progress updates
PROGRESS_STEPS = 100


def build(weights: dict, *, device: str = "cpu"):
    """A ``torch.nn.Module`` computing logits ``(B, T, 29)`` from inputs ``(B, T, 494)`` and lengths ``(B,)``."""
    torch = _torch()
    nn = torch.nn

    class DeepSpeechV010(nn.Module):
        def __init__(self):
            super().__init__()
            h3 = weights["h3"].shape[1]
            for name in ("h1", "b1", "h2", "b2", "h3", "b3", "h5", "b5", "h6", "b6"):
                self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(weights[name])))
            kernels = [weights[f"bidirectional_rnn/{d}/basic_lstm_cell/kernel"] for d in ("fw", "bw")]
            biases = [weights[f"bidirectional_rnn/{d}/basic_lstm_cell/bias"] for d in ("fw", "bw")]
            # (2, H3, 4C) input part, (2, C, 4C) recurrent part, (2, 1, 4C) bias; gate order i, j, f, o as in TF
            self.register_buffer("wx", torch.from_numpy(np.stack([k[:h3] for k in kernels])))
            self.register_buffer("wh", torch.from_numpy(np.stack([k[h3:] for k in kernels])))
            self.register_buffer("bias", torch.from_numpy(np.stack(biases)[:, None, :]))
            self.on_steps = None  # called with a count every PROGRESS_STEPS recurrent steps (progress bars)

        def bilstm(self, a, lengths):
            """Both directions of TF's BasicLSTMCell over ``a`` ``(B, T, H3)``; returns ``(B, T, 2C)``."""
            b, t, _ = a.shape
            cell = self.wh.shape[1]
            steps = torch.arange(t, device=a.device)[None, :]
            lens = lengths.to(a.device)[:, None]
            # backward direction: each clip reversed within its own length (padding stays after it)
            rev = torch.where(steps < lens, lens - 1 - steps, steps)
            a_rev = torch.gather(a, 1, rev[:, :, None].expand(b, t, a.shape[2]))
            xs = torch.stack([a, a_rev])  # (2, B, T, H3)
            gx = torch.matmul(xs, self.wx[:, None]) + self.bias[:, None]  # (2, B, T, 4C)
            h = a.new_zeros(2, b, cell)
            c = a.new_zeros(2, b, cell)
            out = a.new_empty(2, b, t, cell)
            for k in range(t):
                g = gx[:, :, k] + torch.bmm(h, self.wh)
                i, j, f, o = g.chunk(4, dim=-1)
                c = c * torch.sigmoid(f + FORGET_BIAS) + torch.sigmoid(i) * torch.tanh(j)
                h = torch.tanh(c) * torch.sigmoid(o)
                out[:, :, k] = h
                if self.on_steps is not None and (k + 1) % PROGRESS_STEPS == 0:
                    self.on_steps(PROGRESS_STEPS)
            bw = torch.gather(out[1], 1, rev[:, :, None].expand(b, t, cell))
            return torch.cat([out[0], bw], dim=-1)

        def forward(self, x, lengths):
            clip = lambda v: torch.clamp(v, min=0.0, max=RELU_CLIP)  # noqa: E731
            a = clip(x @ self.h1 + self.b1)
            a = clip(a @ self.h2 + self.b2)
            a = clip(a @ self.h3 + self.b3)
            a = clip(self.bilstm(a, lengths) @ self.h5 + self.b5)
            return a @ self.h6 + self.b6

    return DeepSpeechV010().eval().to(device)


def run(module, inputs: list, *, device: str = "cpu", batch_size: int = 8) -> list:
    """Logits ``(T_i, 29)`` float32 for each input ``(T_i, 494)``; clips are padded and batched."""
    torch = _torch()
    outs: list = [None] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: -inputs[i].shape[0])
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    steps = [inputs[idx[0]].shape[0] for idx in batches]  # the longest clip of each batch sets its steps
    seconds = sum(x.shape[0] for x in inputs) * 0.02
    bar = progress.bar(total=sum(steps), audio_seconds=seconds, desc="deepspeech", unit="step")
    cudnn_flags = torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=False)
    with torch.inference_mode(), cudnn_flags:
        prev_tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            module.on_steps = bar.advance
            for idx, t_max in zip(batches, steps):
                x = np.zeros((len(idx), t_max, inputs[idx[0]].shape[1]), np.float32)
                for b, i in enumerate(idx):
                    x[b, : inputs[i].shape[0]] = inputs[i]
                lengths = torch.tensor([inputs[i].shape[0] for i in idx], dtype=torch.int64)
                y = module(torch.from_numpy(x).to(device), lengths).float().cpu().numpy()
                for b, i in enumerate(idx):
                    outs[i] = y[b, : inputs[i].shape[0]].copy()
                bar.advance(t_max % PROGRESS_STEPS)
        finally:
            module.on_steps = None
            bar.close()
            torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    return outs
