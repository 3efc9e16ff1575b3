"""The integer reference on its own: its approximations are accurate, and its
learning rule learns."""

from __future__ import annotations

import math

import numpy as np
from sklearn.datasets import load_digits

from export.blob import KIND_BITS, KIND_INT8, BlobSpec, LayerSpec, meta_table, write_blob
from pyruntime import reference


def test_exp2neg_is_within_a_tenth_of_a_percent() -> None:
    """exp2neg(d) ~ 65536 exp(-d / 2^F) over the range that matters."""
    for frac in (0, 8, 16, 24):
        d = np.arange(0, 12 << frac, max(1, (1 << frac) // 64), dtype=np.int64)
        approx = reference.exp2neg(d, frac)
        exact = 65536 * np.exp(-d / 2.0**frac)
        assert np.all(np.abs(approx - exact) <= 0.001 * exact + 2)
    assert reference.exp2neg(np.array([0]), 16)[0] == 65536
    assert reference.exp2neg(np.array([2**32]), 0)[0] == 0


def test_mix32_is_a_bijection_on_a_sample_and_spreads_bits() -> None:
    """Distinct inputs give distinct outputs, and each output bit is set about half the time."""
    out = reference.mix32(np.arange(1 << 16, dtype=np.uint64))
    assert len(np.unique(out)) == 1 << 16
    bits = (out[:, None] >> np.arange(32, dtype=np.uint64)) & np.uint64(1)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.01)


def test_one_draw_serves_two_weights_with_uniform_uncorrelated_halves() -> None:
    """rand16 of weights 2t and 2t + 1 are the low and high halves of mix(key + t); over
    many weights they are uniform on 0..65535 and the two halves of a draw uncorrelated."""
    key = 0xDEADBEEF
    idx = np.arange(1 << 17, dtype=np.uint64)
    r = reference.rand16_of(key, idx)
    word = reference.mix32(np.uint64(key) + (idx[::2] >> np.uint64(1)))
    assert np.array_equal(r[::2], (word & np.uint64(0xFFFF)).astype(np.int64))
    assert np.array_equal(r[1::2], (word >> np.uint64(16)).astype(np.int64))
    assert r.min() >= 0 and r.max() <= 65535
    assert abs(r.mean() / 65535 - 0.5) < 0.005
    assert np.all(np.abs(np.histogram(r, bins=16, range=(0, 65536))[0] / len(r) - 1 / 16) < 0.003)
    assert abs(np.corrcoef(r[::2], r[1::2])[0, 1]) < 0.01
    # A weight's number depends on its own index only: any subset gives the same values.
    sub = np.array([7, 2, 99999, 3], dtype=np.uint64)
    assert np.array_equal(reference.rand16_of(key, sub), r[sub.astype(np.int64)])


def test_meta_table_follows_the_paper() -> None:
    """f_meta = 1 - tanh^2(m |W|) at the centre of each int8 step; m = 0 damps nothing."""
    table = meta_table(1.35, 5)
    assert table[0] == round(32768 * (1 - math.tanh(1.35 * 0.5 / 32) ** 2))
    assert np.all(np.diff(table.astype(int)) <= 0)
    assert np.all(meta_table(0.0, 5) == 32768)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    return (np.round(x[perm] / 16 * 255) - 128).astype(np.int8), y[perm]


def _untrained(sizes: list[int], lr_q16: int, m: float) -> BlobSpec:
    """A network with tiny random hidden weights, thresholds at 0 and wide STE windows."""
    rng = np.random.default_rng(1)
    layers = []
    for idx, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        hidden = rng.integers(-3, 3, (n_out, n_in)).astype(np.int8)
        spread = int(math.sqrt(n_in) * (100 if idx == 0 else 1))
        zeros = np.zeros(n_out, dtype=np.int64)
        last = idx == len(sizes) - 2
        params = (zeros + int(2**17 / spread), zeros) if last else (zeros, zeros - spread, zeros + spread)
        layers.append(
            LayerSpec(
                bits=(hidden < 0).astype(np.uint8), params=params, gscale=zeros + 32767,
                input_kind=KIND_INT8 if idx == 0 else KIND_BITS, hidden=hidden,
                meta=meta_table(m, 5), lr_q16=lr_q16, bwd_shift=0 if last else 4,
            )
        )
    return BlobSpec(layers, out_frac_bits=16, rms_shift=7, seed=3)


def test_learning_from_scratch_one_sample_at_a_time_learns_digits() -> None:
    """From random weights, two passes over 1,400 digits, one sample at a time,
    reach far above chance (10%) on 397 held-out digits, for 1 and 2 layers."""
    x, y = _digits()
    for sizes in ([64, 10], [64, 96, 10]):
        model = reference.Model.load(write_blob(_untrained(sizes, 10000, 1.35)))
        before = (model.predict(x[1400:]) == y[1400:]).mean()
        for _ in range(2):
            model.learn(x[:1400], y[:1400])
        after = (model.predict(x[1400:]) == y[1400:]).mean()
        assert before < 0.3 and after > 0.8, (sizes, before, after)
