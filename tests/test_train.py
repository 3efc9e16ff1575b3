"""MetaBNN, training and checkpoints, on sklearn digits (seconds)."""

import numpy as np
import pytest
import torch

from export import data
from export.checkpoint import CheckpointError, load_model, read_checkpoint
from export.grid import GridConstraint, quantize_floor
from export.model import BinaryLinear, MetaBNN, SignActivation
from export.train import main, train


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_sign_activation_ste():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    y = SignActivation.apply(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]  # sign(0) = +1 as on the device
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_binary_linear_uses_sign_and_passes_gradient_to_hidden():
    torch.manual_seed(0)
    fc = BinaryLinear(3, 2)
    assert fc.weight.abs().max() <= 0.05 and fc.bias is None
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[0.01, -0.3, 0.0], [-0.02, 0.5, 0.2]]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    out = fc(x)
    assert out.tolist() == [[1 - 2 + 3, -1 + 2 + 3]]
    out.sum().backward()
    assert fc.weight.grad.tolist() == [[1, 2, 3], [1, 2, 3]]  # straight through, not clipped


def test_model_structure_and_input_quantization():
    m = MetaBNN([64, 32, 10], input_scale=1 / 16, input_zero_point=-8)
    assert len(m.fcs) == 2 and len(m.bns) == 2 and m.n_layers == 2
    f = torch.tensor([[0.0, 0.5, 1.0, 0.49] + [0.0] * 60])
    np.testing.assert_allclose(m.first_input(f)[0, :4].numpy(), [0.0, 0.5, 1.0, 0.5])  # 0.49 is 7.84/16 -> 8/16
    mb = MetaBNN([64, 32, 10], binarize_input=True, input_scale=1 / 16, input_zero_point=-8)
    assert mb.first_input(f)[0, :4].tolist() == [-1, 1, 1, 1]


def test_train_learns_digits_and_checkpoint(tmp_path, digits):
    logs = []
    model, settings, history = train(digits, [64, 64, 10], epochs=3, progress=False, log=logs.append)
    assert len(history) == 3 and len(logs) == 3 and "train" in logs[0] and "test" in logs[0]
    assert history[-1]["test_acc"] > 85.0
    from export.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "m.pt", model, settings, history)
    ckpt = read_checkpoint(tmp_path / "m.pt")
    assert ckpt["version"] == 1 and ckpt["architecture"]["sizes"] == [64, 64, 10]
    assert ckpt["settings"]["meta"] == 1.35 and ckpt["settings"]["dataset"] == "digits"
    loaded, _ = load_model(tmp_path / "m.pt")
    x = torch.from_numpy(digits.x_test)
    assert torch.equal(loaded.predict(x), model.predict(x))


def test_int8_grid_training_keeps_weights_on_grid(digits):
    model, settings, _ = train(digits, [64, 32, 10], epochs=1, int8_grid=[5], progress=False, log=lambda s: None)
    assert settings["int8_grid"] == [5, 5]
    for w in model.hidden_weights():
        h = quantize_floor(w.detach(), 5)
        torch.testing.assert_close((h + 0.5) / 32, w.detach(), rtol=0, atol=0)
        assert h.min() >= -128 and h.max() <= 127


def test_grid_constraint_is_unbiased():
    m = MetaBNN([4, 3])
    with torch.no_grad():
        m.fcs[0].weight.fill_(0.25 / 32 + 0.5 / 32)  # a quarter of the way from h=0 to h=1
    grid = GridConstraint(m, [5], seed=1)
    vals = []
    for _ in range(400):
        with torch.no_grad():
            m.fcs[0].weight.fill_((0.5 + 0.25) / 32)
        grid.apply()
        vals.append(m.fcs[0].weight.detach().clone())
    mean_h = torch.stack(vals).mul(32).sub(0.5).mean().item()
    assert abs(mean_h - 0.25) < 0.03


def test_cli_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "d.pt"
    assert main(["--dataset", "digits", "--sizes", "64,32,10", "--epochs", "1", "-o", str(out)]) == 0
    assert "epoch 1/1" in capsys.readouterr().out
    assert read_checkpoint(out)["architecture"]["sizes"] == [64, 32, 10]


def test_cli_bad_input(tmp_path, capsys):
    assert main(["--dataset", "digits", "--sizes", "10,10", "-o", str(tmp_path / "x.pt")]) == 2
    assert "64 features" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    assert main(["--dataset", "nope", "-o", str(tmp_path / "x.pt")]) == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--sizes", "64,x,10", "-o", str(tmp_path / "x.pt")])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(CheckpointError, match="not a metabnn checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a metabnn checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
