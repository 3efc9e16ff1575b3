"""The reference validates exactly as C: every field of the blob header, of each
layer entry, of the rehearsal entry (format version 3) and of the learned-state header, set to values outside its range
(the CRC fixed up, so that only the field's own check can fail), and random
bytes, get the same status from `pyruntime.reference` as from the C runtime.
The cases come from the tables of pyruntime/format.py, so a field added there
is tested here."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import pyruntime
from pyruntime import MbnnError, reference
from pyruntime import format as fmt

ROOT = Path(__file__).resolve().parent.parent
BLOBS = {
    "golden": ROOT / "tests" / "data" / "golden.mbnn",  # int8 20-37-33-5, layers 0 and 2 learn
    "bits": ROOT / "runtime_c" / "tests" / "data" / "bits.mbnn",  # bit input
    "last": ROOT / "runtime_c" / "tests" / "data" / "last.mbnn",  # only the last layer learns
    "conv2d": ROOT / "runtime_c" / "tests" / "data" / "conv2d.mbnn",  # format v2: conv2d with pooling, int8 input
    "conv1d": ROOT / "runtime_c" / "tests" / "data" / "conv1d.mbnn",  # format v2: conv1d, bit input
    "rehearsal": ROOT / "runtime_c" / "tests" / "data" / "rehearsal.mbnn",  # format v3: a rehearsal set of 13
}


def entry_layout(blob: bytes) -> fmt.Layout:
    """The layer-entry layout of the blob's format version."""
    return fmt.layer_entry(fmt.BLOB_HEADER["version"].read(blob))


def status(load, data: bytes) -> str:
    """The status name a loader gives a blob ('MBNN_OK' if it loads)."""
    try:
        load(data)
    except MbnnError as err:
        return err.name
    return "MBNN_OK"


def both(data: bytes) -> tuple[str, str]:
    """(C status, reference status) of a blob."""
    return status(pyruntime.Model.load, data), status(reference.Model.load, data)


def table_end(blob: bytes) -> int:
    """End of the header, layer table and (version 3) rehearsal entry."""
    return fmt.table_size(fmt.BLOB_HEADER["version"].read(blob), fmt.BLOB_HEADER["n_layers"].read(blob))


def fix_crc(buf: bytearray, layout: fmt.Layout = fmt.BLOB_HEADER) -> bytes:
    """Recompute the CRC over [16, total_size) when total_size fits the buffer."""
    total = layout["total_size"].read(buf)
    if fmt.CRC_START <= total <= len(buf):
        layout["crc32"].write(buf, 0, zlib.crc32(bytes(buf[fmt.CRC_START:total])))
    return bytes(buf)


def _type_range(f: fmt.Field) -> tuple[int, int]:
    bits = 8 * f.size
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if f.code.islower() else (0, (1 << bits) - 1)


def out_of_range(f: fmt.Field) -> list[int]:
    """Values just outside a field's range, its bounds, and its type's extremes."""
    lo, hi = _type_range(f)
    values = {lo, hi}
    if f.lo is not None:
        values |= {f.lo - 1, f.lo, f.hi, f.hi + 1}
    return sorted(v for v in values if lo <= v <= hi)


def field_cases(blob: bytes) -> list[tuple[str, bytes]]:
    """One mutated blob per (field, bad value), CRC fixed; every layer entry and the
    rehearsal entry of a version-3 blob."""
    total = len(blob)
    n_layers = fmt.BLOB_HEADER["n_layers"].read(blob)
    entry = entry_layout(blob)
    end = table_end(blob)
    records = [(fmt.BLOB_HEADER, 0, "header")] + [
        (entry, fmt.BLOB_HEADER.size + entry.size * i, f"layer {i}") for i in range(n_layers)]
    if fmt.BLOB_HEADER["version"].read(blob) >= 3:
        records.append((fmt.REHEARSAL_ENTRY, end - fmt.REHEARSAL_ENTRY.size, "rehearsal"))
    cases = []
    for layout, base, where in records:
        for f in layout.fields:
            if f.code == "4s":
                values = [b"MBNX", b"\0\0\0\0"]
            elif f.name.startswith("off_"):
                values = [0, 2, 16, end - 4, end, total - 4, total, 0xFFFFFFFC]
            elif f.name == "total_size":
                values = [0, 15, 31, 32, end, total - 4, total + 4, 0xFFFFFFFF]
            elif f.code == "f":
                values = [float("nan"), float("inf"), -1.0, 0.0]
            else:
                values = out_of_range(f)
            for value in values:
                buf = bytearray(blob)
                f.write(buf, base, value)
                data = bytes(buf) if f.name == "crc32" else fix_crc(buf)
                cases.append((f"{where} {f.name}={value!r}", data))
    return cases


