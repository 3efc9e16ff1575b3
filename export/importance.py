"""Which hidden weights the trained task needs: importance-weighted consolidation at export.

Export consolidates the trained task by moving its int8 hidden weights away from
zero (`export.fold.consolidate_hidden`), so that the device's metaplastic table
damps the inward steps a later task makes on them. Moving every weight by the same
factor C also takes away the weights the trained task never used (on MNIST, the
border pixels' weights; in the deep layers, weights whose flip changes nothing),
and a later task that needs them has to fight the damping first. So the factor is
set per weight from how much the trained task needs that weight.

The importance of a weight is the diagonal of the empirical Fisher information
of the trained network, as elastic weight consolidation uses it (Kirkpatrick et
al., "Overcoming catastrophic forgetting in neural networks", PNAS 114(13),
2017): `I = mean over training samples of (dL/dWh)^2`, one sample at a time,
BatchNorm in eval mode (the statistics the device keeps), L the cross-entropy of
the sample's label. For a binarized network dL/dWh is the straight-through
gradient of the binary weight, so I measures how much flipping the weight's sign
would cost the trained task.

The factor of a weight (`consolidation_factors`): with `q` the layer's (1 - top)
quantile of I, `c = 1 + (C - 1) min(1, I / q)`: the `top` fraction of each
layer's weights that matter most get the full C, the others less in proportion,
an unused weight (I = 0) none. Measured on four task families on the device
(docs/RESULTS.md section 6, "Fourth round"): top = 0.1 with C = 6 is export's
default (C = 4 with every weight alike was the previous one).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from export.model import MetaBNN

#: Training samples the importance is averaged over (`python -m export.train`).
DEFAULT_SAMPLES = 2000
#: Fraction of each layer's weights that get the full consolidation factor.
DEFAULT_TOP = 0.1


def squared_gradient_sums(model: MetaBNN, x: torch.Tensor, y: torch.Tensor, chunk: int = 250,
                          progress: bool = False) -> list[torch.Tensor]:
    """Per layer, the sum over the samples of (x, y) of the squared per-sample gradient of the
    cross-entropy with respect to the hidden weights (float64, shaped like the weights), in the
    mode the caller left the model in (BatchNorm must run on fixed statistics: samples independent).

    `chunk` samples per pass, with no loop over samples: a dense layer's gradient for one sample
    is the outer product `g a^T` of the error at its output and its input, so the sum of its
    squares over the samples is `(g^2)^T (a^2)`; a convolution's is `g U^T` with U the sample's
    unfolded input patches (torch.nn.functional.unfold), squared per sample.
    """
    fcs = list(model.fcs)
    sums = [torch.zeros(fc.weight.shape, dtype=torch.float64) for fc in fcs]
    seen: dict[int, torch.Tensor] = {}
    errors: dict[int, torch.Tensor] = {}

    def keep(i: int):
        def hook(_module, args, out):
            seen[i] = args[0].detach().double()
            out.register_hook(lambda g: errors.__setitem__(i, g.detach().double()))
        return hook

    handles = [fc.register_forward_hook(keep(i)) for i, fc in enumerate(fcs)]
    starts = range(0, len(x), chunk)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="importance", leave=False, unit="chunk", disable=None)
    try:
        for s in starts:
            loss = torch.nn.functional.cross_entropy(model(x[s : s + chunk]), y[s : s + chunk], reduction="sum")
            torch.autograd.grad(loss, [fc.weight for fc in fcs])
            for i, fc in enumerate(fcs):
                a, g = seen[i], errors[i]
                if a.dim() == 2:
                    sums[i] += (g * g).T @ (a * a)
                else:
                    u = torch.nn.functional.unfold(a, fc.kernel_size, padding=fc.padding, stride=fc.stride)
                    per = torch.bmm(g.flatten(2), u.transpose(1, 2))  # (samples, Cout, Cin kh kw)
                    sums[i] += (per * per).sum(0).view(fc.weight.shape)
    finally:
        for h in handles:
            h.remove()
    return sums


def fisher_importance(model: MetaBNN, x: np.ndarray, y: np.ndarray, samples: int = DEFAULT_SAMPLES,
                      seed: int = 0, progress: bool = False, chunk: int = 250) -> list[np.ndarray]:
    """The diagonal empirical Fisher information of every layer's hidden weights (see the module
    docstring), averaged over `samples` random rows of (x, y) (all when fewer); arrays shaped like
    the layers' weights; `progress`: a progress bar on a terminal. The model is left in eval mode."""
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"importance needs training samples with one label each, got {len(x)} and {len(y)}")
    model.eval()
    idx = np.random.default_rng(seed).permutation(len(x))[:samples]
    xs = torch.as_tensor(np.asarray(x[idx], dtype=np.float32))
    ys = torch.as_tensor(np.asarray(y[idx], dtype=np.int64))
    return [(t / len(idx)).numpy() for t in squared_gradient_sums(model, xs, ys, chunk, progress)]


def check_importance(importance: Sequence, model: MetaBNN, where: str) -> list[np.ndarray]:
    """The importance arrays as float64, checked against the model: one per layer, each shaped like
    the layer's weights, finite and >= 0; ValueError naming `where` and the layer otherwise."""
    fcs = list(model.fcs)
    if len(importance) != len(fcs):
        raise ValueError(f"{where}: importance for {len(importance)} layers, the model has {len(fcs)}; "
                         "train again with `python -m export.train`")
    out = []
    for i, (a, fc) in enumerate(zip(importance, fcs)):
        a = np.asarray(a.numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
        if a.shape != tuple(fc.weight.shape):
            raise ValueError(f"{where}: importance of layer {i} is shaped {a.shape}, its weights "
                             f"{tuple(fc.weight.shape)}; train again with `python -m export.train`")
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{where}: importance of layer {i} holds NaN, inf or negative values; "
                             "train again with `python -m export.train`")
        out.append(a)
    return out


def consolidation_factors(importance: np.ndarray, c: float, top: float = DEFAULT_TOP) -> np.ndarray:
    """Per weight of one layer: `1 + (c - 1) min(1, I / q)`, q the (1 - top) quantile of I
    (top = 1: c for every weight; all I = 0: 1 everywhere)."""
    if not 0.0 < top <= 1.0:
        raise ValueError(f"the consolidated fraction must be in (0, 1], got {top}")
    if top == 1.0 or c == 1.0:
        return np.full(importance.shape, float(c))
    q = float(np.quantile(importance, 1.0 - top)) if importance.size else 0.0
    if q <= 0.0:  # more than 1 - top of the weights unused: the used ones get the full c
        return np.where(importance > 0.0, float(c), 1.0)
    return 1.0 + (float(c) - 1.0) * np.minimum(importance / q, 1.0)
