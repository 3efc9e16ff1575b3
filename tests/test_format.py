"""The Python writer and reader of the .mbnn format against each other and against
the checked-in golden blob."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export.blob import write_atomic
from pyruntime import reference
from pyruntime.format import BLOB_HEADER, LAYER_ENTRY, BlobError, pack_bits, read_blob, unpack_bits, write_blob
from pyruntime.testing import random_spec

DATA = Path(__file__).parent / "data"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**32 - 1), st.booleans())
def test_write_read_round_trip(n_layers: int, seed: int, int8_input: bool) -> None:
    """read_blob(write_blob(spec)) gives back every field; writing it again gives the same bytes."""
    rng = np.random.default_rng(seed)
    sizes = list(rng.integers(1, 100, n_layers + 1))
    learns = list(rng.random(n_layers) < 0.5)
    spec = random_spec(rng, sizes, 0 if int8_input else 1, learns)
    blob = write_blob(spec)
    back = read_blob(blob)
    assert write_blob(back) == blob
    for a, b in zip(spec.layers, back.layers):
        np.testing.assert_array_equal(a.bits, b.bits)
        assert a.learns == b.learns and a.lr_q16 == b.lr_q16 and a.bwd_shift == b.bwd_shift
        for pa, pb in zip(a.params, b.params):
            np.testing.assert_array_equal(pa, pb)
        if a.learns:
            np.testing.assert_array_equal(a.hidden, b.hidden)
            np.testing.assert_array_equal(a.meta, b.meta)
    assert (back.seed, back.rms_shift, back.out_frac_bits) == (spec.seed, spec.rms_shift, spec.out_frac_bits)


def test_arrays_are_four_byte_aligned_and_rows_padded() -> None:
    """Every offset in the layer table is a multiple of 4; padding bits are zero."""
    spec = random_spec(np.random.default_rng(5), [33, 7, 65, 3], 0, [True, False, True])
    blob = write_blob(spec)
    for idx in range(3):
        entry = LAYER_ENTRY.unpack(blob, BLOB_HEADER.size + LAYER_ENTRY.size * idx)
        offsets = [entry[name] for name in ("off_bits", "off_hidden", "off_params", "off_gscale", "off_meta")]
        assert all(off % 4 == 0 for off in offsets)
    words = pack_bits(np.ones((2, 33), dtype=np.uint8))
    assert words.shape == (2, 2) and words[0, 1] == 1  # bit 32 is bit 0 of word 1, the rest padding
    np.testing.assert_array_equal(unpack_bits(words, 33), np.ones((2, 33)))


def test_golden_blob_is_stable() -> None:
    """The checked-in golden blob parses, re-serializes to the same bytes, and the
    reference computes its checked-in outputs (so neither format nor arithmetic drifted)."""
    blob = (DATA / "golden.mbnn").read_bytes()
    io = json.loads((DATA / "golden_io.json").read_text())
    assert write_blob(read_blob(blob)) == blob
    model = reference.Model.load(blob)
    x = np.array(io["infer_inputs"], dtype=np.int8)
    np.testing.assert_array_equal(model.infer(x), io["infer_logits"])
    preds = model.learn(np.array(io["learn_inputs"], dtype=np.int8), np.array(io["learn_labels"]))
    np.testing.assert_array_equal(preds, io["learn_predictions"])
    np.testing.assert_array_equal(model.last_losses, io["learn_losses"])
    assert zlib.crc32(model.state()) == io["state_crc_after_learning"]
    np.testing.assert_array_equal(model.infer(x), io["logits_after_learning"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:10], "truncated"),
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: b[:4] + struct.pack("<I", 3) + b[8:], "version 3"),
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], "CRC mismatch"),
    ],
)
def test_reader_names_the_problem(mutate, message: str) -> None:
    """Each kind of damage gives a BlobError whose message says what is wrong."""
    blob = (DATA / "golden.mbnn").read_bytes()
    with pytest.raises(BlobError, match=message):
        read_blob(mutate(blob))


def test_writer_refuses_a_learning_layer_whose_bits_disagree() -> None:
    """bits must be the sign of the hidden weights of a learning layer."""
    spec = random_spec(np.random.default_rng(1), [10, 4, 3])
    spec.layers[0].bits[0, 0] ^= 1
    with pytest.raises(BlobError, match="sign of the hidden"):
        write_blob(spec)


def test_write_atomic_leaves_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails (disk full at fsync) leaves the old file as it was and no temporary file."""
    target = tmp_path / "m.mbnn"
    target.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("export.blob.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.mbnn"]
