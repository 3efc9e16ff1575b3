"""Fold a trained MetaBNN into the integers of a `.mbnn` blob (docs/ARITHMETIC.md).

Everything here is float64 numpy on the host; the result is a `BlobSpec`.

Pre-activations. Layer 0 with int8 input computes `a = sum_j +/-x_j` with
`x_j = q_j - zp`; PyTorch computes `a_f = sum_j +/-(x_j * input_scale)` =
`input_scale * a`. Every other layer (and a binarized layer 0) computes the same
integer `a` as PyTorch. So a layer's BatchNorm `BN(a_f) = k (a_f - mu) + beta`
with `k = gamma / sqrt(var + eps)` is, in the device's units, `k' (a - mu') + beta`
with `k' = k * unit`, `mu' = mu / unit`, `unit = input_scale` for int8 layer 0
and 1 elsewhere.

Hidden layers (sign after BatchNorm). For k' > 0 the neuron outputs +1 exactly
when `BN >= 0`, i.e. `a >= mu' - beta / k'`; a is an integer, so
`threshold = ceil(mu' - beta / k')`. The straight-through window `|BN| <= 1` is
`lo = ceil(mu' + (-1 - beta) / k')`, `hi = floor(mu' + (1 - beta) / k')`.
For k' < 0 the neuron's weights are negated (binary bits inverted, hidden
`h -> -1 - h`): the negated neuron computes `-a`, and `BN` is unchanged with
`k' -> -k' > 0`, `mu' -> -mu'` (Larq Compute Engine does the same). For k = 0 the
neuron is constant: +1 when beta >= 0 (threshold -2^31) else -1 (threshold
2^31 - 1), window empty (lo = 2^31 - 1 > hi = -2^31). Everything is clamped to
int32. `gscale_i = round(32767 * k_i / max_j |k_j|)` (k after flipping, >= 0).

Output layer (BatchNorm without sign): `logit = k'(a - mu') + beta`, so
`scale = round(k' 2^F)`, `offset = round((beta - k mu) 2^F)`, with F the largest
value <= 16 such that `|scale| * max|a| + |offset| < 2^31` for every neuron (no
saturation for any input). `gscale` keeps the sign of k. No flipping.

Hidden-weight scale (hscale_log2 = e, a weight `h` stands for `(h + 0.5) 2^-e`).
A dense layer that learns gets e = DEFAULT_LEARN_HSCALE = 7: its hidden weights
span |Wh| <= 1, larger trained weights are clamped there (signs kept). The bound
is the most protection the device's metaplasticity can give a weight (an inward
step at the bound is still damped only to 1 - tanh^2(m), 0.28 at m = 1.35), and
the finer grid gives the stochastic rounding a quarter of the variance at e = 5, whose
noise ratchets bit-input weights out to the int8 limit where they freeze
(docs/ARITHMETIC.md, "Blob settings"; docs/RESULTS.md section 6, "Fifth round").
Other layers: the finest power-of-two grid whose int8 range holds every hidden
weight of the layer, `e = floor(log2(128 / max|Wh|))`, clamped to 0..16, or the
e a checkpoint trained with `--int8-grid` was trained with. An explicit
`hscale_log2` overrides both. Hidden weights become `h = clamp(floor(Wh / 2^-e),
-128, 127)`: `(h + 0.5) 2^-e` is within half a step of Wh (unless clamped) and
the sign is kept (Wh >= 0 gives h >= 0).

Learning constants, per layer that learns:
- `meta`: the table of `meta_table(m, e)`; by default one device m for the whole
  network (`device_meta`), chosen from where the trained weights sit. M is the
  median |Wh| = |h + 0.5| 2^-e over every learning layer's hidden weights after
  consolidation. A weight at |Wh| = M is flipped by inward steps, each damped by
  `f_meta = 1 - tanh^2(m |w|) = 1 / cosh^2(m |w|)`, so it takes
  `S(m, M) = integral_0^M cosh^2(m w) dw / lr = (M / 2 + sinh(2 m M) / (4 m)) / lr`
  full steps' worth of error to flip it. The device gets the least m >= 1.0
  (DEFAULT_DEVICE_META) with `S(m, M) >= S(1.0, META_REF_MEDIAN)`: the protection
  a median weight of the consolidated MNIST network (M = 1.33, rounded down to
  META_REF_MEDIAN = 1.3) has at m = 1.0, the m measured best there; never more
  than the m the layer was trained with (m = 0 stays 0). With every weight
  consolidated alike (C = 4, the previous default) MNIST-trained networks got
  m = 1.0 and the quickstart's digits network (M = 0.33, trained with m = 10)
  m = 7.3. With the importance-weighted consolidation most weights move little,
  M falls below the reference and both get their training m (1.35, 10), the
  setting measured best with it (docs/ARITHMETIC.md, docs/RESULTS.md section 6).
  With a rehearsal set (`rehearsal`, the export default) the relearned samples
  protect the trained task, and the device gets m = 1.0 (DEFAULT_DEVICE_META, at
  most the training m) without the raise: on five MNIST task families 82.40 %
  against 81.73 % at 1.35 (device seeds 0-2; seed 0: m 0.7 81.22, m 2 78.18), and
  on the quickstart's digits 92.0 / 80.4 % (old task kept / new task) against 94.3 / 67.1 % at its raised m = 10 (docs/RESULTS.md section 6, seventh round).
  With memory slots beside the set (`memory`, the export default) the device
  gets m = 0.7 (MEMORY_DEVICE_META, at most the training m): over twenty
  permuted tasks (784-512-512-10) the twentieth is learned to 85.5 % against
  75.8 at m 1.0 and the mean is 67.6 against 65.4, while the five families'
  mean stays 84.95 against 85.05 (device seeds 0-2; seed 0: m 1.35 83.76);
  docs/RESULTS.md section 6, eighth and ninth rounds.
- `lr_q16`: the device's step for a normalized error of 1 is `lr` in weight
  units: `lr * 2^(16 + e)` hidden-weight steps in Q16 for bit input. The int8
  layer 0 multiplies by `x / 128` where PyTorch's input is `x * input_scale`, so
  its lr_q16 is multiplied by `128 * input_scale`. The device then moves each
  weight by `lr * n * input` on average (n: the error normalized by its running
  RMS), the float form in export/device_rule.py.
- Per-layer lr rule: `lr_mult` multiplies `device_lr` per layer; by default 1 for an
  int8 layer 0 and DEFAULT_BIT_LR_MULT (1/4) for bit-input layers, which move every
  weight of a neuron by the full step on every sample and otherwise saturate
  (docs/ARITHMETIC.md, "Settings that make it work on the device").
- Consolidation at export: the learning layers' int8 hidden weights become
  `floor(c (h + 0.5))`, so the trained task starts protected by metaplasticity;
  the binary weights do not change. With the checkpoint's importance
  (export/importance.py) c is set per weight, up to C = DEFAULT_CONSOLIDATE = 6
  for the DEFAULT_TOP fraction of each layer's weights the trained task needs
  most and less for the others; without it c = C for every weight.
- `meta_floor`: every entry of the metaplastic table at least `round(32768 F)`.
- `bwd_shift`: 0 for the output layer (its error is Q15 times gscale / 2^15, at
  most 32767). A hidden layer l receives `g_j = sum_i +/-delta_i` over the
  n_out(l+1) neurons above it: `bwd_shift = ceil(log2(n_out(l+1)) / 2)`, the
  growth of a sum of that many uncorrelated errors, which keeps the error's size
  about level from layer to layer and clamping rare. When the layer above is a
  convolution, an input receives the errors of its output channels times the
  kernel taps that cover it, `Cout * ceil(kh / sh) * ceil(kw / sw)` (`fan_out`).

Convolutions (format version 2, docs/FORMAT.md). A conv layer folds exactly as a
dense one, per output channel: its per-channel BatchNorm gives one (threshold,
lo, hi) and gscale per channel, a negative scale negates the channel's whole
kernel, e is chosen over the whole kernel tensor. The arrays stay in PyTorch
order ((Cout, Cin, kh, kw); the dense layer after a convolution reads PyTorch's
flatten order); `write_blob` packs them. The device sums a kernel weight's
update over the pooled output positions that received an error, so a learning
conv layer's lr_q16 is divided by the number of pooled positions (Hp * Wp): the
mean of the positions' updates, as the float gradient of a weight shared by
those positions is their sum and Adam normalizes it away. (A choice, not a
measured best: the default `--learn` keeps convolutions frozen on small boards.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from export.arch import Layer
from export.grid import quantize_floor
from export.importance import DEFAULT_TOP, check_importance, consolidation_factors
from export.model import MetaBNN
from pyruntime.format import KIND_BITS, KIND_INT8, BlobSpec, LayerSpec, meta_table

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_FRAC_BITS = 16
MAX_HSCALE = 16
LR_Q16_MAX = 2**24

#: Default device learning rate (weight units per unit of normalized error and input). 0.003 since
#: the hidden-weight grid of learning layers became 2^-7 (DEFAULT_LEARN_HSCALE): the stochastic
#: rounding's variance per sample grows as lr x grid step, so the 4x finer grid bears a larger lr;
#: 0.003-0.005 tie on five task families and beat 0.002 (docs/RESULTS.md section 6, "Sixth round").
DEFAULT_DEVICE_LR = 0.003
DEFAULT_RMS_SHIFT = 7
DEFAULT_SEED = 1
#: Multiplier of the device lr in layers with bit input (every layer but an int8 layer 0).
DEFAULT_BIT_LR_MULT = 0.25
#: Floor of the metaplastic table, as a fraction of a full step (0: the paper's table).
DEFAULT_META_FLOOR = 0.0
#: Consolidation at export: int8 hidden weights h -> floor(c (h + 0.5)), c >= 1 (1: none).
DEFAULT_CONSOLIDATE = 6.0
#: Hidden-weight scale e of a dense layer that learns, unless `hscale_log2` says otherwise: its
#: int8 hidden weights span |Wh| <= 128 * 2^-7 = 1 (see the module docstring, "Hidden-weight scale").
DEFAULT_LEARN_HSCALE = 7
#: Least m of the device's metaplastic table by default (the training m when smaller).
DEFAULT_DEVICE_META = 1.0
#: m of the device's table with memory slots beside the rehearsal set (the training m when smaller).
MEMORY_DEVICE_META = 0.7
#: Median |Wh| at which DEFAULT_DEVICE_META gives the reference protection (see `device_meta`).
META_REF_MEDIAN = 1.3


def flip_cost(m: float, median_abs: float) -> float:
    """integral_0^M dw / f_meta(m w) = M / 2 + sinh(2 m M) / (4 m): the undamped inward distance
    (in weight units) it takes to bring a hidden weight at M to zero under the table of m."""
    if m == 0:
        return float(median_abs)
    return median_abs / 2 + math.sinh(min(2 * m * median_abs, 700.0)) / (4 * m)


def device_meta(trained: float, median_abs: float | None = None, memory: int = 0) -> float:
    """The default m of the device's table for a layer trained with m = `trained` when the
    median |Wh| of the learning layers' consolidated hidden weights is `median_abs`: the least
    m >= DEFAULT_DEVICE_META with flip_cost(m, median_abs) >= flip_cost(DEFAULT_DEVICE_META,
    META_REF_MEDIAN), at most `trained` (module docstring). With a rehearsal set pass `median_abs`
    None (no raise) and its `memory` slots: with any, MEMORY_DEVICE_META instead of DEFAULT_DEVICE_META."""
    m = MEMORY_DEVICE_META if memory else DEFAULT_DEVICE_META
    if median_abs is not None and median_abs > 0:
        need = flip_cost(DEFAULT_DEVICE_META, META_REF_MEDIAN)
        if flip_cost(m, median_abs) < need:
            lo, hi = m, max(float(trained), m)
            if flip_cost(hi, median_abs) < need:
                m = hi
            else:
                for _ in range(60):  # bisection: flip_cost grows with m
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if flip_cost(mid, median_abs) < need else (lo, mid)
                m = round(hi, 3)
    return min(float(trained), m)


def median_hidden(layers: Sequence[LayerSpec]) -> float | None:
    """The median |Wh| = |h + 0.5| 2^-e over every learning layer's int8 hidden weights (None: none learns)."""
    parts = [np.abs(l.hidden.astype(np.float64).ravel() + 0.5) * 2.0**-l.hscale_log2 for l in layers if l.learns]
    return float(np.median(np.concatenate(parts))) if parts else None


