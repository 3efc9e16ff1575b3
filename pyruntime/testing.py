"""Random but sensible .mbnn models for tests and benchmarks: thresholds near the
middle of each neuron's range, STE windows that open for a fair share of
samples, a few constant neurons, learning on any subset of layers.

In the package (not in tests/) so that tests, benchmarks and the golden-data
scripts import it the same way: `from pyruntime.testing import random_spec`."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from pyruntime.format import KIND_BITS, KIND_INT8, BlobSpec, LayerSpec, meta_table


@dataclass(frozen=True)
class Conv:
    """The geometry of one conv layer for random_spec: op "conv1d" or "conv2d",
    output channels, (kh, kw), (sh, sw), (ph, pw), pool."""

    op: str
    channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    pool: int = 1


def random_spec(
    rng: np.random.Generator,
    sizes: list[int],
    input_kind: int = KIND_INT8,
    learns: list[bool] | None = None,
    input_zero_point: int | None = None,
    in_shape: tuple[int, int, int] | None = None,
    convs: list[Conv] = (),
) -> BlobSpec:
    """A model with layer widths `sizes` (inputs first); `learns[l]` says whether layer l learns.

    With `convs`, the network starts with those conv layers on input maps of
    `in_shape` (C, H, W) (sizes[0] must be C * H * W), and sizes[1:] are the
    widths of the dense layers after them (the last: the classes)."""
    n_layers = len(convs) + len(sizes) - 1
    learns = learns if learns is not None else [True] * n_layers
    frac_bits = int(rng.integers(8, 21))
    layers = []
    shape = in_shape
    for idx in range(n_layers):
        conv = convs[idx] if idx < len(convs) else None
        kind = input_kind if idx == 0 else KIND_BITS
        geometry: dict = {}
        if conv is not None:
            geometry = {"op": conv.op, "in_shape": shape, "kernel": conv.kernel, "stride": conv.stride,
                        "pad": conv.pad, "pool": conv.pool}
            wshape: tuple[int, ...] = (conv.channels, shape[0], *conv.kernel)
        else:
            d = idx - len(convs)
            wshape = (sizes[d + 1], int(np.prod(shape)) if shape is not None and d == 0 else sizes[d])
        n_out, n_in = wshape[0], int(np.prod(wshape[1:]))
        hidden = np.clip(rng.normal(0, 50, wshape).round(), -128, 127).astype(np.int8)
        spread = math.sqrt(n_in) * (60 if kind == KIND_INT8 else 1)
        if idx < n_layers - 1:
            threshold = rng.normal(0, spread * 0.5, n_out).round().astype(np.int64)
            width = np.abs(rng.normal(spread, spread * 0.5, n_out)).round().astype(np.int64)
            lo, hi = threshold - width, threshold + width
            const = rng.random(n_out) < 0.05
            threshold[const] = rng.choice([-(2**31), 2**31 - 1], const.sum())
            lo[const], hi[const] = 1, 0
            params = (threshold, lo, hi)
            gscale = rng.integers(0, 32768, n_out)
        else:
            one = 2.0 ** frac_bits  # logits of a few units: a is about +/- spread
            scale = one * 2 / spread * rng.uniform(-0.5, 1, n_out)
            params = (scale.round(), (one * rng.uniform(-1, 1, n_out)).round())
            gscale = rng.integers(-32767, 32768, n_out)
        hscale = int(rng.integers(3, 8))
        layer = LayerSpec(
            bits=(hidden < 0).astype(np.uint8),
            params=tuple(np.asarray(p, dtype=np.int64) for p in params),
            gscale=gscale,
            input_kind=kind,
            hidden=hidden if learns[idx] else None,
            meta=meta_table(float(rng.uniform(0, 3)), hscale) if learns[idx] else None,
            lr_q16=int(rng.integers(1 << 12, 1 << 20)) if learns[idx] else 0,
            hscale_log2=hscale,
            bwd_shift=int(rng.integers(0, 7)),
            **geometry,
        )
        layers.append(layer)
        shape = layer.out_shape() if conv is not None else None
    zp = int(rng.integers(-128, 128)) if input_zero_point is None else input_zero_point
    return BlobSpec(
        layers,
        input_zero_point=zp,
        out_frac_bits=frac_bits,
        rms_shift=int(rng.integers(0, 11)),
        seed=int(rng.integers(0, 2**32)),
    )


def random_convs(rng: np.random.Generator, max_layers: int = 3) -> tuple[tuple[int, int, int], list[Conv]]:
    """A random input shape and conv stack: 1-D or 2-D, odd sizes, strides,
    padding and pooling, every output map non-empty."""
    two_d = bool(rng.integers(0, 2))
    shape = (int(rng.integers(1, 5)), int(rng.integers(3, 12)) if two_d else 1, int(rng.integers(3, 24)))
    in_shape, convs = shape, []
    for _ in range(int(rng.integers(1, max_layers + 1))):
        c, h, w = shape
        kh = int(rng.integers(1, min(h, 4) + 1)) if two_d else 1
        kw = int(rng.integers(1, min(w, 5) + 1))
        pad = (int(rng.integers(0, kh)) if two_d else 0, int(rng.integers(0, kw)))
        stride = (int(rng.integers(1, 3)) if two_d else 1, int(rng.integers(1, 3)))
        ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (w + 2 * pad[1] - kw) // stride[1] + 1
        pool = int(rng.integers(1, 4))
        pool = pool if pool <= wo and (not two_d or pool <= ho) else 1
        conv = Conv("conv2d" if two_d else "conv1d", int(rng.integers(1, 40)), (kh, kw), stride, pad, pool)
        convs.append(conv)
        shape = (conv.channels, ho // pool if two_d else 1, wo // pool)
        if (two_d and min(shape[1:]) < 2) or (not two_d and shape[2] < 2):
            break
    return in_shape, convs


def random_stream(rng: np.random.Generator, n: int, n_inputs: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """n int8 samples and labels; labels depend on the inputs so that there is something to learn."""
    x = rng.integers(-128, 128, (n, n_inputs)).astype(np.int8)
    proj = rng.normal(size=(n_inputs, n_classes))
    y = np.argmax(x.astype(np.float64) @ proj, axis=1)
    return x, y.astype(np.int64)


def golden_io(blob: bytes, rng: np.random.Generator, n_infer: int, n_learn: int) -> tuple[dict, bytes]:
    """What the reference computes for a blob (the key format of tests/data/golden_io.json):
    logits and predictions of n_infer samples, then n_learn learning steps; and the state after."""
    from pyruntime.reference import Model

    model = Model.load(blob)
    x_inf, _ = random_stream(rng, n_infer, model.n_inputs, model.n_classes)
    x_learn, y_learn = random_stream(rng, n_learn, model.n_inputs, model.n_classes)
    io = {
        "infer_inputs": x_inf.tolist(),
        "infer_logits": model.infer(x_inf).tolist(),
        "infer_predictions": model.predict(x_inf).tolist(),
        "learn_inputs": x_learn.tolist(),
        "learn_labels": y_learn.tolist(),
        "learn_predictions": model.learn(x_learn, y_learn).tolist(),
        "learn_losses": model.last_losses.tolist(),
    }
    state = model.state()
    io.update(
        state_size=len(state),
        state_crc_after_learning=zlib.crc32(state),
        step_after_learning=model.step,
        logits_after_learning=model.infer(x_inf).tolist(),
    )
    return io, state
