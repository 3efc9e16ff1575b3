"""`python -m export.experiments curves`: training curves of checkpoints (seconds)."""

from export.checkpoint import save_checkpoint
from export.experiments.__main__ import main
from export.model import MetaBNN


def _checkpoint(path, history):
    save_checkpoint(path, MetaBNN(sizes=[4, 3, 2]), {"dataset": "digits"}, history)
    return str(path)


def test_curves_png_and_refusals(tmp_path, capsys):
    hist = [{"epoch": e, "loss": 1.0 / e, "test_loss": 1.0, "train_acc": 80.0 + e, "test_acc": 78.0 + e,
             "seconds": 1.0} for e in (1, 2, 3)]
    a, b = _checkpoint(tmp_path / "a.pt", hist), _checkpoint(tmp_path / "b.pt", hist[:2])
    png = tmp_path / "c.png"
    assert main(["curves", a, b, "--labels", "three,two", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = _checkpoint(tmp_path / "e.pt", [])
    assert main(["curves", a, empty, "-o", str(tmp_path / "x.png")]) == 2
    assert "no training history" in capsys.readouterr().err
    assert main(["curves", a, "--labels", "x,y", "-o", str(tmp_path / "y.png")]) == 2
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
