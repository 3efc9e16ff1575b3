"""The int8 grid of the device's hidden weights, for training in PyTorch.

A hidden weight `h` (int8, -128..127) stands for `(h + 0.5) * 2^-e` with
`e = hscale_log2` (docs/FORMAT.md). Training "on the grid" keeps every hidden
weight on one of those 256 values: after each optimizer step the weights are
rounded stochastically (unbiased, as the device rounds its updates), so a model
trained that way exports with `h = floor(Wh / 2^-e)` exactly, without rounding
loss, provided the exporter uses the same `e` (it reads it from the checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

H_MIN, H_MAX = -128, 127


def quantize_floor(w: torch.Tensor, hscale_log2: int) -> torch.Tensor:
    """The exporter's rule: h = clamp(floor(w / 2^-e), -128, 127); keeps the sign of w."""
    return torch.clamp(torch.floor(w * 2.0**hscale_log2), H_MIN, H_MAX)


def to_weight(h: torch.Tensor, hscale_log2: int) -> torch.Tensor:
    """The float value (h + 0.5) * 2^-e of int8 hidden weights."""
    return (h + 0.5) * 2.0**-hscale_log2


@torch.no_grad()
def snap_(w: torch.Tensor, hscale_log2: int, generator: torch.Generator | None = None,
          stochastic: bool = True) -> torch.Tensor:
    """Move w in place onto the grid: stochastic rounding of w / 2^-e - 0.5 (or floor); returns w."""
    if stochastic:
        t = w * 2.0**hscale_log2 - 0.5
        u = torch.rand(w.shape, generator=generator, dtype=w.dtype, device=w.device)
        h = torch.clamp(torch.floor(t + u), H_MIN, H_MAX)
    else:
        h = quantize_floor(w, hscale_log2)
    w.copy_(to_weight(h, hscale_log2))
    return w


class GridConstraint:
    """Keeps the hidden weights of a MetaBNN's layers on their int8 grids.

    `hscale_log2` gives e per layer (None: that layer stays float). Call
    `apply()` after each optimizer step; the constructor snaps the initial
    weights with floor (the exporter's rule).
    """

    def __init__(self, model: torch.nn.Module, hscale_log2: Sequence[int | None], seed: int = 0) -> None:
        weights = model.hidden_weights()
        if len(hscale_log2) != len(weights):
            raise ValueError(f"int8 grid: {len(hscale_log2)} scales for {len(weights)} layers")
        self.pairs = [(w, e) for w, e in zip(weights, hscale_log2) if e is not None]
        self.generator = torch.Generator().manual_seed(seed)
        for w, e in self.pairs:
            snap_(w.data, e, stochastic=False)

    def apply(self) -> None:
        """Round every constrained hidden weight back onto its grid."""
        for w, e in self.pairs:
            snap_(w.data, e, self.generator)