@pytest.mark.parametrize("name", sorted(BLOBS))
def test_every_field_out_of_range_gets_the_same_status(name: str) -> None:
    """Each field of the header and of every layer entry, set outside its range."""
    blob = BLOBS[name].read_bytes()
    assert both(blob) == ("MBNN_OK", "MBNN_OK")
    seen, wrong = set(), []
    for what, data in field_cases(blob):
        c, ref = both(data)
        seen.add(c)
        if c != ref:
            wrong.append(f"{what}: C {c}, reference {ref}")
    assert not wrong, "\n".join(wrong[:20])
    # the cases reach every check of steps 1-8 of docs/FORMAT.md
    assert {"MBNN_ERR_BAD_MAGIC", "MBNN_ERR_VERSION", "MBNN_ERR_TRUNCATED", "MBNN_ERR_CRC", "MBNN_ERR_BAD_HEADER",
            "MBNN_ERR_BAD_LAYER", "MBNN_ERR_BAD_OFFSET"} <= seen


def test_table_values_out_of_range_get_the_same_status() -> None:
    """gscale and meta values outside their range, hidden weights that disagree with the bits."""
    blob = BLOBS["golden"].read_bytes()
    entries = fmt.validate_blob(blob)[1]
    cases = []
    for e in entries:
        for value in (fmt.GSCALE_MAX + 1, -fmt.GSCALE_MAX - 1, 2**31 - 1, -(2**31)):
            buf = bytearray(blob)
            struct.pack_into("<i", buf, e["off_gscale"] + 4 * (e["n_out"] - 1), value)
            cases.append(fix_crc(buf))
        if e["flags"] & fmt.FLAG_LEARNS:
            for value in (fmt.META_MAX + 1, 0xFFFF):
                buf = bytearray(blob)
                struct.pack_into("<H", buf, e["off_meta"] + 2 * 127, value)
                cases.append(fix_crc(buf))
            buf = bytearray(blob)
            h = struct.unpack_from("<b", buf, e["off_hidden"])[0]
            struct.pack_into("<b", buf, e["off_hidden"], -1 - h)
            cases.append(fix_crc(buf))
    for data in cases:
        assert both(data) == ("MBNN_ERR_BAD_WEIGHTS",) * 2


def test_rehearsal_labels_out_of_range_get_the_same_status() -> None:
    """A rehearsal label equal to n_classes, or the largest u16, is refused at step 9
    (after the layers' table values) by both; a label just below n_classes loads."""
    blob = BLOBS["rehearsal"].read_bytes()
    head, entries = fmt.validate_blob(blob)
    r, n_classes = head["rehearsal"], entries[-1]["n_out"]
    for pos in (0, r["count"] - 1):
        for value, want in ((n_classes, "MBNN_ERR_BAD_WEIGHTS"), (0xFFFF, "MBNN_ERR_BAD_WEIGHTS"),
                            (n_classes - 1, "MBNN_OK")):
            buf = bytearray(blob)
            struct.pack_into("<H", buf, r["off_labels"] + 2 * pos, value)
            assert both(fix_crc(buf)) == (want, want)
    # a label and a gscale both bad: the layers' values are checked first, in both
    buf = bytearray(blob)
    struct.pack_into("<H", buf, r["off_labels"], n_classes)
    struct.pack_into("<i", buf, entries[0]["off_gscale"], fmt.GSCALE_MAX + 1)
    assert both(fix_crc(buf)) == ("MBNN_ERR_BAD_WEIGHTS",) * 2
    # the rehearsal offsets are checked after every layer's: a bad one of each gives BAD_OFFSET
    buf = bytearray(blob)
    fmt.REHEARSAL_ENTRY["off_x"].write(buf, table_end(blob) - fmt.REHEARSAL_ENTRY.size, 2)
    fmt.LAYER_ENTRY_V2["off_bits"].write(buf, fmt.BLOB_HEADER.size, 2)
    assert both(fix_crc(buf)) == ("MBNN_ERR_BAD_OFFSET",) * 2


def test_rehearsal_count_against_the_offsets() -> None:
    """A count so large that the samples pass the end is BAD_OFFSET (step 8) in both;
    a count of 0 or above 65535 is BAD_HEADER (step 6) even with the offsets bad. (The
    labels are the last array: 14 labels fill their padding, 15 pass the end.)"""
    blob = BLOBS["rehearsal"].read_bytes()
    at = table_end(blob) - fmt.REHEARSAL_ENTRY.size
    for count, off_x, want in ((65535, None, "MBNN_ERR_BAD_OFFSET"), (15, None, "MBNN_ERR_BAD_OFFSET"), (14, None, "MBNN_OK"),
                               (0, 2, "MBNN_ERR_BAD_HEADER"), (65536, 2, "MBNN_ERR_BAD_HEADER"),
                               (12, None, "MBNN_OK")):
        buf = bytearray(blob)
        fmt.REHEARSAL_ENTRY["count"].write(buf, at, count)
        if off_x is not None:
            fmt.REHEARSAL_ENTRY["off_x"].write(buf, at, off_x)
        assert both(fix_crc(buf)) == (want, want), count