@dataclass
class FoldInfo:
    """What the fold decided, per layer: which neurons were negated, the scales, who learns."""

    flipped: list[np.ndarray] = field(default_factory=list)  # bool (n_out,) per layer
    constant: list[np.ndarray] = field(default_factory=list)  # bool (n_out,) per layer
    hscale_log2: list[int] = field(default_factory=list)
    learns: list[bool] = field(default_factory=list)
    clamped: list[int] = field(default_factory=list)  # hidden weights clamped to -128..127
    meta: list[float] = field(default_factory=list)  # m of the device's table per layer
    consolidation: list[float] = field(default_factory=list)  # mean consolidation factor per layer (1: none)
    weighted: bool = False  # consolidation set per weight from the checkpoint's importance


def _bn(bn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, mu, beta) of a BatchNorm1d in eval mode, float64."""
    gamma = bn.weight.detach().double().numpy()
    beta = bn.bias.detach().double().numpy()
    mu = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    return gamma / np.sqrt(var + bn.eps), mu, beta


def _clamp32(x: np.ndarray) -> np.ndarray:
    x = np.where(np.isnan(x), 0.0, x)
    return np.clip(x, INT32_MIN, INT32_MAX).astype(np.int64)


def choose_hscale(w: np.ndarray) -> int:
    """e = floor(log2(128 / max|w|)) clamped to 0..16: the finest grid that holds every weight."""
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    if peak <= 0:
        return MAX_HSCALE
    return int(min(MAX_HSCALE, max(0, math.floor(math.log2(128.0 / peak)))))


def quantize_hidden(w: np.ndarray, e: int) -> np.ndarray:
    """int8 hidden weights h = clamp(floor(w / 2^-e), -128, 127) (the rule of export.grid.quantize_floor)."""
    return quantize_floor(torch.from_numpy(np.asarray(w, dtype=np.float64)), e).numpy().astype(np.int64)


def learning_layers(learn: str | Sequence[bool], n: int, conv: Sequence[bool] | None = None) -> list[bool]:
    """Which of n layers learn on the device: "all", "last" (only the output layer),
    "none", "dense" (every dense layer; convolutions, marked by `conv`, frozen),
    layer numbers "2,3", or one bool per layer (the `--learn` option)."""
    if isinstance(learn, str):
        conv = list(conv) if conv is not None else [False] * n
        if learn == "dense":
            return [not c for c in conv]
        if learn not in ("all", "last", "none"):
            try:
                picked = {int(v) for v in learn.split(",")}
            except ValueError:
                raise ValueError(f"--learn must be all, last, none, dense or layer numbers such as 2,3, "
                                 f"not {learn!r}") from None
            if not picked <= set(range(n)):
                raise ValueError(f"--learn {learn}: layers are numbered 0 to {n - 1}")
            return [i in picked for i in range(n)]
        return [learn == "all" or (learn == "last" and i == n - 1) for i in range(n)]
    learns = [bool(v) for v in learn]
    if len(learns) != n:
        raise ValueError(f"learn: {len(learns)} flags for {n} layers")
    return learns


def consolidate_hidden(h: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """h -> clamp(floor(c (h + 0.5)), -128, 127): every weight c times further from zero, sign kept
    (c: one factor, or one per weight shaped like h).

    `(h' + 0.5)` is within half an int8 step of `c (h + 0.5)` (the same rounding as
    `quantize_hidden`), and h' < 0 exactly when h < 0 (c >= 1).
    """
    if np.all(np.asarray(c) == 1.0):
        return h
    return np.clip(np.floor(c * (h.astype(np.float64) + 0.5)), -128, 127).astype(np.int64)


def floored_table(table: np.ndarray, floor: float) -> np.ndarray:
    """The metaplastic table with every entry at least round(32768 floor)."""
    return np.maximum(table, np.uint16(round(32768 * floor))).astype(np.uint16)


def fold_hidden_bn(k: np.ndarray, mu: np.ndarray, beta: np.ndarray, unit: float):
    """(threshold, lo, hi, gscale, flipped, constant) of hidden neurons; see the module docstring."""
    flipped = k < 0
    constant = k == 0
    kp = np.abs(k) * unit
    mup = np.where(flipped, -mu, mu) / unit
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold = np.ceil(mup - beta / kp)
        lo = np.ceil(mup + (-1.0 - beta) / kp)
        hi = np.floor(mup + (1.0 - beta) / kp)
    threshold = np.where(constant, np.where(beta >= 0, INT32_MIN, INT32_MAX), threshold)
    lo = np.where(constant, INT32_MAX, lo)
    hi = np.where(constant, INT32_MIN, hi)
    kmax = np.max(np.abs(k)) if k.size else 0.0
    gscale = np.round(32767 * np.abs(k) / kmax) if kmax > 0 else np.zeros_like(k)
    return _clamp32(threshold), _clamp32(lo), _clamp32(hi), gscale.astype(np.int64), flipped, constant


def fold_output_bn(k: np.ndarray, mu: np.ndarray, beta: np.ndarray, unit: float, a_max: int):
    """(scale, offset, gscale, F) of the output layer; see the module docstring."""
    kp = k * unit
    off = beta - k * mu
    frac = 0
    for f in range(MAX_FRAC_BITS, -1, -1):
        scale = np.round(kp * 2.0**f)
        offset = np.round(off * 2.0**f)
        if np.all(np.abs(scale) * a_max + np.abs(offset) <= INT32_MAX):
            frac = f
            break
    scale = np.round(kp * 2.0**frac)
    offset = np.round(off * 2.0**frac)
    kmax = np.max(np.abs(k)) if k.size else 0.0
    gscale = np.round(32767 * k / kmax) if kmax > 0 else np.zeros_like(k)
    return _clamp32(scale), _clamp32(offset), gscale.astype(np.int64), frac


def fan_out(above: Layer) -> int:
    """Errors summed into one input of the layer `above` when the device sends them back:
    a dense layer's n_out; a convolution's output channels times the kernel taps that
    cover one input position, ceil(kh / sh) * ceil(kw / sw)."""
    if not above.is_conv:
        return above.n_out
    return above.n_out * -(-above.kernel[0] // above.stride[0]) * -(-above.kernel[1] // above.stride[1])


def _per_layer(value, n: int, what: str) -> list:
    if value is None or isinstance(value, (int, float)):
        return [value] * n
    value = list(value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise ValueError(f"{what}: {len(value)} values for {n} layers")
    return value


def fold(
    model: MetaBNN,
    settings: dict | None = None,
    learn: str | Sequence[bool] = "all",
    hscale_log2: int | Sequence[int | None] | None = None,
    device_lr: float = DEFAULT_DEVICE_LR,
    rms_shift: int = DEFAULT_RMS_SHIFT,
    seed: int = DEFAULT_SEED,
    lr_mult: float | Sequence[float] | None = None,
    meta_floor: float = DEFAULT_META_FLOOR,
    consolidate: float | Sequence[float] = DEFAULT_CONSOLIDATE,
    meta: float | Sequence[float] | None = None,
    importance: Sequence[np.ndarray] | None = None,
    consolidate_top: float = DEFAULT_TOP,
    rehearsal: tuple[np.ndarray, np.ndarray] | None = None,
    memory: int = 0,
) -> tuple[BlobSpec, FoldInfo]:
    """Fold a MetaBNN (with its training settings) into a BlobSpec; see the module docstring.

    `learn`: "all", "last" (only the output layer), "none", "dense" (convolutions frozen),
    layer numbers "2,3", or one bool per layer.
    `lr_mult`: multipliers of `device_lr`, one or one per layer (default: 1 for an int8
    layer 0, DEFAULT_BIT_LR_MULT for bit-input layers). `meta_floor`: the least
    fraction of an inward step the metaplastic table lets through. `consolidate`
    (one or one per layer): the int8 hidden weights of the trained network are scaled
    by it (see `consolidate_hidden`), per weight from `importance` (one array per layer shaped
    like its weights, export/importance.py: the `consolidate_top` fraction of each layer's most
    important weights by the full factor, the others less) when given. `meta`: m of the device's table, one or one per layer
    (default: `device_meta` of the training m and the median consolidated hidden weight; with a
    rehearsal set, of the training m alone). `rehearsal`: the blob's rehearsal set (int8 inputs, labels;
    export/rehearsal.py), kept only when a layer learns; `memory`: the slots of RAM that keep stream
    samples for rehearsal with it (only with a set).
    """
    settings = settings or {}
    n = model.n_layers
    learns = learning_layers(learn, n, [l.is_conv for l in model.layers])
    mults = _per_layer(lr_mult, n, "lr_mult")
    if not 0.0 <= meta_floor <= 1.0:
        raise ValueError(f"meta_floor must be in 0..1, got {meta_floor}")
    cons = _per_layer(consolidate, n, "consolidate")
    if not all(c >= 1.0 for c in cons):
        raise ValueError(f"consolidate must be >= 1, got {consolidate}")
    if not 0.0 < consolidate_top <= 1.0:
        raise ValueError(f"consolidate_top must be in (0, 1], got {consolidate_top}")
    if importance is not None:
        importance = check_importance(importance, model, "importance")
    info = FoldInfo(weighted=importance is not None)
    grid = _per_layer(settings.get("int8_grid"), n, "int8_grid")
    override = _per_layer(hscale_log2, n, "hscale_log2")
    zp = model.input_zero_point
    layers: list[LayerSpec] = []
    frac_bits = 0
    for idx, (layer, fc, bn) in enumerate(zip(model.layers, model.fcs, model.bns)):
        w = fc.weight.detach().double().numpy()
        n_out, n_in = w.shape[0], layer.n_in  # n_in: features the layer reads (a conv: C * H * W)
        int8_in = idx == 0 and not model.binarize_input
        unit = model.input_scale if int8_in else 1.0
        k, mu, beta = _bn(bn)
        if override[idx] is not None:
            e = override[idx]
        elif learns[idx] and not layer.is_conv:
            e = DEFAULT_LEARN_HSCALE
        else:
            e = grid[idx] if grid[idx] is not None else choose_hscale(w)
        e = int(e)
        if not 0 <= e <= 255:
            raise ValueError(f"layer {idx}: hscale_log2 {e} outside 0..255")
        h = quantize_hidden(w, e)
        info.clamped.append(int(np.sum((w * 2.0**e >= 128) | (w * 2.0**e < -128))))
        last = idx == n - 1
        if last:
            a_max = n_in * max(abs(-128 - zp), abs(127 - zp)) if int8_in else n_in
            scale, offset, gscale, frac_bits = fold_output_bn(k, mu, beta, unit, a_max)
            params = (scale, offset)
            flipped = np.zeros(n_out, dtype=bool)
            constant = k == 0
        else:
            threshold, lo, hi, gscale, flipped, constant = fold_hidden_bn(k, mu, beta, unit)
            params = (threshold, lo, hi)
        h = np.where(flipped.reshape((-1,) + (1,) * (h.ndim - 1)), -1 - h, h)
        if learns[idx]:
            c = float(cons[idx])
            factors = c if importance is None else consolidation_factors(importance[idx], c, consolidate_top)
            h = consolidate_hidden(h, factors)
        info.consolidation.append(float(np.mean(factors)) if learns[idx] else 1.0)
        bits = (h < 0).astype(np.uint8)
        lr_q16 = 0
        if learns[idx]:
            mult = mults[idx] if mults[idx] is not None else 1.0 if int8_in else DEFAULT_BIT_LR_MULT
            lr = float(device_lr) * float(mult) * 2.0 ** (16 + e) * (128 * model.input_scale if int8_in else 1.0)
            if layer.is_conv:  # the device sums a kernel weight's update over the pooled positions: take the mean
                _, ph, pw = layer.out_shape
                lr /= ph * pw
            lr_q16 = int(min(LR_Q16_MAX, max(0, round(lr))))
        fan = 1 if last else fan_out(model.layers[idx + 1])
        bwd = math.ceil(math.log2(fan) / 2) if fan > 1 else 0
        geometry = {} if not layer.is_conv else dict(
            op=layer.op, in_shape=tuple(layer.in_shape), kernel=tuple(layer.kernel), stride=tuple(layer.stride),
            pad=tuple(layer.pad), pool=int(layer.pool))
        layers.append(LayerSpec(
            bits=bits,
            params=params,
            gscale=gscale,
            input_kind=KIND_INT8 if int8_in else KIND_BITS,
            hidden=h.astype(np.int8) if learns[idx] else None,
            lr_q16=lr_q16,
            hscale_log2=e,
            bwd_shift=bwd,
            **geometry,
        ))
        info.flipped.append(flipped)
        info.constant.append(constant)
        info.hscale_log2.append(e)
        info.learns.append(learns[idx])
    median = median_hidden(layers)
    if meta is not None:
        metas = _per_layer(meta, n, "meta")
    else:
        trained = _per_layer(settings.get("meta", 1.35), n, "meta")
        metas = [device_meta(m, median) if rehearsal is None else device_meta(m, None, memory) for m in trained]
    info.meta = [float(m) for m in metas]
    for layer, m in zip(layers, metas):
        if layer.learns:
            layer.meta = floored_table(meta_table(float(m), layer.hscale_log2), meta_floor)
    spec = BlobSpec(
        layers=layers,
        input_scale=float(model.input_scale),
        input_zero_point=int(zp),
        out_frac_bits=frac_bits,
        rms_shift=int(rms_shift),
        seed=int(seed) & 0xFFFFFFFF,
        rehearsal=rehearsal if any(info.learns) else None,
        memory=memory if rehearsal is not None and any(info.learns) else 0,
    )
    return spec, info
