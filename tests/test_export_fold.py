"""Folding BatchNorm and hidden weights into a blob: the blob computes what PyTorch computes."""

import numpy as np
import pytest
import torch

from export import data
from export.blob import BlobError, meta_table, read_blob, write_blob
from export.fold import (DEFAULT_BIT_LR_MULT, DEFAULT_DEVICE_LR, DEFAULT_LEARN_HSCALE, DEFAULT_DEVICE_META,
                         MEMORY_DEVICE_META, META_REF_MEDIAN, choose_hscale, device_meta, flip_cost,
                         fold, fold_hidden_bn, fold_output_bn, median_hidden, quantize_hidden)
from export.train import train
from pyruntime import reference
from runtimes import RUNTIMES


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def trained(digits):
    model, settings, _ = train(digits, [64, 64, 64, 10], epochs=3, progress=False, log=lambda s: None)
    return model, settings


def _compare(model, spec, ds, load):
    blob = write_blob(spec)
    rt = load(blob)
    x = torch.from_numpy(ds.x_test)
    pt = model.predict(x).numpy()
    dev = np.asarray(rt.predict(ds.quantize(ds.x_test)))
    with torch.no_grad():
        logits = model(x).numpy()
    z = np.asarray(rt.infer(ds.quantize(ds.x_test))) / 2.0**spec.out_frac_bits
    return pt, dev, logits, z


@pytest.mark.parametrize("load", RUNTIMES)
def test_blob_agrees_with_pytorch(trained, digits, load):
    model, settings = trained
    spec, info = fold(model, settings)
    pt, dev, logits, z = _compare(model, spec, digits, load)
    acc_pt, acc_dev = np.mean(pt == digits.y_test), np.mean(dev == digits.y_test)
    assert np.mean(pt == dev) >= 0.995
    assert abs(acc_pt - acc_dev) <= 0.003
    assert acc_pt > 0.85
    assert spec.out_frac_bits == 16
    np.testing.assert_allclose(z, logits, atol=64 * 2.0**-16 * np.abs(logits).max() + 1e-3)


@pytest.mark.parametrize("load", RUNTIMES)
def test_negative_and_zero_batchnorm_scales(trained, digits, load):
    model, settings = trained
    model = type(model)(**model.config())
    model.load_state_dict(trained[0].state_dict())
    model.eval()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for idx, bn in enumerate(model.bns):
            n = bn.weight.shape[0]
            neg = torch.from_numpy(rng.random(n) < 0.4)
            bn.weight[neg] *= -1
            if idx < model.n_layers - 1:
                bn.weight[0] = 0.0  # a constant neuron: +1 or -1 by the sign of beta
                bn.bias[0] = 0.3 if idx == 0 else -0.3
    spec, info = fold(model, settings, consolidate=1.0)  # the plain grid: flipped rows are exactly -1 - h
    assert info.flipped[0].sum() > 0 and info.flipped[1].sum() > 0 and not info.flipped[-1].any()
    assert info.constant[0][0] and info.constant[1][0]
    # flipped rows hold -1 - h; the bits follow the hidden weights
    e = spec.layers[0].hscale_log2
    h = quantize_hidden(model.fcs[0].weight.detach().double().numpy(), e)
    rows = info.flipped[0]
    np.testing.assert_array_equal(spec.layers[0].hidden[rows], -1 - h[rows])
    np.testing.assert_array_equal(spec.layers[0].hidden[~rows], h[~rows])
    assert spec.layers[0].params[0][0] == -(2**31) and spec.layers[1].params[0][0] == 2**31 - 1
    assert spec.layers[0].params[1][0] > spec.layers[0].params[2][0]  # empty window
    assert np.all(spec.layers[0].gscale >= 0) and np.any(spec.layers[-1].gscale < 0)
    pt, dev, logits, z = _compare(model, spec, digits, load)
    assert np.mean(pt == dev) >= 0.995


@pytest.mark.parametrize("load", RUNTIMES)
def test_binarized_input(digits, load):
    model, settings, _ = train(digits, [64, 64, 10], epochs=2, binarize_input=True, progress=False,
                               log=lambda s: None)
    spec, _ = fold(model, settings)
    assert spec.layers[0].input_kind == 1
    pt, dev, _, _ = _compare(model, spec, digits, load)
    assert np.mean(pt == dev) >= 0.995


