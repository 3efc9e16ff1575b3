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
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from export.blob import KIND_INT8, BlobSpec, LayerSpec, read_blob
from pyruntime.errors import MbnnError, status_value

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
STATE_MAGIC = b"MBST"
STATE_VERSION = 1


def mix32(x: np.ndarray | int) -> np.ndarray:
    """The lowbias32 integer hash (C. Wellons, 2018) on uint32 values, elementwise."""
    x = np.asarray(x, dtype=np.uint64) & MASK32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return x


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
    """A .mbnn model computed with the reference integer arithmetic (same interface as pyruntime.Model)."""

    def __init__(self, spec: BlobSpec, blob_crc: int) -> None:
        """Bind a parsed blob; `blob_crc` is its header CRC, which names the model in saved state."""
        self.spec = spec
        self.blob_crc = blob_crc
        self.step = 0
        self.can_learn = any(ls.learns for ls in spec.layers)
        self.layers: list[_Layer] = []
        base = 0
        for ls in spec.layers:
            signs = 1 - 2 * ls.bits.astype(np.int64)
            hidden = ls.hidden.astype(np.int64) if ls.learns else None
            rms = np.zeros(ls.n_out, dtype=np.int64) if ls.learns else None
            self.layers.append(_Layer(ls, base, signs, hidden, rms))
            base += ls.n_out * ls.n_in

    @classmethod
    def load(cls, source: str | os.PathLike | bytes, learn: bool = True) -> Model:
        """Load a blob from a path or from its bytes; learn=False makes it inference only."""
        data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else open(source, "rb").read()
        model = cls(read_blob(data), struct.unpack_from("<I", data, 12)[0])
        model.can_learn = model.can_learn and learn
        return model

    @property
    def n_inputs(self) -> int:
        """Features per sample."""
        return self.spec.n_inputs

    @property
    def n_classes(self) -> int:
        """Number of classes (logits)."""
        return self.spec.n_classes

    # ---------------------------------------------------------------- inference

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"X must be int8 of shape (N, {self.n_inputs}), got {x.dtype} {x.shape}")
        return x.astype(np.int64)

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

    def infer(self, x: np.ndarray) -> np.ndarray:
        """int32 logits (N, n_classes) of int8 samples (N, n_inputs)."""
        return self._forward(self._check_x(x))[2].astype(np.int32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted classes (N,): argmax of the logits, ties to the lowest index."""
        return np.argmax(self.infer(x), axis=1)

    # ----------------------------------------------------------------- learning

    def learn(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Learn from samples one after another; return the predictions made before each update."""
        q = self._check_x(x)
        y = np.asarray(y).astype(np.int64).reshape(-1)
        if len(y) != len(q):
            raise ValueError(f"got {len(q)} samples and {len(y)} labels")
        if not self.can_learn:
            raise MbnnError(status_value("MBNN_ERR_NO_LEARN"))
        if np.any((y < 0) | (y >= self.n_classes)):
            raise MbnnError(status_value("MBNN_ERR_BAD_LABEL"))
        self.last_losses = np.zeros(len(q), dtype=np.int64)
        preds = np.zeros(len(q), dtype=np.int64)
        for n in range(len(q)):
            preds[n], self.last_losses[n] = self._learn_one(q[n : n + 1], int(y[n]))
        return preds

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
        rand16 = (mix32((idx_w + key) & MASK32) >> np.uint64(16)).astype(np.int64)
        new_h = np.clip(h + whole + (rand16 < frac), -128, 127)
        layer.hidden = np.where(d != 0, new_h, h)
        layer.signs = np.where(layer.hidden < 0, -1, 1)

    # -------------------------------------------------------------------- state

    def _learning_layers(self) -> list[_Layer]:
        return [layer for layer in self.layers if layer.hidden is not None]

    def state(self) -> bytes:
        """The learned state in the format of docs/FORMAT.md ("Learned state")."""
        parts = []
        for layer in self._learning_layers():
            h = layer.hidden.astype(np.int8).tobytes()
            parts.append(h + b"\0" * (-len(h) % 4) + layer.rms.astype("<u4").tobytes())
        body = struct.pack("<IIII", self.blob_crc, self.step, len(parts), 0) + b"".join(parts)
        return struct.pack("<4sIII", STATE_MAGIC, STATE_VERSION, 16 + len(body), zlib.crc32(body)) + body

    def load_state(self, data: bytes) -> None:
        """Replace the learned state; everything is checked before anything changes."""
        data = bytes(data)
        expected = 32 + sum(((l.hidden.size + 3) & ~3) + 4 * len(l.rms) for l in self._learning_layers())
        corrupt, other = MbnnError(status_value("MBNN_ERR_STATE_CORRUPT")), MbnnError(status_value("MBNN_ERR_STATE_MODEL"))
        if len(data) < 32:
            raise corrupt
        magic, version, total, crc, model_crc, step, n_learn, reserved = struct.unpack_from("<4sIIIIIII", data)
        if magic != STATE_MAGIC or version != STATE_VERSION or total > len(data) or total < 32:
            raise corrupt
        if zlib.crc32(data[16:total]) != crc:
            raise corrupt
        if model_crc != self.blob_crc or total != expected or n_learn != len(self._learning_layers()):
            raise other
        if reserved != 0:
            raise corrupt
        pos, new = 32, []
        for layer in self._learning_layers():
            n_out, n_in = layer.hidden.shape
            h = np.frombuffer(data, np.int8, n_out * n_in, pos).astype(np.int64).reshape(n_out, n_in)
            pos += (n_out * n_in + 3) & ~3
            rms = np.frombuffer(data, "<u4", n_out, pos).astype(np.int64)
            pos += 4 * n_out
            if np.any(rms > 1 << 30):
                raise corrupt
            new.append((layer, h, rms))
        for layer, h, rms in new:
            layer.hidden, layer.rms = h, rms
            layer.signs = np.where(h < 0, -1, 1)
        self.step = step
