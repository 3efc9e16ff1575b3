"""MetaBNN: the binarized network of Laborieux et al. (Nature Communications 12:2549, 2021).

Binary dense layers without bias, each followed by BatchNorm1d; sign activation
between layers; the output layer is dense + BatchNorm without sign. Binary
convolutions (export/arch.py: Conv2d, and Conv1d as a 1 x K Conv2d on inputs of
height 1) may come first, each followed by per-channel BatchNorm2d, the sign and
an optional max pool after the sign (the max of +/-1 values, what a
bit-packed runtime computes); the first dense layer reads the flattened output
(channel-major). The forward
pass uses the binary weights `Wb = sign(Wh)`; the gradient with respect to `Wb`
is applied to the hidden weights `Wh` unchanged (the authors' code does the same
by swapping `weight.data` and `weight.org` around the optimizer step).

Two details differ from the authors' code, both so that PyTorch computes what the
device computes:

- `sign(0)` is +1 (the device has no zero weight or activation; `torch.sign(0)` is
  0). A float that is exactly 0 almost never occurs, so this changes nothing in
  training.
- The input is quantized to the blob's int8 grid before the first layer:
  `q = clamp(round(f / input_scale) + input_zero_point, -128, 127)` and the layer
  sees `(q - input_zero_point) * input_scale`. On data already on that grid (every
  dataset of `export.data`) this is the identity. With `binarize_input`, the first
  layer sees +1 where `q >= 0` and -1 where `q < 0`, exactly the device's rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from export.arch import Layer, dense_layers

#: Width of the uniform initialization of hidden weights: U(-INIT_WIDTH/2, INIT_WIDTH/2).
INIT_WIDTH = 0.1


def sign_pm1(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0, -1 elsewhere (sign with sign(0) = +1, as on the device)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class SignActivation(torch.autograd.Function):
    """Forward sign(x); backward passes the gradient where |x| <= 1 (straight-through, clipped)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class _BinarizeWeight(torch.autograd.Function):
    """Forward sign(Wh); backward hands the gradient of Wb to Wh unchanged."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return sign_pm1(w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


class BinaryLinear(nn.Linear):
    """Dense layer without bias whose forward uses sign(weight); `weight` holds the hidden weights."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out, bias=False)
        nn.init.uniform_(self.weight, -INIT_WIDTH / 2, INIT_WIDTH / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return nn.functional.linear(x, _BinarizeWeight.apply(self.weight))


class BinaryConv2d(nn.Conv2d):
    """2-D convolution without bias whose forward uses sign(weight); `weight` (Cout, Cin, kh, kw)
    holds the hidden weights. Zero padding: a padded position adds 0 to a pre-activation."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int],
                 pad: tuple[int, int]) -> None:
        super().__init__(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        nn.init.uniform_(self.weight, -INIT_WIDTH / 2, INIT_WIDTH / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self._conv_forward(x, _BinarizeWeight.apply(self.weight), None)


class MetaBNN(nn.Module):
    """A binarized network: `sizes` = [inputs, hidden..., classes] for an MLP, or
    `arch` = its layers (export.arch.Layer or their dicts, see export/arch.py).

    `sizes` is always the input features of every layer then the classes (for a
    convolution, C * H * W of its input). `input_scale` / `input_zero_point` are
    the blob's input quantization (see the module docstring); `binarize_input`
    makes the first layer read sign bits.
    """

    def __init__(
        self,
        sizes: Sequence[int] | None = None,
        binarize_input: bool = False,
        input_scale: float = 1.0 / 256.0,
        input_zero_point: int = -128,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        arch: Sequence[Layer | dict] | None = None,
    ) -> None:
        super().__init__()
        if arch is None:
            if sizes is None:
                raise ValueError("give sizes (a dense network) or arch (export/arch.py)")
            sizes = [int(s) for s in sizes]
            if len(sizes) < 2 or min(sizes) < 1:
                raise ValueError(f"sizes must list at least inputs and classes, all >= 1; got {sizes}")
            layers = dense_layers(sizes)
        else:
            layers = [l if isinstance(l, Layer) else Layer.from_dict(l) for l in arch]
            if not layers or layers[-1].op != "dense":
                raise ValueError("arch must end with a dense output layer")
            for a, b in zip(layers[:-1], layers[1:]):
                if a.n_features != b.n_in:
                    raise ValueError(f"arch: a layer of {b.n_in} inputs follows one of {a.n_features} outputs")
            derived = [l.n_in for l in layers] + [layers[-1].n_out]
            if sizes is not None and [int(s) for s in sizes] != derived:
                raise ValueError(f"sizes {list(sizes)} do not match the architecture's {derived}")
            sizes = derived
        self.layers = layers
        self.sizes = sizes
        self.binarize_input = bool(binarize_input)
        self.input_scale = float(input_scale)
        self.input_zero_point = int(input_zero_point)
        self.fcs = nn.ModuleList(
            BinaryConv2d(l.in_shape[0], l.n_out, l.kernel, l.stride, l.pad) if l.is_conv else BinaryLinear(l.n_in, l.n_out)
            for l in layers)
        self.bns = nn.ModuleList(
            (nn.BatchNorm2d if l.is_conv else nn.BatchNorm1d)(l.n_out, eps=bn_eps, momentum=bn_momentum)
            for l in layers)

    @property
    def is_conv(self) -> bool:
        """True when the network has a convolution."""
        return any(l.is_conv for l in self.layers)

    @property
    def n_layers(self) -> int:
        """Number of dense layers."""
        return len(self.fcs)

    def config(self) -> dict:
        """Constructor arguments, for a checkpoint (`arch` only for a convolutional network)."""
        extra = {"arch": [l.to_dict() for l in self.layers]} if self.is_conv else {}
        return {
            **extra,
            "sizes": list(self.sizes),
            "binarize_input": self.binarize_input,
            "input_scale": self.input_scale,
            "input_zero_point": self.input_zero_point,
            "bn_momentum": self.bns[0].momentum,
            "bn_eps": self.bns[0].eps,
        }

    def quantize_input(self, f: torch.Tensor) -> torch.Tensor:
        """int8 codes q (as float) of features f: clamp(round(f / scale) + zp, -128, 127),
        the rule of pyruntime.format.quantize written for tensors (training needs them)."""
        return torch.clamp(torch.round(f / self.input_scale) + self.input_zero_point, -128, 127)

    def first_input(self, f: torch.Tensor) -> torch.Tensor:
        """What layer 0 reads: (q - zp) * scale, or +/-1 (sign of q) with binarize_input."""
        q = self.quantize_input(f.reshape(f.shape[0], -1).float())
        if self.binarize_input:
            return torch.where(q >= 0, 1.0, -1.0)
        return (q - self.input_zero_point) * self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of features (N, inputs) (the flattened (C, H, W) input of a CNN)."""
        h = self.first_input(x)
        last = self.n_layers - 1
        for idx, (layer, fc, bn) in enumerate(zip(self.layers, self.fcs, self.bns)):
            h = h.reshape(h.shape[0], *layer.in_shape) if layer.is_conv else h.reshape(h.shape[0], -1)
            h = bn(fc(h))
            if idx != last:
                h = SignActivation.apply(h)
            if layer.pool != 1:
                h = nn.functional.max_pool2d(h, layer.pool_window)
        return h

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
        """Predicted classes of x in eval mode (restores the previous mode)."""
        was = self.training
        self.eval()
        try:
            return torch.cat([self(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
        finally:
            self.train(was)

    def hidden_weights(self) -> list[torch.Tensor]:
        """The hidden weights Wh of every layer, first layer first."""
        return [fc.weight for fc in self.fcs]


@torch.no_grad()
def authors_bn_init(model: MetaBNN) -> None:
    """BatchNorm scales gamma ~ U(0, 1), as PyTorch 1.1 initialized them in the authors' runs.

    (Laborieux-Axel/SynapticMetaplasticityBNN ran on PyTorch 1.1, whose BatchNorm
    `reset_parameters` drew the weight uniformly in [0, 1); their PR #4 notes it
    matters for Figs. 2d and 4b. PyTorch >= 1.2 starts gamma at 1.) Uses torch's
    global generator: seed it first.
    """
    for bn in model.bns:
        bn.weight.uniform_(0.0, 1.0)

