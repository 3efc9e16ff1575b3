"""Learned state: saved and loaded exactly, learning continues identically, and
a bad state is refused without touching what the model learned."""

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


def _stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return random_stream(np.random.default_rng(seed), n, 20, 5)


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


def test_every_damaged_state_is_refused_and_nothing_changes() -> None:
    """Each byte of a saved state inverted, and every truncation: MbnnError, and
    the model keeps the state it had."""
    x, y = _stream(50)
    donor = pyruntime.Model.load(GOLDEN)
    donor.learn(x, y)
    good = donor.state()
    model = pyruntime.Model.load(GOLDEN)
    model.learn(x[:7], y[:7])
    before = model.state()
    for pos in range(len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0xFF
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
