"""The integer arithmetic of metabnn in numpy, written for clarity: the executable
form of docs/ARITHMETIC.md.

The C runtime must match this module bit for bit: logits, predictions, hidden
weights, error statistics and the learned-state bytes after any number of
learning steps. Numbers are held in int64 arrays; every value stays in the range
ARITHMETIC.md gives it, so none of them wraps. `>>` on numpy and Python integers
is the floor shift the document calls asr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pyruntime import api
from pyruntime.api import BlobLike
from pyruntime.errors import MbnnError
from pyruntime.format import (
    KIND_INT8,
    MEMORY_SALT,
    REHEARSAL_SALT,
    BlobSpec,
    LayerSpec,
    LearnedState,
    Memory,
    StateError,
    align4,
    blob_crc,
    quantize,
    read_blob,
    read_state,
    runtime_columns,
    words_per_row,
    write_state,
)

# 65536 * 2^(-k/16), k = 0..16, and round(2^16 * log2(e)) (ARITHMETIC.md step 2).
EXP2_TABLE = np.array(
    [65536, 62757, 60097, 57549, 55109, 52773, 50535, 48393, 46341,
     44376, 42495, 40693, 38968, 37316, 35734, 34219, 32768], dtype=np.int64)
LOG2E_Q16 = 94548
ONE_Q15 = 32768
DELTA_MAX = 32767
NORM_MAX = 4096
STEP_MAX = 1 << 23
CONV_D_MAX = 1 << 24  # a conv weight's change summed over positions, Q16
GOLDEN_RATIO_32 = 0x9E3779B9
MASK32 = 0xFFFFFFFF


def mix32(x: np.ndarray | int) -> np.ndarray:
    """The lowbias32 integer hash (C. Wellons, 2018) on uint32 values, elementwise."""
    x = np.asarray(x, dtype=np.uint64) & MASK32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return x


def rand16_of(key: int, idx: np.ndarray) -> np.ndarray:
    """rand16 of the weights numbered idx (ARITHMETIC.md "The random numbers"): one
    draw mix(key + (idx >> 1)) serves weights 2t and 2t + 1, its low half the even
    one, its high half the odd one."""
    word = mix32((idx >> np.uint64(1)) + np.uint64(key))  # mix32 reduces mod 2^32
    return ((word >> ((idx & np.uint64(1)) * np.uint64(16))) & np.uint64(0xFFFF)).astype(np.int64)


def exp2neg(d: np.ndarray, frac_bits: int) -> np.ndarray:
    """65536 * exp(-d / 2^F) for d >= 0: base-2 exponent, 17-entry table, linear interpolation."""
    t = (d * LOG2E_Q16) >> frac_bits
    ip = t >> 16
    fp = t - (ip << 16)
    k = fp >> 12
    r = fp - (k << 12)
    v = EXP2_TABLE[k] - (((EXP2_TABLE[k] - EXP2_TABLE[k + 1]) * r) >> 12)
    return np.where(ip >= 17, 0, v >> np.minimum(ip, 16))


def tdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer quotient rounded toward zero (C99 division), for b > 0."""
    return np.sign(a) * (np.abs(a) // b)


# ------------------------------------------------------------ conv layers
# Maps are (C, H, W) with a leading sample axis where the name says so. A
# padded position of a +/-1 map is 0 (PyTorch's zero padding), of the int8
# map x - zero_point also 0 (the input zero point): it adds nothing.


def _taps(kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]):
    """For each kernel position (ky, kx): the slices of the padded input it meets."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    for ky in range(kh):
        for kx in range(kw):
            yield ky, kx, slice(ky, ky + sh * (ho - 1) + 1, sh), slice(kx, kx + sw * (wo - 1) + 1, sw)


def _pad_hw(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """Zero padding of the last two axes."""
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(pad[0], pad[0]), (pad[1], pad[1])])


def conv_preact(x: np.ndarray, signs: np.ndarray, ls: LayerSpec) -> np.ndarray:
    """Pre-activations (N, Cout, Ho, Wo) of maps x (N, Cin, H, W) through +/-1 kernels (Cout, Cin, kh, kw)."""
    xp = _pad_hw(x, ls.pad)
    out_hw = ls.conv_out_hw()
    a = np.zeros((len(x), signs.shape[0], *out_hw), dtype=np.int64)
    for ky, kx, ys, xs in _taps(ls.kernel, ls.stride, out_hw):
        a += np.einsum("nchw,oc->nohw", xp[:, :, ys, xs], signs[:, :, ky, kx])
    return a


def pool_windows(v: np.ndarray, pool: tuple[int, int]) -> np.ndarray:
    """(..., Ho, Wo) -> (..., Ho // ph, Wo // pw, ph * pw): the values of each pooling window,
    row-major in the window (floor mode: the rows and columns past the last window are dropped)."""
    *lead, ho, wo = v.shape
    (ph, pw) = pool
    hp, wp = ho // ph, wo // pw
    v = v[..., : hp * ph, : wp * pw].reshape(*lead, hp, ph, wp, pw)
    return np.moveaxis(v, -3, -2).reshape(*lead, hp, wp, ph * pw)


def unpool(v: np.ndarray, arg: np.ndarray, pool: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """(C, Hp, Wp) values put at the window positions arg -> (C, Ho, Wo), zero elsewhere."""
    c, hp, wp = v.shape
    (ph, pw) = pool
    spread = np.zeros((c, hp, wp, ph * pw), dtype=np.int64)
    np.put_along_axis(spread, arg[..., None], v[..., None], axis=-1)
    out = np.zeros((c, *out_hw), dtype=np.int64)
    out[:, : hp * ph, : wp * pw] = np.moveaxis(spread.reshape(c, hp, wp, ph, pw), 2, 3).reshape(c, hp * ph, wp * pw)
    return out


def conv_input_sum(d: np.ndarray, signs: np.ndarray, ls: LayerSpec) -> np.ndarray:
    """The transposed conv: g (Cin, H, W), g[c, y, x] = sum over the kernel taps and
    output positions that read (c, y, x) of sign * d[o, oy, ox] (d: (Cout, Ho, Wo))."""
    cin, h, w = ls.in_shape
    gp = np.zeros((cin, h + 2 * ls.pad[0], w + 2 * ls.pad[1]), dtype=np.int64)
    for ky, kx, ys, xs in _taps(ls.kernel, ls.stride, d.shape[1:]):
        gp[:, ys, xs] += np.einsum("ohw,oc->chw", d, signs[:, :, ky, kx])
    return gp[:, ls.pad[0] : ls.pad[0] + h, ls.pad[1] : ls.pad[1] + w]


def conv_weight_sum(s: np.ndarray, x: np.ndarray, ls: LayerSpec) -> np.ndarray:
    """(Cout, Cin, kh, kw): for each kernel weight, the sum over output positions of
    s[o, oy, ox] times the input value it reads (s: (Cout, Ho, Wo), x: (Cin, H, W))."""
    xp = _pad_hw(x, ls.pad)
    out = np.zeros((s.shape[0], x.shape[0], *ls.kernel), dtype=np.int64)
    for ky, kx, ys, xs in _taps(ls.kernel, ls.stride, s.shape[1:]):
        out[:, :, ky, kx] = np.einsum("ohw,chw->oc", s, xp[:, ys, xs])
    return out


def _per_channel(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-channel values (C,) broadcast over a layer's output of the given shape."""
    return v.reshape(-1, *([1] * (len(shape) - 1)))


@dataclass
class _Layer:
    """A layer's constants from the blob and, when it learns, its learned state."""

    spec: LayerSpec
    in_shape: tuple[int, int, int]  # (C, H, W) of its input map
    base: int  # number of weight (0, 0) in the random generator's numbering
    cols: np.ndarray  # position of each weight of a row (PyTorch order) in the runtime's row
    signs: np.ndarray  # int64 (the shape of bits): +1 / -1, the binary weights in use
    hidden: np.ndarray | None  # int64 (the shape of bits) in -128..127
    rms: np.ndarray | None  # int64 (n_out,): running mean square of the error


class Model:
    """A .mbnn model computed with the reference integer arithmetic.

    The same interface as `pyruntime.Model` (the C runtime), the same errors
    (`MbnnError` with the status C returns) for the same calls."""

    def __init__(self, spec: BlobSpec, blob_crc: int, learn: bool = True, blob: bytes | None = None) -> None:
        """Bind a parsed blob; `blob_crc` is its header CRC, which names the model in saved state."""
        self.spec = spec
        self.blob_crc = blob_crc
        self.blob = blob
        self.step = 0
        self.can_learn = learn and any(ls.learns for ls in spec.layers)
        self.input_scale = float(spec.input_scale)
        self.input_zero_point = int(spec.input_zero_point)
        #: per-sample losses of the last `learn` call, int64 (N,): 32768 - p(label) in Q15
        self.last_losses = np.zeros(0, dtype=np.int64)
        self.layers: list[_Layer] = []
        base = 0
        for ls, in_shape in zip(spec.layers, spec.in_shapes()):
            signs = 1 - 2 * ls.bits.astype(np.int64)
            hidden = ls.hidden.astype(np.int64) if ls.learns and self.can_learn else None
            rms = np.zeros(ls.n_out, dtype=np.int64) if hidden is not None else None
            cols = runtime_columns(ls, in_shape).astype(np.uint64)
            self.layers.append(_Layer(ls, in_shape, base, cols, signs, hidden, rms))
            base += ls.n_out * ls.n_in
        #: the memory of a blob with memory slots (learning only; None otherwise): empty at first
        slots = spec.memory if self.can_learn else 0
        self.memory = Memory(0, np.zeros((slots, spec.n_inputs), np.int8), np.zeros(slots, np.uint16)) \
            if slots else None

    @classmethod
    def load(cls, blob: BlobLike, learn: bool = True) -> Model:
        """Load a blob from a path or from its bytes; learn=False makes it inference only.
        A bad blob raises MbnnError with the status the C runtime gives it."""
        data = api.blob_bytes(blob)
        return cls(read_blob(data), blob_crc(data), learn, data)

    @property
    def n_inputs(self) -> int:
        """Features per sample."""
        return self.spec.n_inputs

    @property
    def n_classes(self) -> int:
        """Number of classes (logits)."""
        return self.spec.n_classes

    @property
    def out_frac_bits(self) -> int:
        """Fraction bits of the fixed-point logits."""
        return self.spec.out_frac_bits

    @property
    def arena_size(self) -> int:
        """Bytes of RAM the C runtime needs for this model in its mode: the arena
        plan of runtime_c/src/mbnn_model.c (the layout comment at its top)."""
        layers = self.spec.layers
        first = layers[0]
        # int8 dense layer 0 (mbnn_i_int8_table_size): 16 int16 entries per group of 4 inputs,
        # or for a layer of at least 512 inputs and 64 outputs room for the byte tables too:
        # 256 uint16 entries per group of 8 inputs for one chunk of 128 inputs and an int32 sum
        # per neuron
        table = 0
        if first.input_kind == KIND_INT8 and not first.is_conv:
            table = 32 * ((first.n_in + 3) // 4)
            if first.n_in >= 512 and first.n_out >= 64:
                table = max(table, 512 * 16 + 4 * first.n_out)
        # the optimized conv kernels (mbnn_i_conv_scratch_size), the largest conv layer's: int8
        # layer 0: its rows repacked (u32 words per output channel), a u32 offset per input, 16
        # int16 table entries and 4 int16 values per group of 4 inputs; bits: the patch and its
        # mask, a u32 each per row word; both: a u16 list entry per output channel (padded to 4 bytes)
        for idx, ls in enumerate(layers):
            common = align4(2 * ls.n_out)
            if ls.is_conv and idx == 0 and ls.input_kind == KIND_INT8:
                table = max(table, common + 4 * ls.n_out * words_per_row(ls.n_in) + 4 * ls.n_in
                            + 40 * ((ls.n_in + 3) // 4))
            elif ls.is_conv:
                table = max(table, common + 8 * ls.kernel[0] * ls.kernel[1] * words_per_row(ls.bits.shape[1]))
        # u32 words of each layer's packed input map: per pixel for a conv layer
        in_words = [c_h_w[1] * c_h_w[2] * words_per_row(c_h_w[0]) if ls.is_conv else words_per_row(ls.n_in)
                    for ls, c_h_w in zip(layers, self.spec.in_shapes())]
        outputs = [int(np.prod(ls.out_shape())) for ls in layers]
        size = 4 * self.n_classes  # logits
        if not self.can_learn:
            return size + 2 * 4 * max(in_words) + table
        lowest = next(idx for idx, ls in enumerate(layers) if ls.learns)
        err_width = max(outputs[lowest:])  # errors at the outputs of the layers from the lowest that learns
        for idx, ls in enumerate(layers):
            if ls.learns:  # bits copy (none for a dense int8 layer 0 of >= 512 inputs and >= 64
                # outputs: its signs are its hidden weights' signs), rms, hidden weights
                row_words = (ls.kernel[0] * ls.kernel[1] * words_per_row(ls.bits.shape[1]) if ls.is_conv
                             else words_per_row(ls.n_in))
                keeps_bits = not (idx == 0 and not ls.is_conv and ls.input_kind == KIND_INT8
                                  and ls.n_in >= 512 and ls.n_out >= 64)
                size += 4 * ls.n_out * row_words * keeps_bits + 4 * ls.n_out + align4(ls.n_out * ls.n_in)
            size += 4 * in_words[idx]  # the input map, kept for the update
            if idx < len(layers) - 1:
                size += 4 * words_per_row(outputs[idx])  # STE window bits
                if ls.is_conv and ls.pool_hw() != (1, 1):
                    size += align4(outputs[idx])  # position of the maximum in each pooling window
        if self.memory is not None:  # its rows and labels
            size += align4(self.memory.x.size) + align4(2 * len(self.memory.labels))
        if first.is_conv:
            size += 4 * 80  # MBNN_CONV_WORK: the sums of the conv learning kernels
        return size + max(2 * 4 * err_width, table)  # two error buffers, sharing with the table

    def set_kernels(self, cap: str | None = None) -> None:
        """As pyruntime.Model.set_kernels (the same names, the same ValueError);
        the reference has one way of computing, so nothing changes."""
        api.kernel_level(cap)

    @property
    def kernels(self) -> str:
        """"reference": the numpy definition (pyruntime.Model names its C kernels' level)."""
        return "reference"

    def quantize(self, features) -> np.ndarray:
        """Float features -> int8 as the blob says (pyruntime.format.quantize)."""
        return quantize(features, self.input_scale, self.input_zero_point)

    def __repr__(self) -> str:
        mode = "learn" if self.can_learn else "infer"
        return f"<pyruntime.reference.Model {self.n_inputs}->{self.n_classes} {mode} step={self.step}>"

    # ---------------------------------------------------------------- inference

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        return api.features(x, self.n_inputs).astype(np.int64)

    def _forward(self, q: np.ndarray) -> tuple[list[np.ndarray], list, np.ndarray]:
        """Inputs of every layer (x - zp, or +/-1; a conv layer's as maps (N, C, H, W)),
        for each hidden layer its window bits and (a conv layer) the position of the
        maximum in each pooling window, logits (N, C)."""
        first = self.layers[0].spec
        if first.input_kind == KIND_INT8:
            act = q - self.spec.input_zero_point
        else:
            act = np.where(q < 0, -1, 1)
        inputs, windows = [], []
        for idx, layer in enumerate(self.layers):
            ls = layer.spec
            act = act.reshape(len(q), *layer.in_shape) if ls.is_conv else act.reshape(len(q), -1)
            inputs.append(act)
            if idx == len(self.layers) - 1:
                scale, offset = ls.params
                a = act @ layer.signs.T
                z = np.clip(scale.astype(np.int64) * a + offset, -(1 << 31), (1 << 31) - 1)
                break
            threshold, lo, hi = ls.params
            if not ls.is_conv:
                a = act @ layer.signs.T
                windows.append(((lo <= a) & (a <= hi), None))
                act = np.where(a >= threshold, 1, -1)
                continue
            a = conv_preact(act, layer.signs, ls)
            shape = a.shape[1:]
            bits = pool_windows(np.where(a >= _per_channel(threshold, shape), 1, -1), ls.pool_hw())
            win = pool_windows((_per_channel(lo, shape) <= a) & (a <= _per_channel(hi, shape)), ls.pool_hw())
            arg = np.argmax(bits, axis=-1)  # the first position that holds the maximum
            windows.append((np.take_along_axis(win, arg[..., None], -1)[..., 0], arg))
            act = bits.max(axis=-1)
        return inputs, windows, z

    def infer(self, X: np.ndarray) -> np.ndarray:
        """int32 logits (N, n_classes) of int8 samples (N, n_inputs)."""
        return self._forward(self._check_x(X))[2].astype(np.int32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes (N,): argmax of the logits, ties to the lowest index."""
        return np.argmax(self.infer(X), axis=1)

    # ----------------------------------------------------------------- learning

    def learn(self, X: np.ndarray, y, return_loss: bool = False):
        """Learn from samples one after another; return the predictions made before
        each update, with return_loss=True also the losses (as pyruntime.Model.learn).
        A model with a rehearsal set relearns one sample of the set or of its
        memory after each and offers the new sample to the memory (ARITHMETIC.md
        "Rehearsal"): two steps per sample."""
        q = self._check_x(X)
        y = api.labels(y, len(q), self.n_classes).astype(np.int64)
        if not self.can_learn:
            raise MbnnError("MBNN_ERR_NO_LEARN")
        self.last_losses = np.zeros(len(q), dtype=np.int64)
        preds = np.zeros(len(q), dtype=np.int64)
        for n in range(len(q)):
            preds[n], self.last_losses[n] = self._learn_one(q[n : n + 1], int(y[n]))
            if self.spec.rehearsal is not None:
                self._rehearse(q[n], int(y[n]))
        return (preds, self.last_losses.copy()) if return_loss else preds

    def _rehearse(self, x: np.ndarray, label: int) -> None:
        """After the step on (x, label): a step on one sample, r = mix32(key ^ 0x52454852): memory row
        (r & 0x7FFFFFFF) mod filled when rows are filled and bit 31 of r is set (half the steps), else
        sample r mod count of the set; then x offered to the memory by reservoir sampling
        (Vitter 1985, algorithm R): the next free row, or when all are filled row mix32(key ^ 0x4D454D4F)
        mod seen if that is a row; key = mix32(seed + step * 0x9E3779B9) of the step after the first."""
        key = self.step_key()
        rx, ry = self.spec.rehearsal
        mem = self.memory
        filled = min(mem.seen, len(mem.labels)) if mem is not None else 0
        r = int(mix32(key ^ REHEARSAL_SALT))
        if filled and r >> 31:
            i = (r & 0x7FFFFFFF) % filled
            self._learn_one(mem.x[i][None].astype(np.int64), int(mem.labels[i]))
        else:
            i = r % len(ry)
            self._learn_one(rx[i : i + 1].astype(np.int64), int(ry[i]))
        if mem is None:
            return
        seen = min(mem.seen + 1, MASK32)
        slot = filled if filled < len(mem.labels) else int(mix32(key ^ MEMORY_SALT)) % seen
        if slot < len(mem.labels):
            mem.x[slot], mem.labels[slot] = x, label
        self.memory = mem._replace(seen=seen)

    def step_key(self) -> int:
        """The key of the random numbers of the step about to be taken: mix32(seed + step * 0x9E3779B9)."""
        return int(mix32((self.spec.seed + self.step * GOLDEN_RATIO_32) & MASK32))

    def _learn_one(self, q: np.ndarray, label: int) -> tuple[int, int]:
        inputs, windows, z = self._forward(q)
        z = z[0]
        prediction = int(np.argmax(z))
        e_exp = exp2neg(z.max() - z, self.spec.out_frac_bits)
        p = (e_exp << 15) // e_exp.sum()
        err = p.copy()
        err[label] -= ONE_Q15
        out = self.layers[-1].spec
        delta = np.clip(((err >> out.bwd_shift) * out.gscale) >> 15, -DELTA_MAX, DELTA_MAX)
        lowest = min(idx for idx, layer in enumerate(self.layers) if layer.hidden is not None)
        for idx in range(len(self.layers) - 1, lowest - 1, -1):
            layer = self.layers[idx]
            ls = layer.spec
            arg = windows[idx][1][0] if idx < len(self.layers) - 1 and ls.is_conv else None
            below = None
            if idx > lowest:
                if ls.is_conv:
                    g = conv_input_sum(unpool(delta, arg, ls.pool_hw(), ls.conv_out_hw()), layer.signs, ls)
                else:
                    g = delta @ layer.signs
                prev = self.layers[idx - 1].spec
                window = windows[idx - 1][0][0]
                g = g.reshape(window.shape)
                gscale = _per_channel(prev.gscale.astype(np.int64), window.shape)
                below = np.where(window, np.clip(((g >> prev.bwd_shift) * gscale) >> 15, -DELTA_MAX, DELTA_MAX), 0)
            if layer.hidden is not None:
                self._update(idx, delta, inputs[idx][0], arg)
            delta = below
        self.step = (self.step + 1) & MASK32
        return prediction, ONE_Q15 - int(p[label])

    def _update(self, idx: int, delta: np.ndarray, x: np.ndarray, arg: np.ndarray | None) -> None:
        """The metaplastic int8 update of one layer (ARITHMETIC.md "Update of a layer that learns";
        a conv layer: "Conv layers"). delta: the error at the layer's outputs (a conv
        layer's: (Cout, Hp, Wp), at the pooled positions); x: the layer's input."""
        layer = self.layers[idx]
        ls = layer.spec
        sq = delta * delta
        if ls.is_conv:  # the mean square over the pooled positions of the channel
            sq = sq.reshape(ls.n_out, -1).sum(axis=1) // (sq.size // ls.n_out)
        layer.rms = np.where(layer.rms == 0, sq, layer.rms + ((sq - layer.rms) >> self.spec.rms_shift))
        s = np.array([max(math.isqrt(int(r)), 1) for r in layer.rms], dtype=np.int64)
        norm = np.clip(tdiv(delta * 256, _per_channel(s, delta.shape)), -NORM_MAX, NORM_MAX)
        step = np.clip((-norm * ls.lr_q16) >> 8, -STEP_MAX, STEP_MAX)
        if ls.input_kind == KIND_INT8:
            step = step >> 7
        if ls.is_conv:
            d = conv_weight_sum(unpool(step, arg, ls.pool_hw(), ls.conv_out_hw()), x, ls)
            d = np.clip(d, -CONV_D_MAX, CONV_D_MAX)
        else:
            d = step[:, None] * x[None, :]  # x is +1 / -1, or x - zp for int8 input
        h = layer.hidden
        toward_zero = np.where(h >= 0, d < 0, d > 0)
        k = np.where(h >= 0, h, -1 - h)
        d = np.where(toward_zero, (d * ls.meta.astype(np.int64)[k]) >> 15, d)
        whole = d >> 16
        frac = d - (whole << 16)
        key = self.step_key()
        rows = np.arange(ls.n_out, dtype=np.uint64)[:, None] * np.uint64(ls.n_in)
        idx_w = (np.uint64(layer.base) + rows + layer.cols[None, :]).reshape(h.shape)
        rand16 = rand16_of(key, idx_w)
        new_h = np.clip(h + whole + (rand16 < frac), -128, 127)
        layer.hidden = np.where(d != 0, new_h, h)
        layer.signs = np.where(layer.hidden < 0, -1, 1)

    # -------------------------------------------------------------------- state

    def _learning_layers(self) -> list[_Layer]:
        if not self.can_learn:
            raise MbnnError("MBNN_ERR_NO_LEARN")
        return [layer for layer in self.layers if layer.hidden is not None]

    @staticmethod
    def _runtime_hidden(layer: _Layer) -> np.ndarray:
        """Hidden weights (n_out, n_in) in the runtime's column order (the state's)."""
        out = np.zeros((layer.spec.n_out, layer.spec.n_in), dtype=np.int64)
        out[:, layer.cols.astype(np.int64)] = layer.hidden.reshape(layer.spec.n_out, -1)
        return out

    def state(self) -> bytes:
        """The learned state in the format of docs/FORMAT.md ("Learned state")."""
        return write_state(self.blob_crc, self.step,
                           [(self._runtime_hidden(l), l.rms) for l in self._learning_layers()], self.memory)

    def _check_state(self, data: object) -> LearnedState:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"state must be the bytes returned by Model.state(), got {type(data).__name__}")
        shapes = [(l.spec.n_out, l.spec.n_in) for l in self._learning_layers()]
        slots = len(self.memory.labels) if self.memory is not None else 0
        return read_state(bytes(data), shapes, self.blob_crc, (slots, self.n_inputs), self.n_classes)

    def load_state(self, state: bytes) -> None:
        """Replace the learned state; everything is checked before anything changes."""
        new = self._check_state(state)
        for layer, (h, rms) in zip(self._learning_layers(), new.layers):
            layer.hidden = h.astype(np.int64)[:, layer.cols.astype(np.int64)].reshape(layer.spec.bits.shape)
            layer.rms = rms.astype(np.int64)
            layer.signs = np.where(layer.hidden < 0, -1, 1)
        self.step = new.step
        self.memory = new.memory

    def pick_state(self, slot_a: bytes | None, slot_b: bytes | None) -> int:
        """Which of two saved states to load (0 or 1), as mbnn_state_pick: the valid
        state of this model with the larger step (RFC 1982 serial numbers)."""
        steps, errors = [], []
        for slot in (slot_a, slot_b):
            try:
                if slot is None:
                    raise StateError("MBNN_ERR_STATE_CORRUPT", detail="empty slot")
                steps.append(self._check_state(bytes(slot)).step)
                errors.append(None)
            except MbnnError as exc:
                steps.append(None)
                errors.append(exc)
        if errors[0] and errors[1]:
            raise errors[0]
        if errors[0] or errors[1]:
            return 0 if errors[1] else 1
        diff = (steps[1] - steps[0]) & MASK32
        return 1 if 0 < diff < 0x80000000 else 0
