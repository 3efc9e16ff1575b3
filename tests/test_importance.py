"""export/importance.py: the Fisher importance of the hidden weights, the consolidation factors it sets,
its place in the checkpoint, and what `python -m export` does with it (and with bad values)."""

import numpy as np
import pytest
import torch

from export import data
from export.__main__ import main
from export.arch import parse_arch
from export.checkpoint import importance_of, load_model, save_checkpoint
from export.fold import fold
from export.importance import check_importance, consolidation_factors, fisher_importance
from export.model import MetaBNN
from export.train import train


def per_sample_loop(model: MetaBNN, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The definition, one sample and one autograd call at a time."""
    params = [fc.weight for fc in model.fcs]
    sums = [torch.zeros(p.shape, dtype=torch.float64) for p in params]
    for i in range(len(x)):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[i : i + 1])), torch.from_numpy(y[i : i + 1]))
        for s, g in zip(sums, torch.autograd.grad(loss, params)):
            s += g.double() ** 2
    return [(s / len(x)).numpy() for s in sums]


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_batched_fisher_equals_per_sample_gradients(kind):
    torch.manual_seed(0)
    if kind == "dense":
        model = MetaBNN([20, 16, 12, 3])
    else:
        model = MetaBNN(arch=parse_arch("conv2d:4:3:same,maxpool:2,conv2d:5:3:s2,dense:7,dense:3", (1, 8, 8)))
    model.eval()
    rng = np.random.default_rng(1)
    x = rng.random((37, model.sizes[0])).astype(np.float32)
    y = rng.integers(0, 3, 37)
    got = fisher_importance(model, x, y, samples=100, chunk=10)  # 37 samples in chunks of 10
    want = per_sample_loop(model, x, y)
    assert [g.shape for g in got] == [tuple(fc.weight.shape) for fc in model.fcs]
    for g, w in zip(got, want):
        assert np.all(g >= 0)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-12 * max(float(w.max()), 1e-30))
    assert any(float(g.max()) > 0 for g in got)


def test_consolidation_factors():
    imp = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])
    f = consolidation_factors(imp, 4.0, 0.25)
    q = np.quantile(imp, 0.75)
    assert f[0] == 1.0  # an unused weight is not consolidated
    assert np.all(f[imp >= q] == 4.0)  # the top quarter gets the full factor
    np.testing.assert_allclose(f[imp < q], 1.0 + 3.0 * imp[imp < q] / q)
    assert np.all(np.diff(f) >= 0)
    assert np.all(consolidation_factors(imp, 4.0, 1.0) == 4.0)
    assert np.all(consolidation_factors(imp, 1.0, 0.25) == 1.0)
    sparse = np.array([0.0] * 9 + [2.0])  # more than 3/4 unused: the used ones get c
    assert list(consolidation_factors(sparse, 3.0, 0.25)) == [1.0] * 9 + [3.0]
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="consolidated fraction"):
            consolidation_factors(imp, 4.0, bad)


def test_fold_consolidates_only_what_matters():
    torch.manual_seed(0)
    model = MetaBNN([20, 16, 3]).eval()
    imp = [np.zeros((16, 20)), np.ones((3, 16))]
    imp[0][:, :5] = 1.0  # layer 0: only the first 5 inputs matter
    spec, info = fold(model, {"int8_grid": [5]}, importance=imp, consolidate=4.0)
    plain, _ = fold(model, {"int8_grid": [5]}, consolidate=1.0)
    h, h0 = spec.layers[0].hidden.astype(np.int64), plain.layers[0].hidden.astype(np.int64)
    assert np.array_equal(h[:, 5:], h0[:, 5:])  # unused inputs: untouched
    assert np.array_equal(h[:, :5], np.clip(np.floor(4 * (h0[:, :5] + 0.5)), -128, 127))
    assert np.array_equal(spec.layers[0].bits, plain.layers[0].bits)  # signs never change
    assert info.weighted and info.consolidation[0] == pytest.approx(1 + 3 * 5 / 20)
    uniform, uinfo = fold(model, {"int8_grid": [5]}, consolidate=4.0)
    assert not uinfo.weighted and uinfo.consolidation == [4.0, 4.0]
    assert np.array_equal(uniform.layers[0].hidden, np.clip(np.floor(4 * (h0 + 0.5)), -128, 127))
    with pytest.raises(ValueError, match="importance of layer 1 is shaped"):
        fold(model, {}, importance=[imp[0], np.ones((16, 3))])
    with pytest.raises(ValueError, match="consolidate_top"):
        fold(model, {}, importance=imp, consolidate_top=0.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = data.load("digits")
    model, settings, history = train(ds, [64, 32, 10], epochs=2, progress=False, log=lambda s: None)
    imp = fisher_importance(model, ds.x_train, ds.y_train, samples=300)
    return tmp_path_factory.mktemp("imp"), model, settings, history, imp


def test_checkpoint_round_trip_and_export_uses_it(trained, capsys):
    tmp, model, settings, history, imp = trained
    with_imp, without = tmp / "with.pt", tmp / "without.pt"
    save_checkpoint(with_imp, model, settings, history, imp)
    save_checkpoint(without, model, settings, history)
    m, ckpt = load_model(with_imp)
    back = importance_of(ckpt, m, "x")
    for a, b in zip(back, imp):
        np.testing.assert_allclose(a, b.astype(np.float32))
    assert importance_of(load_model(without)[1], m, "x") is None
    assert main([str(with_imp), "-o", str(tmp / "a.mbnn")]) == 0
    assert "set per weight from the checkpoint's importance" in capsys.readouterr().out
    assert main([str(without), "-o", str(tmp / "b.mbnn")]) == 0
    assert "uniform (the checkpoint holds no importance" in capsys.readouterr().out
    assert (tmp / "a.mbnn").read_bytes() != (tmp / "b.mbnn").read_bytes()
    assert main([str(with_imp), "-o", str(tmp / "c.mbnn"), "--consolidate-top", "1"]) == 0
    capsys.readouterr()
    assert (tmp / "c.mbnn").read_bytes() == (tmp / "b.mbnn").read_bytes()  # top 1: uniform again


@pytest.mark.parametrize("bad", ["nan", "inf", "negative", "shape", "count"])
def test_bad_importance_is_refused_and_writes_nothing(trained, bad, capsys):
    tmp, model, settings, history, imp = trained
    imp = [a.copy() for a in imp]
    if bad == "nan":
        imp[0][0, 0] = np.nan
    elif bad == "inf":
        imp[1][3, 2] = np.inf
    elif bad == "negative":
        imp[1][0, 0] = -1.0
    elif bad == "shape":
        imp[1] = imp[1].T.copy()
    else:
        imp = imp[:1]
    path, out = tmp / f"bad_{bad}.pt", tmp / f"bad_{bad}.mbnn"
    save_checkpoint(path, model, settings, history, imp)
    assert main([str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "importance" in err and "python -m export.train" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(ValueError):
        check_importance(imp, model, "x")


def test_bad_consolidate_top_is_a_usage_error(trained, capsys):
    tmp, model, settings, history, imp = trained
    path = tmp / "ok.pt"
    save_checkpoint(path, model, settings, history, imp)
    for bad in ("0", "1.5", "nan"):
        assert main([str(path), "-o", str(tmp / "x.mbnn"), "--consolidate-top", bad]) == 2
        assert "--consolidate-top must be in (0, 1]" in capsys.readouterr().err
    assert not (tmp / "x.mbnn").exists()
