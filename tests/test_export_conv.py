"""Convolutional MetaBNNs folded into format-version-2 blobs: agreement with PyTorch, --learn,
learned state back into PyTorch, the CLI and ONNX (seconds)."""

import numpy as np
import pytest
import torch

from export import data
from export.__main__ import main
from export.arch import parse_arch
from export.checkpoint import save_checkpoint
from export.fold import DEFAULT_LEARN_HSCALE, choose_hscale, fan_out, fold, learning_layers
from export.model import MetaBNN
from export.state import load_state
from pyruntime.format import read_blob, write_blob
from pyruntime.reference import Model as Reference

ARCHS = [  # (arch, input shape): 2-D and 1-D, odd sizes, strides, padding, pooling
    ("conv2d:8:3:same,maxpool:2,conv2d:6:3:s2:p1,dense:12,dense:5", (2, 9, 7)),
    ("conv2d:5:2,conv2d:7:3,maxpool:3,dense:4", (1, 11, 11)),
    ("conv1d:6:5:s2:p2,maxpool:2,conv1d:4:3:same,dense:16,dense:3", (3, 1, 23)),
    ("conv1d:3:1,dense:7", (2, 1, 5)),
]


def random_model(arch: str, shape, seed: int) -> MetaBNN:
    """A CNN with random weights and random BatchNorm (some channels with a negative scale)."""
    torch.manual_seed(seed)
    m = MetaBNN(arch=parse_arch(arch, shape), input_scale=1 / 16, input_zero_point=-8)
    with torch.no_grad():
        for layer, fc, bn in zip(m.layers, m.fcs, m.bns):
            fc.weight.uniform_(-1, 1)
            fan = fc.weight[0].numel()
            bn.running_mean.uniform_(-fan ** 0.5, fan ** 0.5)
            bn.running_var.uniform_(0.5 * fan, 2.0 * fan)
            bn.weight.uniform_(-1, 1)
            bn.bias.uniform_(-0.5, 0.5)
    return m.eval()


def grid_inputs(n_features: int, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).integers(0, 16, (n, n_features)) / 16).astype(np.float32)


@pytest.mark.parametrize("arch,shape", ARCHS)
def test_blob_agrees_with_pytorch(arch, shape):
    m = random_model(arch, shape, seed=len(arch))
    spec, info = fold(m, {"meta": 1.35}, learn="none")
    blob = write_blob(spec)
    assert read_blob(blob).layers[0].op == m.layers[0].op
    x = grid_inputs(m.sizes[0], 300, seed=1)
    pt = m.predict(torch.from_numpy(x)).numpy()
    dev = Reference.load(blob, learn=False).predict(m.quantize_input(torch.from_numpy(x)).numpy().astype(np.int8))
    assert np.mean(pt == dev) >= 0.99  # ties of float logits aside, the same network
    # the logits themselves: exact but for the rounding of the output layer's scale and offset to Q(F)
    logits = Reference.load(blob, learn=False).infer(m.quantize_input(torch.from_numpy(x)).numpy().astype(np.int8))
    with torch.no_grad():
        want = m(torch.from_numpy(x)).double().numpy()
    tol = (m.sizes[-2] + 1) * 2.0 ** -spec.out_frac_bits
    np.testing.assert_allclose(logits / 2.0 ** spec.out_frac_bits, want, atol=tol, rtol=0)
    assert sum(int(f.sum()) for f in info.flipped[:-1]) > 0  # negated channels were exercised


def test_learn_choices_and_fan_out():
    layers = parse_arch("conv2d:4:3,conv2d:6:3:s2,dense:8,dense:3", (1, 12, 12))
    conv = [l.is_conv for l in layers]
    assert learning_layers("dense", 4, conv) == [False, False, True, True]
    assert learning_layers("1,3", 4, conv) == [False, True, False, True]
    assert learning_layers("all", 4, conv) == [True] * 4
    with pytest.raises(ValueError, match="numbered 0 to 3"):
        learning_layers("4", 4, conv)
    assert fan_out(layers[1]) == 6 * 2 * 2 and fan_out(layers[2]) == 8
    m = MetaBNN(arch=layers).eval()
    spec, info = fold(m, {"meta": 1.35}, learn="dense")
    assert [l.learns for l in spec.layers] == [False, False, True, True] == info.learns
    assert spec.layers[0].bwd_shift == 3  # ceil(log2(24) / 2): the second conv sends back 24 errors per input
    spec_all, _ = fold(m, {"meta": 1.35}, learn="all")
    # learning dense layers take DEFAULT_LEARN_HSCALE, conv layers the range rule
    assert [l.hscale_log2 for l in spec_all.layers[2:]] == [DEFAULT_LEARN_HSCALE] * 2
    assert spec_all.layers[1].hscale_log2 == choose_hscale(m.fcs[1].weight.detach().double().numpy())
    spec_all, _ = fold(m, {"meta": 1.35}, learn="all", hscale_log2=5)
    # a bit-input conv layer's rate is the dense one's over its 4 x 4 pooled positions (same e here)
    assert spec_all.layers[1].hscale_log2 == spec_all.layers[2].hscale_log2
    assert spec_all.layers[1].lr_q16 == round(spec_all.layers[2].lr_q16 / 16)


