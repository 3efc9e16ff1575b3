"""Rehearsal (format version 3, docs/ARITHMETIC.md "Rehearsal"): with a rehearsal set
in the blob, each learning call is the step on the new sample, then one on sample
i = mix32(mix32(seed + step * 0x9E3779B9) ^ 0x52454852) mod count of the set, `step`
the counter after the first step. Checked in C (pyruntime.Model) and in the
reference against the same network without a set that learns the two samples itself,
with the index computed here from the rule."""

from __future__ import annotations

import numpy as np
import pytest

import pyruntime
from pyruntime import reference
from pyruntime.format import write_blob
from pyruntime.reference import mix32
from pyruntime.testing import random_spec, random_stream

MASK32 = 0xFFFFFFFF


def rule_index(seed: int, step: int, count: int) -> int:
    """The rehearsal sample of the step `step` (the counter after the new sample's step)."""
    key = int(mix32((seed + step * 0x9E3779B9) & MASK32))
    return int(mix32(key ^ 0x52454852)) % count


def pair(seed: int, count: int, distinct: bool = True):
    """(blob with a rehearsal set of count samples, the same network without one, the set)."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [23, 19, 6], 0, [True, True])
    plain = write_blob(spec)
    x, y = random_stream(rng, count, spec.n_inputs, spec.n_classes)
    if distinct:  # every sample different (first feature = its index) and labels not all equal
        x[:, 0] = np.arange(count) - 64
        y = np.arange(count) % spec.n_classes
    spec.rehearsal = (x, y)
    return write_blob(spec), plain, spec


@pytest.mark.parametrize("loader", [pyruntime.Model.load, reference.Model.load], ids=["C", "reference"])
@pytest.mark.parametrize(("count", "seed"), [(1, 1), (7, 2), (200, 3)])
def test_two_steps_per_sample_with_the_drawn_sample(loader, count: int, seed: int) -> None:
    """After every sample the step is 2 more, and the learned weights are those of the
    network without a set that learns the sample and then rehearsal sample rule_index."""
    blob, plain, spec = pair(seed, count)
    rx, ry = spec.rehearsal
    model, twin = loader(blob), loader(plain)
    x, y = random_stream(np.random.default_rng(seed + 100), 60, model.n_inputs, model.n_classes)
    drawn = []
    for n in range(len(x)):
        preds, losses = model.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        want_pred, want_loss = twin.learn(x[n : n + 1], y[n : n + 1], return_loss=True)
        assert model.step == 2 * (n + 1)
        assert (preds[0], losses[0]) == (want_pred[0], want_loss[0])  # those of the new sample
        i = rule_index(spec.seed, twin.step, count)
        drawn.append(i)
        twin.learn(rx[i : i + 1], ry[i : i + 1])
        # the state bytes after the header's CRC and model CRC: step, hidden weights, statistics
        assert model.state()[20:] == twin.state()[20:], f"after sample {n}"
    if count > 1:
        assert len(set(drawn)) > 1


def test_a_wrong_index_would_be_noticed() -> None:
    """The comparison above can fail: relearning sample i + 1 instead of i gives another state."""
    blob, plain, spec = pair(4, 7)
    rx, ry = spec.rehearsal
    model, twin = pyruntime.Model.load(blob), pyruntime.Model.load(plain)
    x, y = random_stream(np.random.default_rng(9), 20, model.n_inputs, model.n_classes)
    differ = 0
    for n in range(len(x)):
        model.learn(x[n : n + 1], y[n : n + 1])
        twin.learn(x[n : n + 1], y[n : n + 1])
        i = (rule_index(spec.seed, twin.step, 7) + 1) % 7
        twin.learn(rx[i : i + 1], ry[i : i + 1])
        differ += model.state()[20:] != twin.state()[20:]
    assert differ > 0


def test_a_refused_label_changes_nothing_and_state_round_trips() -> None:
    """A bad label is refused before either step; a saved state (step even) loads into a
    fresh model, which then continues exactly as the original."""
    blob, _, _ = pair(5, 9)
    model = pyruntime.Model.load(blob)
    x, y = random_stream(np.random.default_rng(1), 10, model.n_inputs, model.n_classes)
    model.learn(x[:5], y[:5])
    before = model.state()
    with pytest.raises(pyruntime.MbnnError) as info:
        model.learn(x[5:6], [model.n_classes])
    assert info.value.name == "MBNN_ERR_BAD_LABEL" and model.state() == before and model.step == 10
    fresh = pyruntime.Model.load(blob)
    fresh.load_state(before)
    model.learn(x[5:], y[5:])
    fresh.learn(x[5:], y[5:])
    assert fresh.state() == model.state() and fresh.step == 20
