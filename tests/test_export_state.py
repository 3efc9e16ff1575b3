"""export.load_state: hidden weights a device learned, back in PyTorch, predict what the device predicts."""

import struct

import numpy as np
import pytest
import torch

from export import data, load_state
from export.blob import write_blob
from export.checkpoint import save_checkpoint
from export.fold import fold
from export.state import StateError
from export.train import train
from pyruntime import reference
from runtimes import RUNTIMES


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    ds = data.load("digits")
    task2 = data.permute(ds, 7)
    model, settings, history = train(ds, [64, 48, 32, 10], epochs=2, progress=False, log=lambda s: None)
    with torch.no_grad():  # some negative BatchNorm scales, so the exporter flips neurons
        model.bns[0].weight[::3] *= -1
        model.bns[1].weight[::4] *= -1
    path = tmp_path_factory.mktemp("state") / "model.pt"
    save_checkpoint(path, model, settings, history)
    return path, model, settings, ds, task2


@pytest.mark.parametrize("load", RUNTIMES)
@pytest.mark.parametrize("learn", ["all", "last"])
def test_device_state_reproduces_device_predictions(setup, load, learn):
    path, model, settings, ds, task2 = setup
    spec, info = fold(model, settings, learn=learn)
    assert info.flipped[0].any() and info.flipped[1].any()
    blob = write_blob(spec)
    dev = load(blob)
    # the whole task: with the default consolidation (x4 at export) an output
    # layer learning alone needs more than a few hundred samples to move
    dev.learn(task2.quantize(task2.x_train), task2.y_train)
    state = dev.state()
    for restored in (load_state(path, state, learn=learn), load_state(path, state, blob=blob)):
        for ds_ in (ds, task2):
            pt = restored.predict(torch.from_numpy(ds_.x_test)).numpy()
            on_dev = np.asarray(dev.predict(ds_.quantize(ds_.x_test)))
            assert np.mean(pt == on_dev) >= 0.995
    # the device did learn something, and PyTorch sees it
    before = model.predict(torch.from_numpy(task2.x_test)).numpy()
    after = restored.predict(torch.from_numpy(task2.x_test)).numpy()
    assert np.mean(after == task2.y_test) > np.mean(before == task2.y_test)


def test_state_of_untouched_device_gives_the_grid_model(setup):
    path, model, settings, ds, _ = setup
    spec, info = fold(model, settings, consolidate=1.0)
    dev = reference.Model.load(write_blob(spec))
    restored = load_state(path, dev.state(), consolidate=1.0)
    for idx, fc in enumerate(restored.fcs):
        e = info.hscale_log2[idx]
        w = model.fcs[idx].weight.detach().double().numpy()
        np.testing.assert_array_equal(fc.weight.detach().double().numpy(), (np.floor(w * 2.0**e) + 0.5) * 2.0**-e)
    # with the default consolidation the device starts from the same binary weights, further from zero
    dev = reference.Model.load(write_blob(fold(model, settings)[0]))
    restored = load_state(path, dev.state())
    for fc, grid in zip(restored.fcs, model.fcs):
        w, g = fc.weight.detach().numpy(), grid.weight.detach().numpy()
        np.testing.assert_array_equal(w >= 0, g >= 0)
        assert np.abs(w).mean() >= np.abs(g).mean()


def test_bad_states_are_refused(setup):
    path, model, settings, _, _ = setup
    dev = reference.Model.load(write_blob(fold(model, settings)[0]))
    state = bytearray(dev.state())
    with pytest.raises(StateError, match="another model"):
        load_state(path, bytes(state), learn="all", seed=99)  # a different blob
    with pytest.raises(StateError, match="learning layers"):
        load_state(path, bytes(state), learn="last")
    bad = bytearray(state)
    bad[40] ^= 1
    with pytest.raises(StateError, match="CRC"):
        load_state(path, bytes(bad))
    with pytest.raises(StateError, match="magic"):
        load_state(path, b"XXXX" + bytes(state[4:]))
    with pytest.raises(StateError, match="too short"):
        load_state(path, bytes(state[:10]))
    newer = bytearray(state)
    struct.pack_into("<I", newer, 4, 2)
    with pytest.raises(StateError, match="version"):
        load_state(path, bytes(newer))
