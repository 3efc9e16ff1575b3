"""Random but sensible .mbnn models for tests and benchmarks: thresholds near the
middle of each neuron's range, STE windows that open for a fair share of
samples, a few constant neurons, learning on any subset of layers.

In the package (not in tests/) so that tests, benchmarks and the golden-data
scripts import it the same way: `from pyruntime.testing import random_spec`."""

from __future__ import annotations

import math
import zlib

import numpy as np

from pyruntime.format import KIND_BITS, KIND_INT8, BlobSpec, LayerSpec, meta_table


def random_spec(
    rng: np.random.Generator,
    sizes: list[int],
    input_kind: int = KIND_INT8,
    learns: list[bool] | None = None,
    input_zero_point: int | None = None,
) -> BlobSpec:
    """A model with layer widths `sizes` (inputs first); `learns[l]` says whether layer l learns."""
    n_layers = len(sizes) - 1
    learns = learns if learns is not None else [True] * n_layers
    frac_bits = int(rng.integers(8, 21))
    layers = []
    for idx in range(n_layers):
        n_in, n_out = sizes[idx], sizes[idx + 1]
        kind = input_kind if idx == 0 else KIND_BITS
        hidden = np.clip(rng.normal(0, 50, (n_out, n_in)).round(), -128, 127).astype(np.int8)
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
        layers.append(
            LayerSpec(
                bits=(hidden < 0).astype(np.uint8),
                params=tuple(np.asarray(p, dtype=np.int64) for p in params),
                gscale=gscale,
                input_kind=kind,
                hidden=hidden if learns[idx] else None,
                meta=meta_table(float(rng.uniform(0, 3)), hscale) if learns[idx] else None,
                lr_q16=int(rng.integers(1 << 12, 1 << 20)) if learns[idx] else 0,
                hscale_log2=hscale,
                bwd_shift=int(rng.integers(0, 7)),
            )
        )
    zp = int(rng.integers(-128, 128)) if input_zero_point is None else input_zero_point
    return BlobSpec(
        layers,
        input_zero_point=zp,
        out_frac_bits=frac_bits,
        rms_shift=int(rng.integers(0, 11)),
        seed=int(rng.integers(0, 2**32)),
    )


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