def test_int8_grid_model_exports_without_rounding(digits):
    model, settings, _ = train(digits, [64, 32, 10], epochs=1, int8_grid=[6, 5], progress=False,
                               log=lambda s: None)
    spec, info = fold(model, settings, consolidate=1.0, hscale_log2=[6, 5])  # the grid itself, not consolidated
    assert info.hscale_log2 == [6, 5] and sum(info.clamped) == 0
    for layer, fc, e in zip(spec.layers, model.fcs, [6, 5]):
        w = fc.weight.detach().double().numpy()
        np.testing.assert_array_equal((layer.hidden.astype(np.float64) + 0.5) * 2.0**-e, w)
    # a layer that does not learn keeps the grid it was trained on; one that learns gets
    # DEFAULT_LEARN_HSCALE: |Wh| <= 1, larger weights clamped with their signs kept
    _, frozen = fold(model, settings, learn="none")
    assert frozen.hscale_log2 == [6, 5]
    spec, info = fold(model, settings, consolidate=1.0)
    assert info.hscale_log2 == [DEFAULT_LEARN_HSCALE] * 2
    for layer, fc, clamped in zip(spec.layers, model.fcs, info.clamped):
        w = fc.weight.detach().double().numpy()
        assert clamped == int(np.sum(np.abs(w) > 1.0))
        np.testing.assert_array_equal(layer.hidden < 0, w < 0)


def test_hscale_rule_and_quantization():
    assert choose_hscale(np.array([0.1, -3.0])) == 5  # 128 / 3 = 42.7 -> 2^5
    assert choose_hscale(np.array([4.0])) == 5  # exactly 128 steps of 1/32
    assert choose_hscale(np.array([0.04])) == 11
    assert choose_hscale(np.array([1000.0])) == 0 and choose_hscale(np.zeros(3)) == 16
    w = np.array([-1e-9, 0.0, 1e-9, -0.03, 0.03, 5.0, -5.0])
    h = quantize_hidden(w, 5)
    assert list(h) == [-1, 0, 0, -1, 0, 127, -128]
    assert np.all((h < 0) == (w < 0))  # the sign is kept
    mid = (h + 0.5) / 32
    assert np.all(np.abs(mid[:5] - w[:5]) <= 0.5 / 32)


def test_threshold_and_window_by_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(200):
        k = rng.normal(0, 0.1, 1) * rng.choice([1, -1])
        mu, beta = rng.normal(0, 20, 1), rng.normal(0, 1, 1)
        unit = float(rng.choice([1.0, 1 / 256]))
        thr, lo, hi, gscale, flipped, const = fold_hidden_bn(k, mu, beta, unit)
        a = np.arange(-20000, 20000) if unit != 1 else np.arange(-300, 300)
        bn = k * (a * unit - mu) + beta
        a_dev = -a if flipped[0] else a  # a flipped neuron sees -a
        np.testing.assert_array_equal(a_dev >= thr[0], bn >= 0)
        np.testing.assert_array_equal((lo[0] <= a_dev) & (a_dev <= hi[0]), np.abs(bn) <= 1)
        assert gscale[0] == 32767


def test_output_scale_has_no_saturation():
    k = np.array([0.5, -2.0, 1e-6])
    mu = np.array([3.0, -1.0, 0.0])
    beta = np.array([0.1, 0.0, 50.0])
    scale, offset, gscale, frac = fold_output_bn(k, mu, beta, 1.0, a_max=8192)
    assert frac == 16
    assert list(gscale) == [round(32767 * 0.25), -32767, 0]
    big = fold_output_bn(np.array([300.0]), np.zeros(1), np.zeros(1), 1.0, a_max=8192)
    assert big[3] < 16
    assert abs(int(big[0][0])) * 8192 + abs(int(big[1][0])) < 2**31
    assert abs(int(big[0][0])) * 2 * 8192 >= 2**31 - 1  # one more bit would overflow


