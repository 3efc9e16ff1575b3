"""The reference's conv layers against PyTorch: the forward pass of random conv
networks (zero padding, strides, floor-mode max pooling of +-1 maps) equals
torch's conv2d / max_pool2d on the same +-1 or int8 values, and the error
routing of learning (pooling backward, the transposed conv, the kernel-weight
sums over positions) equals torch's autograd. The C runtime is held to the
reference bit for bit by tests/test_bitexact.py."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from pyruntime import reference  # noqa: E402
from pyruntime.format import KIND_BITS, KIND_INT8, LayerSpec, write_blob  # noqa: E402
from pyruntime.testing import random_convs, random_spec  # noqa: E402


def torch_logits(spec, x: np.ndarray) -> np.ndarray:
    """The integer logits of a blob spec computed with torch (float64, exact for these sizes)."""
    first = spec.layers[0]
    act = torch.tensor(x.astype(np.float64) - spec.input_zero_point if first.input_kind == KIND_INT8
                       else np.where(x < 0, -1.0, 1.0))
    for idx, (ls, shape) in enumerate(zip(spec.layers, spec.in_shapes())):
        w = torch.tensor(1.0 - 2 * ls.bits.astype(np.float64))
        if ls.is_conv:
            a = F.conv2d(act.reshape(len(x), *shape), w, stride=ls.stride, padding=ls.pad)
            threshold = torch.tensor(ls.params[0].astype(np.float64))[None, :, None, None]
            act = F.max_pool2d(torch.where(a >= threshold, 1.0, -1.0).double(), ls.pool_hw())
            continue
        a = act.reshape(len(x), -1) @ w.T
        if idx < len(spec.layers) - 1:
            act = torch.where(a >= torch.tensor(ls.params[0].astype(np.float64)), 1.0, -1.0).double()
    scale, offset = spec.layers[-1].params
    return np.clip(scale.astype(np.int64) * a.numpy().astype(np.int64) + offset, -(2**31), 2**31 - 1)


@pytest.mark.parametrize("seed", range(24))
def test_forward_equals_torch(seed: int) -> None:
    """Random 1-D and 2-D conv networks, int8 and bit input."""
    rng = np.random.default_rng(seed)
    in_shape, convs = random_convs(rng)
    kind = (KIND_INT8, KIND_BITS)[seed % 2]
    spec = random_spec(rng, [int(np.prod(in_shape)), 9, 5], kind, in_shape=in_shape, convs=convs)
    x = rng.integers(-128, 128, (8, spec.n_inputs)).astype(np.int8)
    model = reference.Model.load(write_blob(spec))
    np.testing.assert_array_equal(model.infer(x), torch_logits(spec, x))


@pytest.mark.parametrize("seed", range(12))
def test_error_routing_equals_autograd(seed: int) -> None:
    """unpool (first maximum of each window), conv_input_sum and conv_weight_sum are the
    gradients torch's autograd gives for max_pool2d and conv2d."""
    rng = np.random.default_rng(seed)
    c, h, w, o = (int(v) for v in (rng.integers(1, 4), rng.integers(6, 10), rng.integers(6, 10), rng.integers(1, 5)))
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    pad = (int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1])))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    signs = rng.choice([-1, 1], (o, c, *kernel))
    ls = LayerSpec(np.zeros(signs.shape, np.uint8), (), np.zeros(o), op="conv2d", in_shape=(c, h, w),
                   kernel=kernel, stride=stride, pad=pad, pool=2)
    x = torch.tensor(rng.choice([-1.0, 1.0], (1, c, h, w)), requires_grad=True)
    weight = torch.tensor(signs.astype(np.float64), requires_grad=True)
    a = F.conv2d(x, weight, stride=stride, padding=pad)
    ho, wo = a.shape[2:]
    s = torch.where(a >= 0, 1.0, -1.0).double().requires_grad_(True)
    pooled = F.max_pool2d(s, 2)
    grad_pooled = torch.tensor(rng.integers(-5, 6, pooled.shape).astype(np.float64))
    pooled.backward(grad_pooled)
    arg = np.argmax(reference.pool_windows(s.detach().numpy()[0], (2, 2)), axis=-1)
    spread = reference.unpool(grad_pooled.numpy()[0].astype(np.int64), arg, (2, 2), (ho, wo))
    np.testing.assert_array_equal(spread, s.grad.numpy()[0])
    d = rng.integers(-9, 10, (o, ho, wo))
    a.backward(torch.tensor(d[None].astype(np.float64)))
    np.testing.assert_array_equal(reference.conv_input_sum(d, signs, ls), x.grad.numpy()[0])
    np.testing.assert_array_equal(reference.conv_weight_sum(d, x.detach().numpy()[0].astype(np.int64), ls),
                                  weight.grad.numpy())
