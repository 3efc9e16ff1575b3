"""The float form of the device's learning rule (export.device_rule) in PyTorch."""

import numpy as np
import pytest
import torch

from export import data
from export.blob import write_blob
from export.device_rule import DeviceRule
from export.fold import fold
from export.grid import quantize_floor
from export.train import train


@pytest.fixture(scope="module")
def setup():
    ds = data.load("digits")
    model, settings, _ = train(ds, [64, 64, 10], epochs=3, int8_grid=[5], progress=False, log=lambda s: None)
    return ds, data.permute(ds, 5), model, settings


def _copy(model):
    m = type(model)(**model.config())
    m.load_state_dict(model.state_dict())
    return m.eval()


def test_learns_a_new_task_on_the_grid(setup):
    ds, task2, model, settings = setup
    m = _copy(model)
    rule = DeviceRule(m, lr=0.002, meta=1.35, hscale_log2=[5, 5], seed=0)
    x2 = torch.from_numpy(task2.x_test)
    before = np.mean(m.predict(x2).numpy() == task2.y_test)
    preds = rule.learn(torch.from_numpy(task2.x_train[:600]), torch.from_numpy(task2.y_train[:600]))
    after = np.mean(m.predict(x2).numpy() == task2.y_test)
    assert after > before + 0.25, (before, after)
    assert len(preds) == 600
    for w in m.hidden_weights():  # still on the int8 grid
        np.testing.assert_array_equal(((quantize_floor(w.detach(), 5) + 0.5) / 32).numpy(), w.detach().numpy())
    # BatchNorm is frozen
    for bn_a, bn_b in zip(m.bns, model.bns):
        assert torch.equal(bn_a.running_mean, bn_b.running_mean) and torch.equal(bn_a.weight, bn_b.weight)


def test_last_only_and_metaplasticity_protects(setup):
    ds, task2, model, settings = setup
    m = _copy(model)
    w0 = [fc.weight.detach().clone() for fc in m.fcs]
    DeviceRule(m, learn="last", lr=0.002).learn(torch.from_numpy(task2.x_train[:200]),
                                                 torch.from_numpy(task2.y_train[:200]))
    assert torch.equal(m.fcs[0].weight, w0[0]) and not torch.equal(m.fcs[1].weight, w0[1])
    # a large m freezes the signs of large hidden weights: fewer binary weights flip
    flips = []
    for meta in (0.0, 20.0):
        m = _copy(model)
        signs = [torch.sign(fc.weight.detach()) for fc in m.fcs]
        DeviceRule(m, lr=0.01, meta=meta).learn(torch.from_numpy(task2.x_train[:300]),
                                                torch.from_numpy(task2.y_train[:300]))
        flips.append(sum(int((torch.sign(fc.weight.detach()) != s).sum()) for fc, s in zip(m.fcs, signs)))
    assert flips[1] < 0.75 * flips[0]


def test_float_rule_and_integer_rule_learn_alike(setup):
    """The C/reference integer rule and the float form reach similar accuracy on the new task."""
    from pyruntime import reference

    ds, task2, model, settings = setup
    spec, info = fold(model, settings, device_lr=0.002, lr_mult=[1.0], consolidate=1.0, meta=1.35)  # the float rule's form
    dev = reference.Model.load(write_blob(spec))
    n = 400
    dev.learn(task2.quantize(task2.x_train[:n]), task2.y_train[:n])
    acc_int = np.mean(dev.predict(task2.quantize(task2.x_test)) == task2.y_test)
    m = _copy(model)
    DeviceRule(m, lr=0.002, hscale_log2=info.hscale_log2).learn(torch.from_numpy(task2.x_train[:n]),
                                                                 torch.from_numpy(task2.y_train[:n]))
    acc_float = np.mean(m.predict(torch.from_numpy(task2.x_test)).numpy() == task2.y_test)
    assert abs(acc_int - acc_float) < 0.12, (acc_int, acc_float)
