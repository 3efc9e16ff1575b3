"""MetaAdam: Adam with synaptic metaplasticity (Laborieux et al. 2021, `Adam_meta`).

This follows the authors' published optimizer step by step:

    grad  <- grad + weight_decay * p                     (L2 decay added to the gradient)
    m     <- beta1 m + (1 - beta1) grad
    v     <- beta2 v + (1 - beta2) grad^2
    denom <- sqrt(v) + eps
    step_size <- lr * sqrt(1 - beta2^t) / (1 - beta1^t)  (bias correction folded in)
    one-dimensional p (BatchNorm):  p <- p - step_size * m / denom           (plain Adam)
    other p (hidden weights):       p <- p - step_size * m' / denom
        with m' = (1 - tanh^2(meta |p|)) m  where sign(p) * m > 0 (the step moves p
        toward zero), m' = m elsewhere.

Hidden weights are not clipped. `meta` is one value, or one per weight tensor
(tensors of more than one dimension, in the order the parameters are given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def f_meta(w: torch.Tensor, meta: float) -> torch.Tensor:
    """The metaplastic factor 1 - tanh^2(meta * |w|) (Eq. 2 of the paper)."""
    return 1.0 - torch.tanh(meta * w.abs()) ** 2


class MetaAdam(torch.optim.Optimizer):
    """Adam whose updates toward zero of hidden weights are damped by f_meta."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.005,
        meta: float | Sequence[float] = 1.35,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"invalid learning rate: {lr}")
        if eps < 0:
            raise ValueError(f"invalid epsilon: {eps}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas: {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        weights = [p for group in self.param_groups for p in group["params"] if p.dim() > 1]
        if isinstance(meta, (int, float)):
            metas = [float(meta)] * len(weights)
        else:
            metas = [float(m) for m in meta]
            if len(metas) != len(weights):
                raise ValueError(f"meta has {len(metas)} values for {len(weights)} weight tensors")
        if any(m < 0 for m in metas):
            raise ValueError(f"meta must be >= 0, got {metas}")
        self._meta = {id(p): m for p, m in zip(weights, metas)}
        self._default_meta = metas[0] if metas else (float(meta) if isinstance(meta, (int, float)) else 0.0)

    def meta_of(self, p: torch.Tensor) -> float:
        """The metaplasticity coefficient used for weight tensor p."""
        return self._meta.get(id(p), self._default_meta)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """One optimization step; returns the closure's loss, if a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("MetaAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                t = state["step"]
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                if p.dim() == 1:
                    p.addcdiv_(exp_avg, denom, value=-step_size)
                else:
                    toward_zero = torch.sign(p) * exp_avg > 0
                    damped = torch.where(toward_zero, f_meta(p, self.meta_of(p)) * exp_avg, exp_avg)
                    p.addcdiv_(damped, denom, value=-step_size)
        return loss
