"""The learned state on flash: the runtime's store on the simulated NOR flash
(pyruntime.flash), the fault-injection benchmark in its reduced form, and the
reserved word of the state refused alike by C and the reference; the store of a
model with memory slots (its state carries the memory)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import pyruntime
from pyruntime import reference
from pyruntime.errors import MbnnError
from pyruntime.flash import SimFlash, state_fingerprint, store_load, store_save

from conftest import DATA, ROOT

GOLDEN = (DATA / "golden.mbnn").read_bytes()
# int8 24-30-5, a rehearsal set of 13 and 7 memory slots (runtime_c/tests/make_extra_golden.py)
MEMORY = (ROOT / "runtime_c" / "tests" / "data" / "memory.mbnn").read_bytes()


def _stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, 20), dtype=np.int8), rng.integers(0, 5, size=n)


def _memory_stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, 24), dtype=np.int8), rng.integers(0, 5, size=n)


def _flash() -> SimFlash:
    return SimFlash(region_size=16 * 256, block_size=256, prog_size=16)


def test_empty_region_is_reported_and_changes_nothing() -> None:
    model = pyruntime.Model.load(GOLDEN)
    model.learn(*_stream(5))
    before = model.state()
    with pytest.raises(MbnnError) as info:
        store_load(model, _flash())
    assert info.value.name == "MBNN_ERR_STORE_EMPTY"
    assert model.state() == before


def test_newest_write_wins_over_a_larger_step() -> None:
    """A board reset to the blob's model that saves at step 2 must not lose to
    its old record at step 40 (the bug of mbnn_state_pick's step order)."""
    flash = _flash()
    x, y = _stream(42)
    model = pyruntime.Model.load(GOLDEN)
    model.learn(x[:40], y[:40])
    assert store_save(model, flash).seq == 1
    model = pyruntime.Model.load(GOLDEN)  # deliberate reset to the blob
    model.learn(x[40:], y[40:])
    assert store_save(model, flash).seq == 2
    board = pyruntime.Model.load(GOLDEN)
    info = store_load(board, flash)
    assert (info.seq, info.step, board.step) == (2, 2, 2)
    assert board.state() == model.state()


def test_store_rotates_records_and_counts_erases() -> None:
    flash = _flash()
    model = pyruntime.Model.load(GOLDEN)
    x, y = _stream(30)
    for i in range(30):
        model.learn(x[i : i + 1], y[i : i + 1])
        info = store_save(model, flash)
    used = info.slots * info.blocks_per_slot
    counts = flash.erase_counts[:used]
    assert info.erases == int(counts.sum()) == 30 * info.blocks_per_slot
    assert counts.max() - counts.min() <= 1  # spread evenly over the region
    assert flash.violations == 0


@pytest.mark.parametrize("blob", ["golden", "memory"])
def test_power_cut_in_every_operation_keeps_old_or_new_state(blob: str) -> None:
    """A power cut in any program or erase of a save: the board loads the state before that save or after
    it; for the model with memory slots (it fills at the fourth sample, then replaces rows) memory included."""
    data, stream = (GOLDEN, _stream) if blob == "golden" else (MEMORY, _memory_stream)
    flash = _flash()
    model = pyruntime.Model.load(data)
    board = pyruntime.Model.load(data)
    x, y = stream(203)
    model.learn(x[:3], y[:3])
    ops = flash.ops
    store_save(model, flash)
    ops = flash.ops - ops
    for op in range(1, ops + 1):
        store_load(board, flash)
        old = state_fingerprint(board)
        model.learn(x[op + 3 : op + 4], y[op + 3 : op + 4])
        flash.cut_power(op, at=op * 40503, scatter=op % 2 == 1)
        with pytest.raises(MbnnError) as info:
            store_save(model, flash)
        assert info.value.name == "MBNN_ERR_FLASH_IO"
        flash.power_on()
        store_load(board, flash)
        assert state_fingerprint(board) in (old, state_fingerprint(model))
    assert flash.violations == 0


def test_region_too_small_names_the_geometry() -> None:
    model = pyruntime.Model.load(GOLDEN)
    with pytest.raises(MbnnError) as info:
        store_save(model, SimFlash(region_size=256, block_size=256, prog_size=16))
    assert info.value.name == "MBNN_ERR_FLASH_GEOMETRY"
    assert "two records" in str(info.value)


def test_fault_injection_reduced_run() -> None:
    """bench/powerloss.py with 2,000 cuts: the long run is `--cuts 20000`. (Run as a
    command: tests do not import benchmarks.)"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "powerloss.py"), "--cuts", "2000", "--seed", "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == "power cuts: 2000, states lost: 0, torn loads: 0"


def _with_reserved(state: bytes, value: int) -> bytes:
    out = bytearray(state)
    struct.pack_into("<I", out, 28, value)
    struct.pack_into("<I", out, 12, zlib.crc32(bytes(out[16:])))
    return bytes(out)


def _with_n_learning(state: bytes, value: int) -> bytes:
    out = bytearray(state)
    struct.pack_into("<I", out, 24, value)
    struct.pack_into("<I", out, 12, zlib.crc32(bytes(out[16:])))
    return bytes(out)


@pytest.mark.parametrize("impl", [pyruntime.Model, reference.Model], ids=["C", "reference"])
def test_reserved_word_and_layer_count_are_checked_alike(impl) -> None:
    """A state with the reserved word not 0 is corrupt; one that claims another
    number of learning layers belongs to another model: same status in C and
    in the reference, and the model keeps its state."""
    model = impl.load(GOLDEN)
    model.learn(*_stream(4))
    state = model.state()
    for bad, name in ((_with_reserved(state, 1), "MBNN_ERR_STATE_CORRUPT"),
                      (_with_reserved(state, 1 << 31), "MBNN_ERR_STATE_CORRUPT"),
                      (_with_n_learning(state, 1), "MBNN_ERR_STATE_MODEL")):
        with pytest.raises(MbnnError) as info:
            model.load_state(bad)
        assert info.value.name == name
        assert model.state() == state
    model.load_state(_with_reserved(state, 0))


def test_memory_model_store_round_trip() -> None:
    """A model with memory slots saved to the store with its memory partly filled, then full and replacing
    rows: a fresh board loads the newest record, memory included, and learns on as the model."""
    flash = _flash()
    x, y = _memory_stream(60)
    model = pyruntime.Model.load(MEMORY)
    for start, upto in ((0, 4), (4, 25)):
        model.learn(x[start:upto], y[start:upto])
        info = store_save(model, flash)
        board = pyruntime.Model.load(MEMORY)
        assert store_load(board, flash).step == info.step == 2 * upto
        assert board.state() == model.state() and board.state()[4] == 2
    model.learn(x[25:], y[25:])
    board.learn(x[25:], y[25:])
    assert board.state() == model.state()
    assert flash.violations == 0