def test_learned_conv_state_back_in_pytorch():
    """A CNN learns on the reference runtime (every layer); load_state gives PyTorch the same weights."""
    arch, shape = ARCHS[2]
    m = random_model(arch, shape, seed=3)
    ckpt = {"format": "metabnn-checkpoint", "version": 1, "architecture": m.config(),
            "state_dict": m.state_dict(), "settings": {"meta": 1.35}, "history": []}
    spec, info = fold(m, ckpt["settings"], learn="all", device_lr=0.05)
    blob = write_blob(spec)
    dev = Reference.load(blob)
    x = grid_inputs(m.sizes[0], 60, seed=4)
    q = m.quantize_input(torch.from_numpy(x)).numpy().astype(np.int8)
    before = [layer.signs.copy() for layer in dev.layers]
    dev.learn(q, np.arange(60) % 3)
    assert any(not np.array_equal(b, layer.signs) for b, layer in zip(before, dev.layers))  # it learned
    back = load_state(ckpt, dev.state(), blob=blob)
    for idx, (layer, fc) in enumerate(zip(dev.layers, back.fcs)):
        signs = np.where(fc.weight.detach().numpy() >= 0, 1, -1)
        flipped = info.flipped[idx].reshape((-1,) + (1,) * (signs.ndim - 1))
        np.testing.assert_array_equal(np.where(flipped, -signs, signs), layer.signs.reshape(signs.shape))
    x2 = grid_inputs(m.sizes[0], 200, seed=5)
    q2 = m.quantize_input(torch.from_numpy(x2)).numpy().astype(np.int8)
    assert np.mean(back.predict(torch.from_numpy(x2)).numpy() == dev.predict(q2)) >= 0.99


def test_cli_exports_and_verifies_a_cnn(tmp_path, capsys):
    from export.train import train

    ds = data.load("digits")
    model, settings, history = train(ds, "conv2d:8:3:same,maxpool:2,dense:16,dense:10", epochs=1,
                                     progress=False, log=lambda s: None)
    ckpt = tmp_path / "c.pt"
    save_checkpoint(ckpt, model, settings, history)
    out = tmp_path / "c.mbnn"
    assert main([str(ckpt), "-o", str(out), "--verify", "digits", "--onnx", str(tmp_path / "c.onnx"),
                 "--header", str(tmp_path / "c.h")]) == 0
    text = capsys.readouterr().out
    assert "agreement 100.00%" in text and "ONNX agreement 100.00%" in text
    assert "layer 0: conv2d 1x8x8 -> 8x4x4" in text
    spec = read_blob(out.read_bytes())
    assert [l.learns for l in spec.layers] == [False, True, True]  # default: convolutions frozen
    assert main([str(ckpt), "-o", str(out), "--learn", "0,2"]) == 0
    assert [l.learns for l in read_blob(out.read_bytes()).layers] == [True, False, True]
    capsys.readouterr()
    assert main([str(ckpt), "-o", str(out), "--learn", "5"]) == 2
    assert "numbered 0 to 2" in capsys.readouterr().err
    assert main([str(ckpt), "-o", str(tmp_path / "x.mbnn"), "--learn", "some"]) == 2
    assert "invalid choice" in capsys.readouterr().err and not (tmp_path / "x.mbnn").exists()
    assert main([str(ckpt), "-o", str(out), "--board", "microbit"]) == 0
    assert "layers 1, 2 learn" in capsys.readouterr().out


def test_device_experiment_with_a_cnn_same_in_c_and_reference():
    """export.experiments device with --arch: a CNN pretrained on digits, every layer (the convolution
    too) learning the second task; the C runtime and the numpy reference give the same rows."""
    pytest.importorskip("pyruntime.model")
    from export.experiments import device

    tasks = device.permuted_tasks("digits", 2)
    kw = {"pretrain_epochs": 1, "hscale": 5, "device_lr": 0.01, "samples": 60, "eval_every": 30,
          "test_subset": 60, "seed": 0, "cache_dir": None, "log": False}
    arch = "conv2d:4:3:same,maxpool:2,dense:16,dense:10"
    c = device.run_device(tasks, arch, runtime="c", learn="all", **kw)
    ref = device.run_device(tasks, arch, runtime="reference", learn="all", **kw)
    keys = [k for k in c[0] if k != "seconds"]
    assert [[r[k] for k in keys] for r in c[1:]] == [[r[k] for k in keys] for r in ref[1:]]
    assert len([k for k in keys if k.startswith("sat_l")]) == 3 and c[-1]["flips_l1"] >= 0
