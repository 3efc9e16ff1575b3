"""The rehearsal set from training to blob: export.train keeps one, export puts it in the blob, bad sets refused."""

import numpy as np
import pytest
import torch

from export import data
from export.__main__ import main as export_main
from export.blob import read_blob
from export.checkpoint import read_checkpoint, save_checkpoint
from export.model import MetaBNN
from export.rehearsal import DEFAULT_MEMORY, DEFAULT_REHEARSAL, REHEARSAL_POOL, memory_choices, rehearsal_indices
from export.train import main as train_main
from pyruntime.format import quantize


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("rh") / "model.pt"
    assert train_main(["--dataset", "digits", "--sizes", "64,32,10", "--epochs", "1", "--seed", "3",
                       "--no-progress", "-o", str(path)]) == 0
    return path


def test_training_keeps_random_training_samples_as_the_device_reads_them(trained):
    ckpt = read_checkpoint(trained)
    x, y = ckpt["rehearsal"]["x"].numpy(), ckpt["rehearsal"]["y"].numpy()
    ds = data.load("digits")
    idx = rehearsal_indices(len(ds.x_train), REHEARSAL_POOL, 3)
    assert x.dtype == np.int8 and x.shape == (min(REHEARSAL_POOL, len(ds.x_train)), 64)
    model = MetaBNN(**ckpt["architecture"])
    assert np.array_equal(x, quantize(ds.x_train[idx], model.input_scale, model.input_zero_point))
    assert np.array_equal(y, ds.y_train[idx])
    assert len(set(y.tolist())) == 10  # random, not the first rows of one class


def test_export_puts_the_default_set_in_the_blob_and_leaves_it_out_on_request(trained, tmp_path, capsys):
    ckpt = read_checkpoint(trained)
    out = tmp_path / "m.mbnn"
    assert export_main([str(trained), "-o", str(out)]) == 0
    assert f"rehearsal: {DEFAULT_REHEARSAL} training samples" in capsys.readouterr().out
    spec = read_blob(out.read_bytes())
    x, y = spec.rehearsal
    assert np.array_equal(x, ckpt["rehearsal"]["x"].numpy()[:DEFAULT_REHEARSAL])
    assert np.array_equal(y, ckpt["rehearsal"]["y"].numpy()[:DEFAULT_REHEARSAL])
    assert export_main([str(trained), "-o", str(out), "--rehearsal", "7"]) == 0
    assert len(read_blob(out.read_bytes()).rehearsal[0]) == 7
    assert export_main([str(trained), "-o", str(out), "--rehearsal", "0"]) == 0
    assert read_blob(out.read_bytes()).rehearsal is None
    assert export_main([str(trained), "-o", str(out), "--learn", "none"]) == 0  # nothing learns: nothing to rehearse
    assert read_blob(out.read_bytes()).rehearsal is None


@pytest.mark.parametrize("argv, says", [
    (["--rehearsal", "-1"], "--rehearsal must be in 0..65535"),
    (["--rehearsal", "100000"], "--rehearsal must be in 0..65535"),
    (["--rehearsal", "65535"], "rehearsal samples, 65535 asked"),
])
def test_export_refuses_a_bad_count_and_writes_nothing(trained, tmp_path, capsys, argv, says):
    out = tmp_path / "m.mbnn"
    assert export_main([str(trained), "-o", str(out)] + argv) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def _with_rehearsal(tmp_path, x, y):
    model = MetaBNN([64, 32, 10]).eval()
    path = tmp_path / "bad.pt"
    save_checkpoint(path, model, {"meta": 1.35}, rehearsal={"x": x, "y": y})
    return path


