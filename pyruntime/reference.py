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
    BlobSpec,
    LayerSpec,
    StateError,
    align4,
    blob_crc,
    quantize,
    read_blob,
    read_state,
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


@dataclass
class _Layer:
    """A layer's constants from the blob and, when it learns, its learned state."""

    spec: LayerSpec
    base: int  # number of weight (0, 0) in the random generator's numbering
    signs: np.ndarray  # int64 (n_out, n_in): +1 / -1, the binary weights in use
    hidden: np.ndarray | None  # int64 (n_out, n_in) in -128..127
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
        for ls in spec.layers:
            signs = 1 - 2 * ls.bits.astype(np.int64)
            hidden = ls.hidden.astype(np.int64) if ls.learns and self.can_learn else None
            rms = np.zeros(ls.n_out, dtype=np.int64) if hidden is not None else None
            self.layers.append(_Layer(ls, base, signs, hidden, rms))
            base += ls.n_out * ls.n_in

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
        # int8 partial-sum tables of layer 0: 16 int16 entries per group of 4 inputs
        table = 32 * ((first.n_in + 3) // 4) if first.input_kind == KIND_INT8 else 0
        size = 4 * self.n_classes  # logits
        if not self.can_learn:
            return size + 2 * 4 * max(words_per_row(ls.n_in) for ls in layers) + table
        lowest = next(idx for idx, ls in enumerate(layers) if ls.learns)
        err_width = max(ls.n_out for ls in layers[lowest:])  # errors of the layers from the lowest that learns
        for idx, ls in enumerate(layers):
            if ls.learns:  # bits copy, rms, hidden weights
                size += 4 * ls.n_out * words_per_row(ls.n_in) + 4 * ls.n_out + align4(ls.n_out * ls.n_in)
            size += 4 * words_per_row(ls.n_in)  # input bits, kept for the update
            if idx < len(layers) - 1:
                size += 4 * words_per_row(ls.n_out)  # STE window bits
        return size + max(2 * 4 * err_width, table)  # two error buffers, sharing with the table

    def quantize(self, features) -> np.ndarray:
        """Float features -> int8 as the blob says (pyruntime.format.quantize)."""
        return quantize(features, self.input_scale, self.input_zero_point)

    def __repr__(self) -> str:
        mode = "learn" if self.can_learn else "infer"
        return f"<pyruntime.reference.Model {self.n_inputs}->{self.n_classes} {mode} step={self.step}>"

    # ---------------------------------------------------------------- inference

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        return api.features(x, self.n_inputs).astype(np.int64)

    def _forward(self, q: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Inputs of every layer (x - zp, or +/-1), window masks of hidden layers, logits (N, C)."""
        first = self.layers[0].spec
        if first.input_kind == KIND_INT8:
            act = q - self.spec.input_zero_point
        else:
            act = np.where(q < 0, -1, 1)
        inputs, windows = [], []
        for idx, layer in enumerate(self.layers):
            inputs.append(act)
            a = act @ layer.signs.T
            if idx < len(self.layers) - 1:
                threshold, lo, hi = layer.spec.params
                windows.append((lo <= a) & (a <= hi))
                act = np.where(a >= threshold, 1, -1)
            else:
                scale, offset = layer.spec.params
                z = np.clip(scale.astype(np.int64) * a + offset, -(1 << 31), (1 << 31) - 1)
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
        each update, with return_loss=True also the losses (as pyruntime.Model.learn)."""
        q = self._check_x(X)
        y = api.labels(y, len(q), self.n_classes).astype(np.int64)
        if not self.can_learn:
            raise MbnnError("MBNN_ERR_NO_LEARN")
        self.last_losses = np.zeros(len(q), dtype=np.int64)
        preds = np.zeros(len(q), dtype=np.int64)
        for n in range(len(q)):
            preds[n], self.last_losses[n] = self._learn_one(q[n : n + 1], int(y[n]))
        return (preds, self.last_losses.copy()) if return_loss else preds

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
            below = None
            if idx > lowest:
                g = delta @ layer.signs
                prev = self.layers[idx - 1].spec
                below = np.where(
                    windows[idx - 1][0],
                    np.clip(((g >> prev.bwd_shift) * prev.gscale) >> 15, -DELTA_MAX, DELTA_MAX),
                    0,
                )
            if layer.hidden is not None:
                self._update(idx, delta, inputs[idx][0])
            delta = below
        self.step = (self.step + 1) & MASK32
        return prediction, ONE_Q15 - int(p[label])

    def _update(self, idx: int, delta: np.ndarray, x: np.ndarray) -> None:
        """The metaplastic int8 update of one layer (ARITHMETIC.md "Update of a layer that learns")."""
        layer = self.layers[idx]
        ls = layer.spec
        sq = delta * delta
        layer.rms = np.where(layer.rms == 0, sq, layer.rms + ((sq - layer.rms) >> self.spec.rms_shift))
        s = np.array([max(math.isqrt(int(r)), 1) for r in layer.rms], dtype=np.int64)
        norm = np.clip(tdiv(delta * 256, s), -NORM_MAX, NORM_MAX)
        step = np.clip((-norm * ls.lr_q16) >> 8, -STEP_MAX, STEP_MAX)
        if ls.input_kind == KIND_INT8:
            d = (step >> 7)[:, None] * x[None, :]
        else:
            d = step[:, None] * x[None, :]  # x is +1 / -1
        h = layer.hidden
        toward_zero = np.where(h >= 0, d < 0, d > 0)
        k = np.where(h >= 0, h, -1 - h)
        d = np.where(toward_zero, (d * ls.meta.astype(np.int64)[k]) >> 15, d)
        whole = d >> 16
        frac = d - (whole << 16)
        n_out, n_in = h.shape
        key = int(mix32((self.spec.seed + self.step * GOLDEN_RATIO_32) & MASK32))
        idx_w = layer.base + np.arange(n_out * n_in, dtype=np.uint64).reshape(n_out, n_in)
        rand16 = rand16_of(key, idx_w)
        new_h = np.clip(h + whole + (rand16 < frac), -128, 127)
        layer.hidden = np.where(d != 0, new_h, h)
        layer.signs = np.where(layer.hidden < 0, -1, 1)

    # -------------------------------------------------------------------- state

    def _learning_layers(self) -> list[_Layer]:
        if not self.can_learn:
            raise MbnnError("MBNN_ERR_NO_LEARN")
        return [layer for layer in self.layers if layer.hidden is not None]

    def state(self) -> bytes:
        """The learned state in the format of docs/FORMAT.md ("Learned state")."""
        return write_state(self.blob_crc, self.step, [(l.hidden, l.rms) for l in self._learning_layers()])

    def _check_state(self, data: object) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"state must be the bytes returned by Model.state(), got {type(data).__name__}")
        shapes = [l.hidden.shape for l in self._learning_layers()]
        _crc, step, layers = read_state(bytes(data), shapes, self.blob_crc)
        return step, layers

    def load_state(self, state: bytes) -> None:
        """Replace the learned state; everything is checked before anything changes."""
        step, new = self._check_state(state)
        for layer, (h, rms) in zip(self._learning_layers(), new):
            layer.hidden, layer.rms = h.astype(np.int64), rms.astype(np.int64)
            layer.signs = np.where(layer.hidden < 0, -1, 1)
        self.step = step

    def pick_state(self, slot_a: bytes | None, slot_b: bytes | None) -> int:
        """Which of two saved states to load (0 or 1), as mbnn_state_pick: the valid
        state of this model with the larger step (RFC 1982 serial numbers)."""
        steps, errors = [], []
        for slot in (slot_a, slot_b):
            try:
                if slot is None:
                    raise StateError("MBNN_ERR_STATE_CORRUPT", detail="empty slot")
                steps.append(self._check_state(bytes(slot))[0])
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
