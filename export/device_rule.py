"""The device's learning rule (`mbnn_learn`) in float form, in PyTorch, for experiments.

One sample at a time, BatchNorm frozen (eval mode), as docs/ARITHMETIC.md
describes in integers:

1. Forward; the softmax error `e = softmax(z) - onehot(y)`.
2. Output error `delta = e * k / max|k|` (k: the output BatchNorm's scale, the
   device's `gscale`). Going down, `g = delta @ Wb` with the weights before this
   step's update, then `delta' = g * window * k' / max|k'|`, window = `|BN(a)| <= 1`
   (the device's per-layer shifts and the gscale's per-layer factor cancel in the
   normalization below).
3. Per neuron, the running mean square `r <- r + (delta^2 - r) / 2^rms_shift`
   (`r = delta^2` at the first non-zero error) and the normalized error
   `n = clamp(delta / sqrt(r), -16, 16)`.
4. Proposed change `D_ij = -lr * n_i * input_j` (input: what the layer reads in
   PyTorch, +/-1 or `(q - zp) * input_scale`); where D moves Wh toward zero it is
   multiplied by `f_meta = 1 - tanh^2(m |Wh|)`.
5. `Wh <- Wh + D`; with `hscale_log2` given, stochastically rounded onto the
   int8 grid `(h + 0.5) 2^-e`, h in -128..127 (the device's int8 weights).

The integer rule differs only by rounding (of errors, steps, the meta table at
cell centres) and its random numbers; compare them by accuracy, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from export.fold import DEFAULT_DEVICE_LR, DEFAULT_RMS_SHIFT, learning_layers
from export.grid import snap_
from export.model import MetaBNN, sign_pm1
from export.optim import f_meta

NORM_MAX = 16.0


class DeviceRule:
    """Online, one-sample-at-a-time metaplastic learning of a MetaBNN with frozen BatchNorm."""

    def __init__(
        self,
        model: MetaBNN,
        learn: str | Sequence[bool] = "all",
        lr: float = DEFAULT_DEVICE_LR,
        meta: float | Sequence[float] = 1.35,
        rms_shift: int = DEFAULT_RMS_SHIFT,
        hscale_log2: Sequence[int | None] | None = None,
        seed: int = 0,
    ) -> None:
        n = model.n_layers
        self.learns = learning_layers(learn, n)
        self.model = model.eval()
        self.lr = float(lr)
        self.meta = [float(meta)] * n if isinstance(meta, (int, float)) else [float(m) for m in meta]
        self.beta = 2.0**-rms_shift
        self.hscale = list(hscale_log2) if hscale_log2 is not None else [None] * n
        self.rms = [torch.zeros(fc.weight.shape[0], dtype=torch.float64) for fc in model.fcs]
        self.generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.k = []
            for bn in model.bns:
                self.k.append((bn.weight / torch.sqrt(bn.running_var + bn.eps)).double())

    @torch.no_grad()
    def _forward(self, f: torch.Tensor):
        m = self.model
        h = m.first_input(f).double()
        inputs, windows = [], []
        for idx, (fc, bn) in enumerate(zip(m.fcs, m.bns)):
            inputs.append(h)
            a = h @ sign_pm1(fc.weight).double().t()
            z = (a - bn.running_mean.double()) / torch.sqrt(bn.running_var.double() + bn.eps) \
                * bn.weight.double() + bn.bias.double()
            if idx < m.n_layers - 1:
                windows.append(z.abs() <= 1)
                h = sign_pm1(z)
        return inputs, windows, z

    @torch.no_grad()
    def learn_one(self, f: torch.Tensor, label: int) -> int:
        """One learning step on one sample (features (n_inputs,)); returns the prediction made before it."""
        inputs, windows, z = self._forward(f.reshape(1, -1))
        pred = int(z[0].argmax())
        e = torch.softmax(z[0], 0)
        e[label] -= 1.0
        k = self.k[-1]
        delta = e * k / k.abs().max().clamp_min(1e-300)
        lowest = min(i for i, v in enumerate(self.learns) if v)
        for idx in range(self.model.n_layers - 1, lowest - 1, -1):
            fc = self.model.fcs[idx]
            below = None
            if idx > lowest:
                g = delta @ sign_pm1(fc.weight).double()
                kb = self.k[idx - 1]
                below = g * windows[idx - 1][0] * kb / kb.abs().max().clamp_min(1e-300)
            if self.learns[idx]:
                self._update(idx, delta, inputs[idx][0])
            delta = below
        return pred

    def _update(self, idx: int, delta: torch.Tensor, x: torch.Tensor) -> None:
        r = self.rms[idx]
        sq = delta * delta
        self.rms[idx] = r = torch.where(r == 0, sq, r + (sq - r) * self.beta)
        n = torch.where(delta != 0, (delta / r.sqrt().clamp_min(1e-300)).clamp(-NORM_MAX, NORM_MAX), 0.0)
        w = self.model.fcs[idx].weight
        wd = w.double()
        d = -self.lr * n[:, None] * x[None, :]
        toward_zero = torch.where(wd >= 0, d < 0, d > 0)
        d = torch.where(toward_zero, d * f_meta(wd, self.meta[idx]), d)
        new = (wd + d).to(w.dtype)
        if self.hscale[idx] is not None:
            snap_(new, self.hscale[idx], self.generator)
        w.copy_(new)

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Learn from samples one after another; returns the predictions made before each update."""
        return torch.tensor([self.learn_one(x[i], int(y[i])) for i in range(len(x))])