@pytest.mark.parametrize("x, y, says", [
    (torch.zeros(5, 63, dtype=torch.int8), torch.zeros(5, dtype=torch.int64), "not int8 samples"),
    (torch.zeros(5, 64, dtype=torch.float32), torch.zeros(5, dtype=torch.int64), "not int8 samples"),
    (torch.zeros(5, 64, dtype=torch.int8), torch.zeros(4, dtype=torch.int64), "not int8 samples"),
    (torch.zeros(5, 64, dtype=torch.int8), torch.full((5,), 10, dtype=torch.int64), "labels outside 0..9"),
    (torch.zeros(5, 64, dtype=torch.int8), torch.full((5,), -1, dtype=torch.int64), "labels outside 0..9"),
])
def test_export_refuses_a_bad_set_in_the_checkpoint(tmp_path, capsys, x, y, says):
    out = tmp_path / "m.mbnn"
    assert export_main([str(_with_rehearsal(tmp_path, x, y)), "-o", str(out), "--rehearsal", "5"]) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_a_checkpoint_without_a_set_exports_without_one_and_says_so(tmp_path, capsys):
    path = tmp_path / "plain.pt"
    save_checkpoint(path, MetaBNN([64, 32, 10]).eval(), {"meta": 1.35})
    assert export_main([str(path), "-o", str(tmp_path / "m.mbnn")]) == 0
    assert "rehearsal: none" in capsys.readouterr().out
    assert read_blob((tmp_path / "m.mbnn").read_bytes()).rehearsal is None


def test_export_asks_for_the_default_memory_and_for_what_is_asked(trained, tmp_path, capsys):
    out = tmp_path / "m.mbnn"
    assert export_main([str(trained), "-o", str(out)]) == 0
    assert f"memory: {DEFAULT_MEMORY} slots" in capsys.readouterr().out
    assert read_blob(out.read_bytes()).memory == DEFAULT_MEMORY
    for argv, want in ((["--memory", "7"], 7), (["--memory", "0"], 0), (["--rehearsal", "0"], 0),
                       (["--learn", "none"], 0)):
        assert export_main([str(trained), "-o", str(out)] + argv) == 0
        assert read_blob(out.read_bytes()).memory == want, argv


def test_the_device_m_follows_the_memory_and_the_quickstart_rebuilds_the_blob_without_it(trained, tmp_path,
                                                                                         monkeypatch):
    """With memory slots the device's table is m = MEMORY_DEVICE_META, with the set alone DEFAULT_DEVICE_META
    (the checkpoint was trained with 1.35); examples/quickstart.py's blob without memory is export's --memory 0."""
    from pathlib import Path

    from export.blob import meta_table
    from export.fold import DEFAULT_DEVICE_META, MEMORY_DEVICE_META

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples"))
    from quickstart import device_m, without_memory

    with_memory, alone = tmp_path / "a.mbnn", tmp_path / "b.mbnn"
    assert export_main([str(trained), "-o", str(with_memory)]) == 0
    assert export_main([str(trained), "-o", str(alone), "--memory", "0"]) == 0
    for path, m in ((with_memory, MEMORY_DEVICE_META), (alone, DEFAULT_DEVICE_META)):
        blob = path.read_bytes()
        assert device_m(blob, trained) == m
        assert all(np.array_equal(l.meta, meta_table(m, l.hscale_log2)) for l in read_blob(blob).layers if l.learns)
    assert without_memory(with_memory.read_bytes(), trained) == alone.read_bytes()


def test_with_a_board_export_gives_the_memory_fewer_slots_before_fewer_layers_learn(trained, tmp_path, capsys):
    """The micro:bit (16 KiB) cannot hold 100 slots of 64 inputs beside this model's learning arena and state;
    export takes the most of DEFAULT_MEMORY halved that fits, every layer still learning."""
    from export.boards import board_spec, needs

    out = tmp_path / "m.mbnn"
    assert export_main([str(trained), "-o", str(out), "--memory", str(DEFAULT_MEMORY), "--board", "microbit"]) == 2
    assert not out.exists() and "needs" in capsys.readouterr().err
    assert export_main([str(trained), "-o", str(out), "--board", "microbit"]) == 0
    spec, board = read_blob(out.read_bytes()), board_spec("microbit")
    assert all(layer.learns for layer in spec.layers) and needs(out.read_bytes()).fits(board, learn=True)
    bigger = memory_choices(DEFAULT_MEMORY)[memory_choices(DEFAULT_MEMORY).index(spec.memory) - 1]
    assert 0 < spec.memory < DEFAULT_MEMORY
    assert export_main([str(trained), "-o", str(out), "--memory", str(bigger), "--board", "microbit"]) == 2


@pytest.mark.parametrize("value", ["-1", "65536"])
def test_export_refuses_a_bad_memory_and_writes_nothing(trained, tmp_path, capsys, value):
    out = tmp_path / "m.mbnn"
    assert export_main([str(trained), "-o", str(out), "--memory", value]) == 2
    assert "--memory must be in 0..65535" in capsys.readouterr().err
    assert not out.exists()
