"""syncnet_python's two-stream network (joonson/syncnet_python, ``SyncNetModel.S``) and its offset search.

Lip stream: 5 colour frames (BGR as OpenCV reads them, 0..255, 224 x 224),
tensor ``(B, 3, 5, 224, 224)``. Audio stream: 20 frames of 13 MFCC
(python_speech_features on int16 samples at 16 kHz), tensor ``(B, 1, 13, 20)``.
Both give 1024-d embeddings; ``SyncNetInstance.evaluate`` pairs window ``i``
of the picture with windows ``i + s - vshift`` of the sound
(``s = 0 .. 2 vshift``, zeros past the ends), averages the Euclidean
distances over windows, and reports ``offset = vshift - argmin``,
``conf = median - min`` of the averages, and a per-window confidence
(median minus the distance at the best shift, median-filtered over 9).

torch is imported only when a network is built.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ModelError, require

#: The layers of each stream: (kind, arguments). "C2"/"C3": conv + batch norm + ReLU,
#: "M2"/"M3": max pooling. Indices in the state dict follow this order (4 modules per
#: conv block with a pooling, 3 without), as in SyncNetModel.S.
AUDIO_CNN = (
    ("C2", 1, 64, (3, 3), (1, 1), (1, 1)), ("M2", (1, 1), (1, 1), 0),
    ("C2", 64, 192, (3, 3), (1, 1), (1, 1)), ("M2", (3, 3), (1, 2), 0),
    ("C2", 192, 384, (3, 3), (1, 1), (1, 1)),
    ("C2", 384, 256, (3, 3), (1, 1), (1, 1)),
    ("C2", 256, 256, (3, 3), (1, 1), (1, 1)), ("M2", (3, 3), (2, 2), 0),
    ("C2", 256, 512, (5, 4), (1, 1), (0, 0)),
)
LIP_CNN = (
    ("C3", 3, 96, (5, 7, 7), (1, 2, 2), 0), ("M3", (1, 3, 3), (1, 2, 2), 0),
    ("C3", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), ("M3", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("C3", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("C3", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("C3", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)), ("M3", (1, 3, 3), (1, 2, 2), 0),
    ("C3", 256, 512, (1, 6, 6), (1, 1, 1), 0),
)
#: Frames per lip window, MFCC frames per audio window, frame size.
LIP_FRAMES, MFCC_FRAMES, SIZE = 5, 20, 224
EMBEDDING = 1024


def build(embedding: int = EMBEDDING):
    """A randomly initialised network with syncnet_python's layers and state-dict names (a torch Module)."""
    torch = require("torch", "torch")
    nn = torch.nn

    def stack(spec):
        layers = []
        for kind, *a in spec:
            if kind[0] == "C":
                conv, norm = (nn.Conv2d, nn.BatchNorm2d) if kind == "C2" else (nn.Conv3d, nn.BatchNorm3d)
                c_in, c_out, k, stride, pad = a
                layers += [conv(c_in, c_out, kernel_size=k, stride=stride, padding=pad), norm(c_out), nn.ReLU()]
            else:
                pool = nn.MaxPool2d if kind == "M2" else nn.MaxPool3d
                k, stride, pad = a
                layers.append(pool(kernel_size=k, stride=stride, padding=pad))
        return nn.Sequential(*layers)

    def head():
        return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding))

    class SyncNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.netcnnaud, self.netfcaud = stack(AUDIO_CNN), head()
            self.netfclip, self.netcnnlip = head(), stack(LIP_CNN)

        def forward_aud(self, x):
            return self.netfcaud(self.netcnnaud(x).flatten(1))

        def forward_lip(self, x):
            return self.netfclip(self.netcnnlip(x).flatten(1))

    return SyncNet()


def load(path, *, device: str = "cpu"):
    """The network with the weights of ``path`` (a state dict, e.g. ``syncnet_v2.model``), in eval mode.

    Read with ``torch.load(weights_only=True)``; keys and shapes must be those
    of :func:`build` (BatchNorm's ``num_batches_tracked`` may be absent, as in
    the 2017 checkpoint). Anything else is a :class:`ModelError`.
    """
    torch = require("torch", "torch")
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelError(f"{p}: no such SyncNet weights file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and format errors alike
        raise ModelError(f"{p}: not a torch state dict that loads with weights_only=True "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{p}: not a state dict of tensors (a SyncNet checkpoint is syncnet_v2.model's state dict)")
    net = build()
    want = net.state_dict()
    missing = [k for k in want if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in want]
    wrong = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if missing or extra or wrong:
        detail = "; ".join(part for part in (
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else "",
            f"{len(wrong)} of another shape (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)}, "
            f"expected {tuple(want[wrong[0]].shape)})" if wrong else "") if part)
        raise ModelError(f"{p}: not syncnet_python's SyncNet weights: {detail}")
    net.load_state_dict(state, strict=False)
    return net.to(device).eval()


def embed(net, lips, mfcc, *, lip_index: np.ndarray, batch_size: int = 20, device: str = "cpu"):
    """Embeddings of every window: ``(im_feat, cc_feat)``, float32 torch tensors ``(N, 1024)`` on the CPU.

    ``lips``: uint8 ``(M, 224, 224, 3)`` BGR frames; ``lip_index``: int ``(N, 5)``,
    the frames of each window; ``mfcc``: float ``(N, 13, 20)`` audio windows.
    Batches of ``batch_size`` windows, as ``evaluate`` runs them.
    """
    torch = require("torch", "torch")
    im, cc = [], []
    with torch.no_grad():
        for start in range(0, lip_index.shape[0], batch_size):
            idx = lip_index[start:start + batch_size]
            x = torch.from_numpy(lips[idx]).permute(0, 4, 1, 2, 3).float()  # (B, 3, 5, H, W)
            im.append(net.forward_lip(x.to(device)).cpu())
            a = torch.from_numpy(np.ascontiguousarray(mfcc[start:start + batch_size], np.float32))[:, None]
            cc.append(net.forward_aud(a.to(device)).cpu())
    return torch.cat(im, 0), torch.cat(cc, 0)


def shift_distances(im_feat, cc_feat, *, vshift: int) -> np.ndarray:
    """Distance of picture window ``i`` to sound window ``i + s - vshift``: float32 ``(N, 2 vshift + 1)``.

    ``torch.nn.functional.pairwise_distance`` (eps 1e-6) against zeros beyond the ends, as ``calc_pdist``.
    """
    torch = require("torch", "torch")
    n = im_feat.shape[0]
    padded = torch.nn.functional.pad(cc_feat, (0, 0, vshift, vshift))
    rows = [torch.nn.functional.pairwise_distance(im_feat[[i]].expand(2 * vshift + 1, -1),
                                                  padded[i:i + 2 * vshift + 1]) for i in range(n)]
    return torch.stack(rows).numpy()


def decide(dists: np.ndarray, *, vshift: int) -> dict:
    """``evaluate``'s summary of ``dists`` ``(N, 2 vshift + 1)``: offset (frames), conf, min distance, curves."""
    import scipy.signal

    torch = require("torch", "torch")
    mean = torch.from_numpy(np.ascontiguousarray(dists.T)).mean(1).numpy()  # evaluate's reduction order
    best = int(np.argmin(mean))
    median = np.sort(mean)[(mean.shape[0] - 1) // 2]  # torch.median: the lower middle value
    fconf = median - dists[:, best]
    return {"offset": vshift - best, "conf": float(median - mean[best]), "min_dist": float(mean[best]),
            "mean_dists": mean, "frame_conf": scipy.signal.medfilt(fconf, kernel_size=9)}