def test_learn_modes_and_learning_constants(trained):
    model, settings = trained
    spec, info = fold(model, settings, learn="last", device_lr=0.002)
    assert [l.learns for l in spec.layers] == [False, False, True]
    assert spec.layers[0].lr_q16 == 0
    out = spec.layers[-1]
    assert out.lr_q16 == round(0.002 * DEFAULT_BIT_LR_MULT * 2 ** (16 + out.hscale_log2))  # bit input: the rule
    assert settings["meta"] == 1.35  # the device's m: from the training m and the median consolidated |Wh|
    median = median_hidden(spec.layers)
    assert median == float(np.median(np.abs(out.hidden.astype(float) + 0.5))) * 2.0**-out.hscale_log2
    np.testing.assert_array_equal(out.meta, meta_table(device_meta(1.35, median), out.hscale_log2))
    assert device_meta(1.35) == DEFAULT_DEVICE_META == 1.0 and device_meta(0.5) == 0.5 and device_meta(0.0, 0.1) == 0.0
    assert device_meta(1.35, 1.33) == 1.0 and device_meta(10.0, 1.6) == 1.0  # MNIST-like weights: m = 1.0
    need = flip_cost(1.0, META_REF_MEDIAN)
    m = device_meta(10.0, 0.332)  # the quickstart's digits: small weights, trained with m = 10
    assert 7.0 < m < 7.5 and flip_cost(m, 0.332) >= need > flip_cost(m - 0.01, 0.332)
    assert device_meta(1.35, 0.332) == 1.35  # never above the training m
    assert device_meta(1.35, None, 100) == MEMORY_DEVICE_META == 0.7 and device_meta(0.5, None, 100) == 0.5
    held = (np.zeros((4, spec.layers[0].n_in), np.int8), np.arange(4, dtype=np.uint16))
    for memory, m in ((0, DEFAULT_DEVICE_META), (20, MEMORY_DEVICE_META)):  # a set: no raise; memory: its own m
        layers = fold(model, settings, learn="last", rehearsal=held, memory=memory)[0].layers
        np.testing.assert_array_equal(layers[-1].meta, meta_table(m, out.hscale_log2))
    assert flip_cost(2.0, 0.5) == pytest.approx(sum(np.cosh(2.0 * w) ** 2 for w in np.arange(1e-5, 0.5, 2e-5)) * 2e-5)
    np.testing.assert_array_equal(fold(model, settings, learn="last", meta=1.35)[0].layers[-1].meta,
                                  meta_table(1.35, out.hscale_log2))  # --meta overrides
    assert [l.bwd_shift for l in spec.layers] == [3, 2, 0]  # ceil(log2(64)/2), ceil(log2(10)/2), 0
    spec, _ = fold(model, settings, learn="all")
    first = spec.layers[0]
    assert first.lr_q16 == round(DEFAULT_DEVICE_LR * 2 ** (16 + first.hscale_log2) * 128 / 16)  # x/128 vs x/16
    spec, _ = fold(model, settings, learn="none", hscale_log2=4)
    assert not any(l.learns for l in spec.layers) and all(l.hscale_log2 == 4 for l in spec.layers)
    blob = write_blob(spec)
    assert read_blob(blob).layers[1].bits.shape == (64, 64)
    with pytest.raises(ValueError):
        fold(model, settings, learn="some")


def test_device_settings_lr_rule_floor_consolidation(trained):
    model, settings = trained
    plain, _ = fold(model, settings, lr_mult=[1.0], meta_floor=0.0, consolidate=1.0)
    spec, _ = fold(model, settings, lr_mult=[2.0, 0.5, 0.25], meta=[3.0], meta_floor=0.05, consolidate=[1.0, 2.0, 4.0])
    for a, b, mult in zip(plain.layers, spec.layers, [2.0, 0.5, 0.25]):
        assert b.lr_q16 == round(a.lr_q16 * mult) or abs(b.lr_q16 - a.lr_q16 * mult) <= 1
        assert b.meta.min() >= round(0.05 * 32768)
        np.testing.assert_array_equal(b.meta, np.maximum(meta_table(3.0, b.hscale_log2), round(0.05 * 32768)))
    np.testing.assert_array_equal(spec.layers[0].hidden, plain.layers[0].hidden)
    for layer, c in ((1, 2.0), (2, 4.0)):
        h, h2 = plain.layers[layer].hidden.astype(int), spec.layers[layer].hidden.astype(int)
        np.testing.assert_array_equal(h2, np.clip(np.floor(c * (h + 0.5)), -128, 127))
        np.testing.assert_array_equal(h2 < 0, h < 0)  # the binary weights do not change
        np.testing.assert_array_equal(spec.layers[layer].bits, plain.layers[layer].bits)
    default, _ = fold(model, settings)
    bit = default.layers[1]
    assert bit.lr_q16 == round(DEFAULT_DEVICE_LR * DEFAULT_BIT_LR_MULT * 2 ** (16 + bit.hscale_log2))
    for bad in ({"consolidate": 0.5}, {"meta_floor": 1.5}, {"lr_mult": [1.0, 2.0]}):
        with pytest.raises(ValueError):
            fold(model, settings, **bad)


def test_architectures_the_format_cannot_hold():
    from export.model import MetaBNN

    deep = MetaBNN([4] * 10 + [2]).eval()
    with pytest.raises(BlobError, match="1 to 8 layers"):
        write_blob(fold(deep)[0])
    wide = MetaBNN([8200, 2]).eval()
    with pytest.raises(BlobError, match="outside"):
        write_blob(fold(wide)[0])
