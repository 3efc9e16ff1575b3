"""Binary convolutions in MetaBNN: the --arch syntax, shapes, gradients, training, checkpoints (seconds)."""

import numpy as np
import pytest
import torch

from export import data
from export.arch import Layer, describe_arch, parse_arch
from export.checkpoint import load_model, read_checkpoint
from export.model import BinaryConv2d, MetaBNN
from export.optim import MetaAdam
from export.train import main, train


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_parse_arch_shapes_and_round_trip():
    layers = parse_arch("conv2d:32:3,maxpool:2,conv2d:64:3,maxpool:2,dense:256,dense:10", (1, 28, 28))
    assert [l.op for l in layers] == ["conv2d", "conv2d", "dense", "dense"]
    assert layers[0].conv_shape == (32, 26, 26) and layers[0].out_shape == (32, 13, 13)
    assert layers[1].conv_shape == (64, 11, 11) and layers[1].out_shape == (64, 5, 5)  # floor mode
    assert layers[2].n_in == 1600 and layers[3].n_in == 256
    same = parse_arch("conv2d:8:5:same,conv2d:4:3:s2:p1,dense:3", (2, 9, 9))
    assert same[0].pad == (2, 2) and same[0].out_shape == (8, 9, 9)
    assert same[1].stride == (2, 2) and same[1].out_shape == (4, 5, 5)
    one = parse_arch("conv1d:16:5:s2:p2,maxpool:2,dense:4", (6, 1, 20))
    assert one[0].kernel == (1, 5) and one[0].stride == (1, 2) and one[0].pad == (0, 2)
    assert one[0].conv_shape == (16, 1, 10) and one[0].out_shape == (16, 1, 5)
    for text, shape in [("conv2d:32:3,maxpool:2,conv2d:64:3,maxpool:2,dense:256,dense:10", (1, 28, 28)),
                        ("conv1d:16:5:s2:p2,maxpool:2,dense:4", (6, 1, 20))]:
        layers = parse_arch(text, shape)
        assert describe_arch(layers) == text
        assert [Layer.from_dict(l.to_dict()) for l in layers] == layers


@pytest.mark.parametrize("text,shape,message", [
    ("conv2d:8:3", (1, 8, 8), "last item must be dense"),
    ("dense:10,conv2d:8:3,dense:3", (1, 8, 8), "cannot follow a dense"),
    ("maxpool:2,dense:3", (1, 8, 8), "must follow a convolution"),
    ("conv2d:8:3,maxpool:2,maxpool:2,dense:3", (1, 8, 8), "one per convolution"),
    ("conv2d:8:9,dense:3", (1, 8, 8), "does not fit"),
    ("conv2d:8:4:same,dense:3", (1, 8, 8), "odd kernel"),
    ("conv2d:8:3:s2:same,dense:3", (1, 8, 8), "stride 1"),
    ("conv2d:8:3:q1,dense:3", (1, 8, 8), "unknown option"),
    ("conv2d:0:3,dense:3", (1, 8, 8), "1 or more"),
    ("conv2d:x:3,dense:3", (1, 8, 8), "not an integer"),
    ("conv1d:8:3,dense:3", (1, 8, 8), "use conv2d"),
    ("conv2d:8:3,maxpool:7,dense:3", (1, 8, 8), "larger than"),
    ("conv2d:8,dense:3", (1, 8, 8), "conv2d:C:K"),
    ("lstm:8,dense:3", (1, 8, 8), "unknown"),
    ("conv2d:8:3,,dense:3", (1, 8, 8), "empty item"),
])
def test_parse_arch_refuses(text, shape, message):
    with pytest.raises(ValueError, match=message):
        parse_arch(text, shape)


def test_conv_forward_matches_explicit_computation():
    """A CNN's forward = conv with sign(Wh), per-channel BN, sign, max pool of the +/-1 values, flatten."""
    torch.manual_seed(3)
    m = MetaBNN(arch=parse_arch("conv2d:3:3:p1,maxpool:2,dense:5", (2, 6, 6)), input_scale=1 / 16,
                input_zero_point=-8).eval()
    with torch.no_grad():
        for bn in m.bns:
            bn.running_mean.uniform_(-2, 2)
            bn.weight.uniform_(-1, 1)
    x = torch.randint(0, 16, (4, 72)).float() / 16
    xin = x.reshape(4, 2, 6, 6)  # (q - zp) * scale = f on the grid
    wb = torch.where(m.fcs[0].weight >= 0, 1.0, -1.0)
    pre = torch.nn.functional.conv2d(xin, wb, padding=1)
    bn0 = m.bns[0]
    y = (pre - bn0.running_mean[None, :, None, None]) / torch.sqrt(bn0.running_var + bn0.eps)[None, :, None, None]
    y = y * bn0.weight[None, :, None, None] + bn0.bias[None, :, None, None]
    s = torch.where(y >= 0, 1.0, -1.0)
    pooled = s.reshape(4, 3, 3, 2, 3, 2).amax(dim=(3, 5))
    assert set(pooled.unique().tolist()) <= {-1.0, 1.0}
    w1 = torch.where(m.fcs[1].weight >= 0, 1.0, -1.0)
    logits = m.bns[1](pooled.reshape(4, -1) @ w1.T)
    torch.testing.assert_close(m(x), logits)


