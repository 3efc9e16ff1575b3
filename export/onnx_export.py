"""The inference graph of a MetaBNN as ONNX, for onnxruntime or any ONNX tool.

Input `features` float32 (N, n_inputs), the same features PyTorch takes; output
`logits` float32 (N, n_classes). The graph is the PyTorch model in eval mode:
the input quantization, the binary weights `sign(Wh)` as constants, BatchNorm
with its running statistics, and sign between layers; a convolutional network's
Conv (1-D as 1 x K on height 1), per-channel BatchNorm, sign, MaxPool and the
flatten before its first dense layer. Exported with torch's
dynamo exporter (needs onnxscript) into one self-contained file.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from export.model import MetaBNN, sign_pm1


class InferenceNet(nn.Module):
    """The eval-mode forward of a MetaBNN with constant binary weights (no autograd functions)."""

    def __init__(self, model: MetaBNN) -> None:
        super().__init__()
        self.scale = float(model.input_scale)
        self.zp = float(model.input_zero_point)
        self.binarize = model.binarize_input
        self.layers = list(model.layers)
        for idx, (layer, fc, bn) in enumerate(zip(model.layers, model.fcs, model.bns)):
            w = sign_pm1(fc.weight.detach())
            self.register_buffer(f"w{idx}", w.contiguous() if layer.is_conv else w.t().contiguous())
            self.register_buffer(f"m{idx}", bn.running_mean.detach().clone())
            self.register_buffer(f"s{idx}", torch.sqrt(bn.running_var.detach() + bn.eps))
            self.register_buffer(f"g{idx}", bn.weight.detach().clone())
            self.register_buffer(f"b{idx}", bn.bias.detach().clone())
        self.n_layers = model.n_layers

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # noqa: D102
        q = torch.clamp(torch.round(features / self.scale) + self.zp, -128.0, 127.0)
        if self.binarize:
            h = torch.where(q >= 0, 1.0, -1.0)
        else:
            h = (q - self.zp) * self.scale
        for idx, layer in enumerate(self.layers):
            if layer.is_conv:  # Conv (1-D as 1 x K), per-channel BatchNorm, sign, MaxPool
                x = h.reshape(h.shape[0], *layer.in_shape)
                a = nn.functional.conv2d(x, getattr(self, f"w{idx}"), stride=layer.stride, padding=layer.pad)
                shape = (1, -1, 1, 1)
            else:
                a = h.reshape(h.shape[0], -1) @ getattr(self, f"w{idx}")
                shape = (1, -1)
            # BatchNorm in eval mode, written out
            mean, std = getattr(self, f"m{idx}").reshape(shape), getattr(self, f"s{idx}").reshape(shape)
            h = (a - mean) / std * getattr(self, f"g{idx}").reshape(shape) + getattr(self, f"b{idx}").reshape(shape)
            if idx != self.n_layers - 1:
                h = torch.where(h >= 0, 1.0, -1.0)
            if layer.pool != 1:
                h = nn.functional.max_pool2d(h, layer.pool_window)
        return h


def onnx_bytes(model: MetaBNN, opset: int = 18) -> bytes:
    """The ONNX file (bytes) of the model's inference graph, batch size dynamic."""
    net = InferenceNet(model).eval()
    example = torch.zeros(2, model.sizes[0])
    batch = torch.export.Dim("batch", min=1)
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)  # silences "torchvision is not installed" notes
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(
                net, (example,), str(path), dynamo=True, external_data=False, opset_version=opset,
                input_names=["features"], output_names=["logits"],
                dynamic_shapes={"features": {0: batch}}, verbose=False, report=False,
            )
            return path.read_bytes()
    finally:
        logger.setLevel(level)


def run_onnx(data: bytes, features) -> "torch.Tensor":
    """Logits of float features (numpy (N, n_inputs)) through onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"features": np.asarray(features, dtype=np.float32)})[0]
