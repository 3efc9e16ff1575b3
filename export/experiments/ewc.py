"""Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017), the paper's comparison.

After each task the diagonal empirical Fisher information of every hidden-weight
tensor is estimated from `samples` training samples of that task (the paper:
5000), and training on later tasks adds

    lambda / 2 * sum over earlier tasks t, weights w of  F_t[w] * (Wh[w] - Wh_t*[w])^2

to the loss (the paper: lambda = 5000). BatchNorm parameters are not
consolidated (the paper keeps them per task).

Per-sample squared gradients are computed in one pass
(`export.importance.squared_gradient_sums`, shared with export's consolidation:
sum_i (delta_i x_i^T)^2 = (delta^2)^T (x^2) for a dense layer). BatchNorm runs on fixed statistics
for that pass (samples independent): its running statistics, or (when the model
keeps none, the paper's per-task BatchNorm) statistics measured on the task's data.

Anchors (`anchor`). "binary", the default, is the authors' comparison
(Laborieux-Axel/SynapticMetaplasticityBNN, `EWC_loss` and `estimate_fisher`): their
stored parameters are taken after the Fisher pass, when the layers hold the binary
weights sign(Wh*), and the penalty is computed in the forward pass on sign(Wh),
its gradient reaching Wh straight through: `F (sign(Wh) - sign(Wh*))^2`, which
acts only on weights whose sign changed. "hidden" (a labelled variant, the
textbook EWC) anchors the hidden weights themselves, `F (Wh - Wh*)^2`, which also
pulls every consolidated hidden weight back toward |Wh*| when its sign never
changes.
"""

from __future__ import annotations

import torch

from export.importance import squared_gradient_sums
from export.model import MetaBNN


@torch.no_grad()
def _batch_stats(model: MetaBNN, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Mean and variance of every BatchNorm's input on x (for a model that keeps no running statistics)."""
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [bn.register_forward_pre_hook(lambda m, inp: stats.append((inp[0].mean(0), inp[0].var(0, unbiased=False))))
             for bn in model.bns]
    was = model.training
    model.train()
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return stats


def fisher_diagonal(model: MetaBNN, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> list[torch.Tensor]:
    """Empirical Fisher diagonal (mean over samples of the squared per-sample gradient) of each hidden weight tensor."""
    no_running = [bn.running_mean is None for bn in model.bns]
    if any(no_running):
        stats = _batch_stats(model, x[: min(len(x), 5000)])
    saved = []
    for bn, (mu, var), missing in zip(model.bns, stats if any(no_running) else [(None, None)] * len(model.bns), no_running):
        saved.append((bn.running_mean, bn.running_var, bn.track_running_stats))
        if missing:
            bn.running_mean, bn.running_var, bn.track_running_stats = mu.clone(), var.clone(), True
    was = model.training
    model.eval()
    try:
        sums = squared_gradient_sums(model, x, y, batch)
    finally:
        model.train(was)
        for bn, (rm, rv, tr), missing in zip(model.bns, saved, no_running):
            if missing:
                bn.running_mean, bn.running_var, bn.track_running_stats = rm, rv, tr
    return [(t / len(x)).to(w.dtype) for t, w in zip(sums, model.hidden_weights())]


class EWC:
    """The EWC penalty over all consolidated tasks."""

    def __init__(self, lam: float = 5000.0, samples: int = 5000, anchor: str = "binary") -> None:
        if anchor not in ("binary", "hidden"):
            raise ValueError(f"EWC anchor must be binary or hidden, got {anchor!r}")
        self.lam = float(lam)
        self.samples = int(samples)
        self.anchor = anchor
        self.fishers: list[list[torch.Tensor]] = []
        self.anchors: list[list[torch.Tensor]] = []

    def consolidate(self, model: MetaBNN, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Store Fisher and hidden weights after a task (from `samples` random samples of its training set)."""
        idx = torch.randperm(len(x), generator=generator)[: self.samples]
        self.fishers.append(fisher_diagonal(model, x[idx], y[idx]))
        self.anchors.append([self._anchored(w).detach().clone() for w in model.hidden_weights()])

    def _anchored(self, w: torch.Tensor) -> torch.Tensor:
        """The quantity the penalty compares: sign(w) with a straight-through gradient, or w."""
        if self.anchor == "hidden":
            return w
        return w + (torch.where(w >= 0, 1.0, -1.0) - w).detach()

    def penalty(self, model: MetaBNN) -> torch.Tensor:
        """lambda / 2 * sum F (a(Wh) - a(Wh*))^2, a = sign or identity (0 before the first consolidation)."""
        if not self.fishers:
            return torch.zeros(())
        total = torch.zeros(())
        for fish, anchor in zip(self.fishers, self.anchors):
            for f, a, w in zip(fish, anchor, model.hidden_weights()):
                total = total + (f * (self._anchored(w) - a) ** 2).sum()
        return 0.5 * self.lam * total
