"""Learned state: saved and loaded exactly, learning continues identically, and
a bad state is refused without touching what the model learned; also for a
model whose blob has memory slots (state version 2: the memory follows the
layers)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import pyruntime
from pyruntime.testing import random_spec, random_stream
from export.blob import KIND_BITS, write_blob
from pyruntime import MbnnError, reference

GOLDEN = (Path(__file__).parent / "data" / "golden.mbnn").read_bytes()
# int8 24-30-5, all learn, a rehearsal set of 13 and 7 memory slots (runtime_c/tests/make_extra_golden.py)
MEMORY = (Path(__file__).parent.parent / "runtime_c" / "tests" / "data" / "memory.mbnn").read_bytes()


def _stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return random_stream(np.random.default_rng(seed), n, 20, 5)


def _memory_stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return random_stream(np.random.default_rng(seed), n, 24, 5)


@pytest.mark.parametrize("impl", [pyruntime.Model, reference.Model], ids=["c", "reference"])
def test_save_load_round_trip_and_identical_continuation(impl) -> None:
    """Learn, save, learn on; a fresh model loaded with the saved state learns on
    with the very same predictions, state and logits."""
    x, y = _stream(400)
    first = impl.load(GOLDEN)
    first.learn(x[:200], y[:200])
    saved = first.state()
    first_preds = first.learn(x[200:], y[200:])

    second = impl.load(GOLDEN)
    second.load_state(saved)
    assert second.state() == saved and second.step == 200
    np.testing.assert_array_equal(second.learn(x[200:], y[200:]), first_preds)
    assert second.state() == first.state()
    np.testing.assert_array_equal(second.infer(x), first.infer(x))


def test_c_state_loads_in_reference_and_back() -> None:
    """The state bytes are the same format in C and in the reference."""
    x, y = _stream(100)
    c_model = pyruntime.Model.load(GOLDEN)
    c_model.learn(x, y)
    ref = reference.Model.load(GOLDEN)
    ref.load_state(c_model.state())
    assert ref.state() == c_model.state()
    np.testing.assert_array_equal(ref.infer(x), c_model.infer(x))


@pytest.mark.parametrize("blob", ["golden", "memory"])
def test_every_damaged_state_is_refused_and_nothing_changes(blob: str) -> None:
    """Each byte of a saved state inverted (or its low bit flipped), and every truncation: MbnnError, and
    the model keeps the state it had; also for a model with memory slots (memory included)."""
    data, stream = (GOLDEN, _stream) if blob == "golden" else (MEMORY, _memory_stream)
    x, y = stream(50)
    donor = pyruntime.Model.load(data)
    donor.learn(x, y)
    good = donor.state()
    model = pyruntime.Model.load(data)
    model.learn(x[:7], y[:7])
    before = model.state()
    for mask in (0xFF, 0x01):
        for pos in range(len(good)):
            bad = bytearray(good)
            bad[pos] ^= mask
            with pytest.raises(MbnnError) as info:
                model.load_state(bytes(bad))
            assert info.value.name == "MBNN_ERR_STATE_CORRUPT", pos
    for n in range(len(good)):
        with pytest.raises(MbnnError):
            model.load_state(good[:n])
    assert model.state() == before


def test_state_of_another_model_is_refused() -> None:
    """A valid state saved by another blob is refused as such."""
    spec = random_spec(np.random.default_rng(3), [20, 37, 33, 5], KIND_BITS, [True, False, True])
    other = pyruntime.Model.load(write_blob(spec))
    other.learn(*_stream(20))
    model = pyruntime.Model.load(GOLDEN)
    before = model.state()
    with pytest.raises(MbnnError, match="another model") as info:
        model.load_state(other.state())
    assert info.value.name == "MBNN_ERR_STATE_MODEL"
    assert model.state() == before


def test_out_of_range_statistic_is_refused() -> None:
    """A state with a valid CRC but an error statistic above 2^30 is corrupt."""
    model = pyruntime.Model.load(GOLDEN)
    state = bytearray(model.state())
    rms_at = 32 + ((20 * 37 + 3) & ~3)  # first rms of layer 0
    struct.pack_into("<I", state, rms_at, (1 << 30) + 1)
    struct.pack_into("<I", state, 12, zlib.crc32(bytes(state[16:])))
    with pytest.raises(MbnnError) as info:
        model.load_state(bytes(state))
    assert info.value.name == "MBNN_ERR_STATE_CORRUPT"


def test_inference_only_model_cannot_learn() -> None:
    """A model loaded for inference has no learning arena and says so."""
    model = pyruntime.Model.load(GOLDEN, learn=False)
    with pytest.raises(MbnnError) as info:
        model.learn(*_stream(1))
    assert info.value.name == "MBNN_ERR_NO_LEARN"


@pytest.mark.parametrize("impl", [pyruntime.Model, reference.Model], ids=["c", "reference"])
def test_errors_are_the_same_in_c_and_reference(impl) -> None:
    """Both implementations name a bad label, a bad state and a frozen model alike."""
    x, y = _stream(3)
    model = impl.load(GOLDEN)
    with pytest.raises(MbnnError, match="label out of range"):
        model.learn(x, np.array([0, 5, 1]))
    assert model.step == 0
    with pytest.raises(MbnnError) as info:
        model.load_state(b"MBST" + bytes(40))
    assert info.value.name == "MBNN_ERR_STATE_CORRUPT"
    with pytest.raises(MbnnError) as info:
        impl.load(GOLDEN, learn=False).learn(x, y)
    assert info.value.name == "MBNN_ERR_NO_LEARN"


def _with_step(state: bytes, step: int) -> bytes:
    """The same state claiming another step count (CRC recomputed)."""
    out = bytearray(state)
    struct.pack_into("<I", out, 20, step)
    struct.pack_into("<I", out, 12, zlib.crc32(bytes(out[16:])))
    return bytes(out)


def test_two_slots_survive_a_reset_in_the_middle_of_a_write() -> None:
    """Saving alternates between two slots; a write cut short by a reset leaves a
    slot that fails its CRC, and the other slot, one save older, is loaded."""
    x, y = _stream(60)
    model = pyruntime.Model.load(GOLDEN)
    model.learn(x[:20], y[:20])
    slot_a = model.state()  # step 20
    model.learn(x[20:40], y[20:40])
    newer = model.state()  # step 40, to be written over slot b
    assert model.pick_state(slot_a, newer) == 1 and model.pick_state(newer, slot_a) == 0
    old_b = _with_step(slot_a, 7)
    for cut in (1, len(newer) // 2, len(newer) - 1):  # reset after `cut` bytes of the write
        torn = newer[:cut] + old_b[cut:]
        assert model.pick_state(slot_a, torn) == 0
    assert model.pick_state(None, newer) == 1 and model.pick_state(slot_a, None) == 0
    with pytest.raises(MbnnError) as info:
        model.pick_state(None, newer[:-1])
    assert info.value.name == "MBNN_ERR_STATE_CORRUPT"
    fresh = pyruntime.Model.load(GOLDEN)
    fresh.load_state([slot_a, newer][fresh.pick_state(slot_a, newer)])
    assert fresh.state() == newer


def test_slot_choice_follows_serial_number_arithmetic() -> None:
    """Step counts compare mod 2^32: 1 is newer than 2^32 - 1 (the count wrapped)."""
    model = pyruntime.Model.load(GOLDEN)
    state = model.state()
    assert model.pick_state(_with_step(state, 2**32 - 1), _with_step(state, 1)) == 1
    assert model.pick_state(_with_step(state, 5), _with_step(state, 4)) == 0
    assert model.pick_state(_with_step(state, 9), _with_step(state, 9)) == 0


@pytest.mark.parametrize("impl", [pyruntime.Model, reference.Model], ids=["c", "reference"])
@pytest.mark.parametrize("cut", [0, 3, 7, 8, 40])
def test_memory_state_round_trip_and_identical_continuation(impl, cut: int) -> None:
    """A model with memory slots saved with its memory empty, partly filled, just full, replacing rows:
    a fresh model (and one that learned other samples) loaded with the state learns on exactly as the
    uninterrupted one; the state is version 2 and ends with seen."""
    x, y = _memory_stream(cut + 40)
    first = impl.load(MEMORY)
    first.learn(x[:cut], y[:cut])
    saved = first.state()
    assert struct.unpack_from("<I", saved, 4)[0] == 2
    assert struct.unpack_from("<I", saved, len(saved) - 4 - 24 * 7 - 16)[0] == cut  # seen: before rows, labels
    first_preds = first.learn(x[cut:], y[cut:])
    for learned in (0, 9):
        second = impl.load(MEMORY)
        second.learn(*_memory_stream(learned, seed=1))
        second.load_state(saved)
        assert second.state() == saved and second.step == 2 * cut
        np.testing.assert_array_equal(second.learn(x[cut:], y[cut:]), first_preds)
        assert second.state() == first.state()


def test_memory_state_moves_between_c_and_reference() -> None:
    """The memory section is the same bytes in C and in the reference, both ways, and both go on alike."""
    x, y = _memory_stream(60)
    c_model, ref = pyruntime.Model.load(MEMORY), reference.Model.load(MEMORY)
    c_model.learn(x[:30], y[:30])
    ref.load_state(c_model.state())
    assert ref.state() == c_model.state()
    c_model.learn(x[30:45], y[30:45])
    ref.learn(x[30:45], y[30:45])
    assert ref.state() == c_model.state()
    ref.learn(x[45:], y[45:])
    c_model.load_state(ref.state())
    assert c_model.state() == ref.state()


@pytest.mark.parametrize("impl", [pyruntime.Model, reference.Model], ids=["c", "reference"])
def test_memory_label_out_of_range_is_refused(impl) -> None:
    """A memory label of n_classes with a valid CRC is corrupt (and never the slot picked); n_classes - 1
    loads."""
    model = impl.load(MEMORY)
    model.learn(*_memory_stream(3))
    before = model.state()
    for value, want in ((5, "MBNN_ERR_STATE_CORRUPT"), (0xFFFF, "MBNN_ERR_STATE_CORRUPT"), (4, None)):
        state = bytearray(before)
        struct.pack_into("<H", state, len(state) - 16 + 2 * 6, value)  # the last of 7 labels (16 bytes)
        struct.pack_into("<I", state, 12, zlib.crc32(bytes(state[16:])))
        if want is None:
            model.load_state(bytes(state))
            assert model.state() == bytes(state)
            model.load_state(before)
            continue
        with pytest.raises(MbnnError) as info:
            model.load_state(bytes(state))
        assert info.value.name == want
        assert model.state() == before
        # of two slots, the one with the bad label is never picked
        assert model.pick_state(bytes(state), before) == 1 and model.pick_state(before, bytes(state)) == 0
        with pytest.raises(MbnnError) as info:
            model.pick_state(bytes(state), None)
        assert info.value.name == want