def test_a_version_damaged_into_or_out_of_3_is_refused_by_the_rehearsal_flag() -> None:
    """The version is outside the CRC; the rehearsal bit of the header flags (inside it) must agree with
    it, so one flipped version bit (2 -> 3, 1 -> 3, 3 -> 2, 3 -> 1) is BAD_HEADER in both, by construction."""
    for name, flipped in (("conv2d", 3), ("golden", 3), ("rehearsal", 2), ("rehearsal", 1)):
        buf = bytearray(BLOBS[name].read_bytes())
        fmt.BLOB_HEADER["version"].write(buf, 0, flipped)
        assert both(bytes(buf)) == ("MBNN_ERR_BAD_HEADER",) * 2, (name, flipped)
    for name, flags in (("golden", 1), ("rehearsal", 0), ("rehearsal", 3)):
        buf = bytearray(BLOBS[name].read_bytes())
        fmt.BLOB_HEADER["flags"].write(buf, 0, flags)
        assert both(fix_crc(buf)) == ("MBNN_ERR_BAD_HEADER",) * 2, (name, flags)


def test_random_bytes_with_the_crc_fixed_get_the_same_status() -> None:
    """1,500 blobs with 1-3 random bytes changed in the header and layer table (and
    300 anywhere after the CRC), the CRC recomputed: C and the reference agree on each."""
    rng = np.random.default_rng(2026)
    wrong = []
    for name in sorted(BLOBS):
        blob = BLOBS[name].read_bytes()
        for trial in range(600):
            buf = bytearray(blob)
            end = table_end(blob) if trial < 500 else len(blob)
            for pos in rng.integers(fmt.CRC_START, end, rng.integers(1, 4)):
                buf[pos] = int(rng.integers(0, 256))
            c, ref = both(fix_crc(buf))
            if c != ref:
                wrong.append(f"{name} trial {trial}: C {c}, reference {ref}")
    assert not wrong, "\n".join(wrong[:20])


def state_status(model, data: bytes) -> str:
    """The status name of load_state on a model ('MBNN_OK' if it loads)."""
    try:
        model.load_state(data)
    except MbnnError as err:
        return err.name
    return "MBNN_OK"


def test_every_state_field_and_random_bytes_get_the_same_status() -> None:
    """The learned-state header fields set outside their range or to another model's
    values, rms values too large, truncations and random bytes (CRC fixed up)."""
    blob = BLOBS["golden"].read_bytes()
    c_model, ref_model = pyruntime.Model.load(blob), reference.Model.load(blob)
    x = np.random.default_rng(0).integers(-128, 128, (30, c_model.n_inputs)).astype(np.int8)
    y = np.arange(30) % c_model.n_classes
    c_model.learn(x, y)
    ref_model.learn(x, y)
    state = c_model.state()
    assert state == ref_model.state()
    cases = [("truncated", state[:n]) for n in (0, 16, 31, 32, len(state) - 1)]
    for f in fmt.STATE_HEADER.fields:
        if f.code == "4s":
            values = [b"MBNX"]
        elif f.name == "total_size":
            values = [0, 31, 32, len(state) - 4, len(state) + 4, 0xFFFFFFFF]
        else:
            values = sorted({0, 1, 2, 0xFFFFFFFF, f.read(state) + 1, f.read(state) - 1} - {-1})
        for value in values:
            buf = bytearray(state)
            f.write(buf, 0, value)
            data = bytes(buf) if f.name == "crc32" else fix_crc(buf, fmt.STATE_HEADER)
            cases.append((f"{f.name}={value!r}", data))
    rms_at = fmt.STATE_HEADER.size + fmt.align4(37 * 20)
    for value in (fmt.RMS_MAX, fmt.RMS_MAX + 1, 0xFFFFFFFF):
        buf = bytearray(state)
        struct.pack_into("<I", buf, rms_at, value)
        cases.append((f"rms={value}", fix_crc(buf, fmt.STATE_HEADER)))
    rng = np.random.default_rng(7)
    for trial in range(300):
        buf = bytearray(state)
        for pos in rng.integers(fmt.CRC_START, 40 if trial < 200 else len(state), rng.integers(1, 4)):
            buf[pos] = int(rng.integers(0, 256))
        cases.append((f"random {trial}", fix_crc(buf, fmt.STATE_HEADER)))
    wrong, seen = [], set()
    for what, data in cases:
        c, ref = state_status(c_model, data), state_status(ref_model, data)
        seen.add(c)
        if c != ref:
            wrong.append(f"{what}: C {c}, reference {ref}")
    assert not wrong, "\n".join(wrong[:20])
    assert {"MBNN_OK", "MBNN_ERR_STATE_CORRUPT", "MBNN_ERR_STATE_MODEL"} <= seen
    # what was refused changed nothing: both still compute the same
    np.testing.assert_array_equal(c_model.infer(x), ref_model.infer(x))
