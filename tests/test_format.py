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
from pyruntime.format import (BLOB_HEADER, LAYER_ENTRY, LAYER_ENTRY_V2, BlobError, pack_bits, read_blob, unpack_bits,
                              validate_blob, write_blob)
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
        (lambda b: b[:4] + struct.pack("<I", 4) + b[8:], "version 4"),
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


# ------------------------------------------------------------ version 3: rehearsal set


def _rehearsal_spec(seed: int, count: int, conv: bool = False):
    rng = np.random.default_rng(seed)
    if conv:
        from pyruntime.testing import Conv
        spec = random_spec(rng, [2 * 5 * 7, 6, 4], 0, [True] * 3, in_shape=(2, 5, 7),
                           convs=[Conv("conv2d", 3, (3, 3), (1, 1), (1, 1), 1)])
    else:
        spec = random_spec(rng, [int(rng.integers(1, 40)), int(rng.integers(1, 30)), int(rng.integers(2, 9))])
    x = rng.integers(-128, 128, (count, spec.n_inputs)).astype(np.int8)
    return spec, (x, rng.integers(0, spec.n_classes, count))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.booleans(), st.sampled_from([0, 1, 65535]))
def test_rehearsal_round_trip(seed: int, count: int, conv: bool, memory: int) -> None:
    """A rehearsal set (with or without memory slots) makes a version-3 blob; read_blob gives it
    back; writing again gives the same bytes; without it the same network is the version-1 or 2
    blob, and the v3 blob is that blob with the entry and the arrays added (everything else identical)."""
    spec, rehearsal = _rehearsal_spec(seed, count, conv)
    plain = write_blob(spec)
    spec.rehearsal, spec.memory = rehearsal, memory
    blob = write_blob(spec)
    assert BLOB_HEADER["version"].read(plain) == (2 if conv else 1) and BLOB_HEADER["version"].read(blob) == 3
    back = read_blob(blob)
    np.testing.assert_array_equal(back.rehearsal[0], rehearsal[0])
    np.testing.assert_array_equal(back.rehearsal[1], rehearsal[1])
    assert back.rehearsal[0].dtype == np.int8 and back.version == 3 and back.memory == memory
    assert write_blob(back) == blob
    back.rehearsal, back.version, back.memory = None, None, 0
    assert write_blob(back) == plain
    # the v3 blob holds the samples and labels where its entry says
    head, entries = validate_blob(blob)
    r = head["rehearsal"]
    assert r["count"] == count and r["memory"] == memory
    assert blob[r["off_x"]: r["off_x"] + count * spec.n_inputs] == rehearsal[0].tobytes()
    assert np.array_equal(np.frombuffer(blob, "<u2", count, r["off_labels"]), rehearsal[1])
    assert r["off_x"] % 4 == 0 and r["off_labels"] % 4 == 0


def test_blobs_without_rehearsal_keep_their_bytes() -> None:
    """Every checked-in blob (v1 and v2) is written back byte for byte by the oldest
    version that holds it: a rehearsal set is the only thing that makes version 3."""
    for path in [DATA / "golden.mbnn", *sorted((Path(__file__).parents[1] / "runtime_c/tests/data").glob("*.mbnn"))]:
        blob = path.read_bytes()
        spec = read_blob(blob)
        assert (spec.rehearsal is None) == (spec.version < 3), path.name
        spec.version = None
        assert write_blob(spec) == blob, path.name


def test_memory_slots_need_a_rehearsal_set_and_fit_the_entry() -> None:
    """The writer refuses memory without a set (there is no entry to hold it) and beyond 65535."""
    spec, rehearsal = _rehearsal_spec(5, 3)
    spec.memory = 4
    with pytest.raises(BlobError, match="need a rehearsal set"):
        write_blob(spec)
    spec.rehearsal, spec.memory = rehearsal, 65536
    with pytest.raises(BlobError, match="memory must be 0..65535"):
        write_blob(spec)


def test_crc_covers_the_rehearsal_set() -> None:
    """A changed sample byte, label or rehearsal-entry byte without the CRC fixed: MBNN_ERR_CRC."""
    spec, spec.rehearsal = _rehearsal_spec(3, 5)
    blob = write_blob(spec)
    r = validate_blob(blob)[0]["rehearsal"]
    entry_at = BLOB_HEADER.size + LAYER_ENTRY_V2.size * len(spec.layers)
    for pos in (r["off_x"], r["off_x"] + 5 * spec.n_inputs - 1, r["off_labels"], entry_at, entry_at + 15):
        bad = bytearray(blob)
        bad[pos] ^= 0x01
        with pytest.raises(BlobError) as info:
            read_blob(bytes(bad))
        assert info.value.name == "MBNN_ERR_CRC"


@pytest.mark.parametrize(("edit", "status", "message"), [
    (lambda x, y: (x[:, :-1], y), "MBNN_ERR_BAD_HEADER", "rehearsal x must be"),
    (lambda x, y: (x[0], y), "MBNN_ERR_BAD_HEADER", "rehearsal x must be"),
    (lambda x, y: (x[:0], y[:0]), "MBNN_ERR_BAD_HEADER", "count 1..65535"),
    (lambda x, y: (np.zeros((65536, x.shape[1]), np.int8), np.zeros(65536, int)), "MBNN_ERR_BAD_HEADER",
     "count 1..65535"),
    (lambda x, y: (x, y[:-1]), "MBNN_ERR_BAD_HEADER", "rehearsal labels must be"),
    (lambda x, y: (x.astype(np.float32), y), "MBNN_ERR_BAD_HEADER", "integers"),
    (lambda x, y: (x.astype(np.int16) + 200, y), "MBNN_ERR_BAD_HEADER", "-128..127"),
    (lambda x, y: (x, y + 100), "MBNN_ERR_BAD_WEIGHTS", "rehearsal labels must be in"),
    (lambda x, y: (x, y - 100), "MBNN_ERR_BAD_WEIGHTS", "rehearsal labels must be in"),
    (lambda x, y: [x, y], "MBNN_ERR_BAD_HEADER", "tuple"),
])
def test_writer_refuses_a_bad_rehearsal_set(edit, status: str, message: str) -> None:
    """Wrong shape, dtype, value range, label range or count: a ValueError (BlobError) that says so."""
    spec, (x, y) = _rehearsal_spec(4, 6)
    spec.rehearsal = edit(x, y)
    with pytest.raises(ValueError, match=message) as info:
        write_blob(spec)
    assert info.value.name == status


def test_writer_refuses_version_and_set_that_disagree() -> None:
    """A rehearsal set needs version 3; version 3 needs a rehearsal set."""
    spec, rehearsal = _rehearsal_spec(5, 3)
    spec.version = 3
    with pytest.raises(BlobError, match="rehearsal set"):
        write_blob(spec)
    spec.version, spec.rehearsal = 2, rehearsal
    with pytest.raises(BlobError, match="rehearsal set"):
        write_blob(spec)