def test_conv_weights_binary_and_gradient_straight_through():
    torch.manual_seed(0)
    conv = BinaryConv2d(2, 3, (1, 3), (1, 1), (0, 1))
    assert conv.weight.shape == (3, 2, 1, 3) and conv.bias is None and conv.weight.abs().max() <= 0.05
    x = torch.randn(1, 2, 1, 5)
    out = conv(x)
    ref = torch.nn.functional.conv2d(x, torch.where(conv.weight >= 0, 1.0, -1.0), padding=(0, 1))
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    w = torch.zeros_like(conv.weight, requires_grad=True)
    torch.nn.functional.conv2d(x, w, padding=(0, 1)).sum().backward()
    torch.testing.assert_close(conv.weight.grad, w.grad)  # d/dWb handed to Wh unchanged


def test_maxpool_error_goes_to_first_maximum():
    """The error of a pooled +/-1 output reaches the first position of its window holding the
    maximum (row-major), then the straight-through window of that position (docs/FORMAT.md)."""
    m = MetaBNN(arch=parse_arch("conv2d:1:1,maxpool:2,dense:1", (1, 2, 2)), input_scale=1.0,
                input_zero_point=0).eval()
    with torch.no_grad():
        m.fcs[0].weight.fill_(1.0)
        m.fcs[1].weight.fill_(1.0)
    kept = {}

    def keep(mod, inp, out):
        out.retain_grad()
        kept["bn"] = out

    m.bns[0].register_forward_hook(keep)
    # window values 0.5, 0.2, 0.7, -0.3 -> signs +1 +1 +1 -1: the first +1 (row-major) takes the error
    x = torch.tensor([[0.5, 0.2, 0.7, -0.3]], requires_grad=True)
    m(x).sum().backward()
    g = kept["bn"].grad.reshape(-1)
    assert g[0] != 0 and torch.all(g[1:] == 0)


def test_meta_adam_damps_conv_weights():
    torch.manual_seed(0)
    m = MetaBNN(arch=parse_arch("conv2d:4:3,dense:3", (1, 5, 5)))
    opt = MetaAdam(m.parameters(), lr=0.01, meta=[2.0, 0.5])
    assert opt.meta_of(m.fcs[0].weight) == 2.0 and opt.meta_of(m.fcs[1].weight) == 0.5
    with torch.no_grad():
        m.fcs[0].weight.fill_(1.0)
    before = m.fcs[0].weight.detach().clone()
    m.fcs[0].weight.grad = torch.ones_like(before)  # pushes every weight toward zero
    m.fcs[1].weight.grad = torch.zeros_like(m.fcs[1].weight)
    opt.step()
    step = (before - m.fcs[0].weight.detach()).abs()
    f = 1 - np.tanh(2.0) ** 2
    torch.testing.assert_close(step, torch.full_like(step, 0.01 * f), rtol=1e-4, atol=0)


def test_train_digits_cnn_and_checkpoint(tmp_path, digits):
    arch = "conv2d:16:3:same,maxpool:2,dense:10"
    model, settings, history = train(digits, arch, epochs=4, progress=False, log=lambda s: None)
    assert history[-1]["test_acc"] > 75.0  # a small CNN on 1,347 8x8 digits after 4 epochs (chance: 10%)
    assert settings["arch"] == arch and model.sizes == [64, 256, 10]
    from export.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", model, settings, history)
    ckpt = read_checkpoint(tmp_path / "c.pt")
    assert [Layer.from_dict(d) for d in ckpt["architecture"]["arch"]] == model.layers
    loaded, _ = load_model(tmp_path / "c.pt")
    x = torch.from_numpy(digits.x_test)
    assert torch.equal(loaded.predict(x), model.predict(x))


def test_int8_grid_keeps_conv_weights_on_grid(digits):
    from export.grid import quantize_floor

    model, settings, _ = train(digits, "conv2d:4:3,dense:10", epochs=1, int8_grid=[6, 5], progress=False,
                               log=lambda s: None)
    for w, e in zip(model.hidden_weights(), (6, 5)):
        torch.testing.assert_close((quantize_floor(w.detach(), e) + 0.5) / 2**e, w.detach(), rtol=0, atol=0)


def test_cli_arch(tmp_path, capsys):
    out = tmp_path / "c.pt"
    assert main(["--dataset", "digits", "--arch", "conv2d:8:3,maxpool:2,dense:10", "--epochs", "1",
                 "--no-progress", "-o", str(out)]) == 0
    assert read_checkpoint(out)["architecture"]["arch"][0]["op"] == "conv2d"
    capsys.readouterr()
    for argv, message in [
        (["--arch", "conv2d:8:3,maxpool:2"], "last item must be dense"),
        (["--arch", "conv2d:8:3,dense:3"], "3 neurons but digits has 10 classes"),
        (["--arch", "conv2d:8:3,dense:10", "--sizes", "64,10"], "not both"),
        (["--arch", "conv2d:8:3,dense:10", "--meta", "1,2,3"], "1 or 2 values"),
        (["--arch", ",".join(["conv2d:2:1"] * 9) + ",dense:10"], "a blob holds"),
    ]:
        bad = tmp_path / "bad.pt"
        assert main(["--dataset", "digits", "--epochs", "1", "-o", str(bad)] + argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not bad.exists()


def test_basicmotions_is_channel_major():
    try:
        ds = data.load("basicmotions")
    except data.DatasetMissing:
        pytest.skip("sktime wheel not in data/")
    assert ds.in_shape == (6, 1, 20) and ds.n_features == 120
    # consecutive windows overlap by 10 steps: window 1's first half of channel c = window 0's second half
    w = ds.x_train.reshape(-1, 6, 20)
    np.testing.assert_array_equal(w[1, :, :10], w[0, :, 10:])
