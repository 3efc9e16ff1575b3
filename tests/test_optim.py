"""MetaAdam: single steps checked against values computed by hand (the authors' Adam_meta)."""

import math

import pytest
import torch

from export.optim import MetaAdam, f_meta

LR, B1, B2, EPS = 0.005, 0.9, 0.999, 1e-8


def one_step(w0, g, meta=1.35, wd=0.0, steps=1):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = MetaAdam([p], lr=LR, meta=meta, weight_decay=wd)
    for _ in range(steps):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach()


def hand_adam(w, g, meta, wd=0.0, t=1, m=0.0, v=0.0):
    """The paper's step for one scalar of a weight matrix, written out."""
    g = g + wd * w
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g * g
    step_size = LR * math.sqrt(1 - B2**t) / (1 - B1**t)
    toward_zero = math.copysign(1, w) * m > 0 if w != 0 else False
    mm = (1 - math.tanh(meta * abs(w)) ** 2) * m if toward_zero else m
    return w - step_size * mm / (math.sqrt(v) + EPS), m, v


def test_step_away_from_zero_is_full_adam():
    # w > 0, gradient < 0: the step increases w (away from zero), no damping.
    out = one_step([[0.5, -0.3]], [[-0.2, 0.4]])
    assert out[0, 0].item() == pytest.approx(hand_adam(0.5, -0.2, 1.35)[0], abs=1e-12)
    assert out[0, 1].item() == pytest.approx(hand_adam(-0.3, 0.4, 1.35)[0], abs=1e-12)
    # first Adam step is lr * sign(-g) up to eps
    assert out[0, 0].item() == pytest.approx(0.5 + LR, rel=1e-6)


def test_step_toward_zero_is_damped_by_f_meta():
    out = one_step([[0.5, -0.3]], [[0.2, -0.4]], meta=1.35)
    w_hand, _, _ = hand_adam(0.5, 0.2, 1.35)
    assert out[0, 0].item() == pytest.approx(w_hand, abs=1e-12)
    assert out[0, 0].item() == pytest.approx(0.5 - LR * (1 - math.tanh(1.35 * 0.5) ** 2), rel=1e-6)
    assert out[0, 1].item() == pytest.approx(-0.3 + LR * (1 - math.tanh(1.35 * 0.3) ** 2), rel=1e-6)


def test_meta_zero_is_plain_adam_and_bn_is_plain_adam():
    w = one_step([[0.5]], [[0.2]], meta=0.0)
    assert w.item() == pytest.approx(0.5 - LR, rel=1e-6)
    # one-dimensional parameters (BatchNorm) are never damped
    b = one_step([2.0], [0.7], meta=5.0)
    assert b.item() == pytest.approx(2.0 - LR, rel=1e-6)


def test_two_steps_bias_correction_and_weight_decay():
    w, m, v = 0.8, 0.0, 0.0
    grads = [0.3, -0.1]
    for t, g in enumerate(grads, 1):
        w_next, m, v = hand_adam(w, g, 2.0, wd=0.01, t=t, m=m, v=v)
        w = w_next
    p = torch.nn.Parameter(torch.tensor([[0.8]], dtype=torch.float64))
    opt = MetaAdam([p], lr=LR, meta=2.0, weight_decay=0.01)
    for g in grads:
        p.grad = torch.tensor([[g]], dtype=torch.float64)
        opt.step()
    assert p.item() == pytest.approx(w, abs=1e-12)


def test_meta_per_layer_and_no_clipping():
    a = torch.nn.Parameter(torch.full((1, 1), 0.5))
    b = torch.nn.Parameter(torch.full((1, 1), 0.5))
    bn = torch.nn.Parameter(torch.ones(1))
    opt = MetaAdam([a, bn, b], lr=LR, meta=[0.0, 3.0])
    assert opt.meta_of(a) == 0.0 and opt.meta_of(b) == 3.0
    for p in (a, b, bn):
        p.grad = torch.ones_like(p)
    opt.step()
    assert a.item() == pytest.approx(0.5 - LR, rel=1e-5)
    assert b.item() == pytest.approx(0.5 - LR * f_meta(torch.tensor(0.5), 3.0).item(), rel=1e-5)
    # hidden weights grow without bound (no clipping at 1)
    big = torch.nn.Parameter(torch.full((1, 1), 1.0))
    opt = MetaAdam([big], lr=0.5, meta=1.0)
    for _ in range(5):
        big.grad = -torch.ones_like(big)
        opt.step()
    assert big.item() > 3.0


def test_bad_arguments():
    p = torch.nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(ValueError):
        MetaAdam([p], lr=-1)
    with pytest.raises(ValueError):
        MetaAdam([p], meta=[1.0, 2.0])
    with pytest.raises(ValueError):
        MetaAdam([p], betas=(1.0, 0.9))
