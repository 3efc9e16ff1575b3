"""The reference validates exactly as C: every field of the blob header, of each
layer entry, of the rehearsal entry (format version 3) and of the learned-state header, set to values outside its range
(the CRC fixed up, so that only the field's own check can fail), and random
bytes, get the same status from `pyruntime.reference` as from the C runtime; so
do the memory slots of a rehearsal entry (at most 65535, and at most 2^30 bytes
of rows) and the memory section of a learned state (version 2).
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
from pyruntime.testing import Conv, random_spec, random_stream

ROOT = Path(__file__).resolve().parent.parent
BLOBS = {
    "golden": ROOT / "tests" / "data" / "golden.mbnn",  # int8 20-37-33-5, layers 0 and 2 learn
    "bits": ROOT / "runtime_c" / "tests" / "data" / "bits.mbnn",  # bit input
    "last": ROOT / "runtime_c" / "tests" / "data" / "last.mbnn",  # only the last layer learns
    "conv2d": ROOT / "runtime_c" / "tests" / "data" / "conv2d.mbnn",  # format v2: conv2d with pooling, int8 input
    "conv1d": ROOT / "runtime_c" / "tests" / "data" / "conv1d.mbnn",  # format v2: conv1d, bit input
    "rehearsal": ROOT / "runtime_c" / "tests" / "data" / "rehearsal.mbnn",  # format v3: a rehearsal set of 13
    "memory": ROOT / "runtime_c" / "tests" / "data" / "memory.mbnn",  # format v3: a set of 13 and 7 memory slots
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


@pytest.mark.parametrize("name", ["golden", "memory"])
def test_every_state_field_and_random_bytes_get_the_same_status(name: str) -> None:
    """The learned-state header fields set outside their range or to another model's
    values, rms values too large, truncations and random bytes (CRC fixed up); of a
    state of version 1 and of one of version 2 (with a memory)."""
    blob = BLOBS[name].read_bytes()
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
    first = next(layer for layer in fmt.read_blob(blob).layers if layer.learns)
    rms_at = fmt.STATE_HEADER.size + fmt.align4(first.n_out * first.n_in)  # the first learning layer's first rms
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


def test_memory_slots_above_65535_are_bad_header() -> None:
    """The memory field of the rehearsal entry (swept above with the other fields) beyond 65535 is
    BAD_HEADER, checked with the entry's count (step 6): before a bad layer or a bad rehearsal offset;
    0 .. 65535 load in both."""
    for name in ("rehearsal", "memory"):
        blob = BLOBS[name].read_bytes()
        at = table_end(blob) - fmt.REHEARSAL_ENTRY.size
        swept = {what for what, _ in field_cases(blob)}
        assert {"rehearsal memory=65536", "rehearsal memory=4294967295"} <= swept
        for value, want in ((0, "MBNN_OK"), (1, "MBNN_OK"), (65535, "MBNN_OK"), (65536, "MBNN_ERR_BAD_HEADER"),
                            (1 << 31, "MBNN_ERR_BAD_HEADER"), (0xFFFFFFFF, "MBNN_ERR_BAD_HEADER")):
            buf = bytearray(blob)
            fmt.REHEARSAL_ENTRY["memory"].write(buf, at, value)
            assert both(fix_crc(buf)) == (want, want), (name, value)
            if want != "MBNN_OK":
                fmt.REHEARSAL_ENTRY["off_x"].write(buf, at, 2)
                fmt.LAYER_ENTRY_V2["n_out"].write(buf, fmt.BLOB_HEADER.size, 0)
                assert both(fix_crc(buf)) == (want, want), (name, value, "with a bad layer and offset")


def big_input_blob(in_shape: tuple[int, int, int], memory: int = 0) -> bytes:
    """A version-3 blob whose input has C * H * W of in_shape features (a conv2d 2x2 stride 2 first, then a
    dense layer that learns), with a rehearsal set of one sample and `memory` slots."""
    rng = np.random.default_rng(sum(in_shape))
    c, h, w = in_shape
    spec = random_spec(rng, [c * h * w, 3], fmt.KIND_INT8, learns=[False, True], in_shape=in_shape,
                       convs=[Conv("conv2d", 1, (2, 2), (2, 2), (0, 0), 2 if h % 4 == 0 else 1)])
    spec.rehearsal = random_stream(rng, 1, spec.n_inputs, spec.n_classes)
    spec.memory = memory
    return fmt.write_blob(spec)


def with_memory(blob: bytes, memory: int) -> bytearray:
    """The blob with the memory field of its rehearsal entry set (CRC not fixed)."""
    buf = bytearray(blob)
    fmt.REHEARSAL_ENTRY["memory"].write(buf, table_end(blob) - fmt.REHEARSAL_ENTRY.size, memory)
    return buf


def both_infer(data: bytes) -> tuple[str, str]:
    """(C status, reference status) of a blob loaded for inference (no arena for the memory's rows)."""
    return (status(lambda d: pyruntime.Model.load(d, learn=False), data),
            status(lambda d: reference.Model.load(d, learn=False), data))


@pytest.mark.parametrize(("in_shape", "largest"), [((2, 128, 128), 32768), ((1, 130, 130), 63535)])
def test_memory_of_more_than_2_30_bytes_is_bad_header_alike(in_shape, largest: int) -> None:
    """memory * n_inputs above 2^30 is BAD_HEADER in both, checked after the layers' offsets (a bad one wins:
    BAD_OFFSET) and before the rehearsal offsets and the table values (a bad one loses); exactly 2^30
    (32768 slots of 32768 inputs) and the largest below it load (for inference: no 1 GiB arena). Only an
    input of more than 16384 features reaches it (a dense layer has at most 8192)."""
    blob = big_input_blob(in_shape)
    n_inputs = int(np.prod(in_shape))
    assert n_inputs > 16384 and largest == fmt.MAX_MEMORY_BYTES // n_inputs
    assert both(blob) == ("MBNN_OK", "MBNN_OK")
    at = table_end(blob) - fmt.REHEARSAL_ENTRY.size
    entries = fmt.validate_blob(blob)[1]
    for memory in (largest - 1, largest):
        assert both_infer(fix_crc(with_memory(blob, memory))) == ("MBNN_OK", "MBNN_OK"), memory
    for memory in (largest + 1, 65535):
        buf = with_memory(blob, memory)
        assert both(fix_crc(buf)) == ("MBNN_ERR_BAD_HEADER",) * 2, memory
        assert both_infer(fix_crc(buf)) == ("MBNN_ERR_BAD_HEADER",) * 2, memory
        bad_rehearsal = bytearray(buf)
        fmt.REHEARSAL_ENTRY["off_x"].write(bad_rehearsal, at, 2)
        assert both(fix_crc(bad_rehearsal)) == ("MBNN_ERR_BAD_HEADER",) * 2
        bad_gscale = bytearray(buf)
        struct.pack_into("<i", bad_gscale, entries[0]["off_gscale"], fmt.GSCALE_MAX + 1)
        assert both(fix_crc(bad_gscale)) == ("MBNN_ERR_BAD_HEADER",) * 2
        bad_layer_offset = bytearray(buf)
        fmt.LAYER_ENTRY_V2["off_bits"].write(bad_layer_offset, fmt.BLOB_HEADER.size, 2)
        assert both(fix_crc(bad_layer_offset)) == ("MBNN_ERR_BAD_OFFSET",) * 2
    # a small memory on the big input: the same learning arena and state size in both
    small = big_input_blob(in_shape, memory=3)
    c_model, ref_model = pyruntime.Model.load(small), reference.Model.load(small)
    assert c_model.arena_size == ref_model.arena_size
    assert len(c_model.state()) == len(ref_model.state()) == fmt.spec_state_size(fmt.read_blob(small))


def test_memory_state_gets_the_same_status() -> None:
    """A learned state with a memory (version 2): versions 0 .. 3, memory labels of n_classes - 1 (loads),
    n_classes, 256 (high byte), 65535 in the first and last slot, a filled and an unfilled one, seen at its
    extremes, the labels' padding, the memory dropped (a version-1 state of the same layers), every
    truncation and random bytes in the memory (CRC fixed up): the same status from C and the reference,
    and what loads is the same state in both."""
    blob = BLOBS["memory"].read_bytes()
    spec = fmt.read_blob(blob)
    slots, n_inputs, n_classes = spec.memory, spec.n_inputs, spec.n_classes
    c_model, ref_model = pyruntime.Model.load(blob), reference.Model.load(blob)
    x, y = random_stream(np.random.default_rng(5), 30, n_inputs, n_classes)
    c_model.learn(x, y)
    ref_model.learn(x, y)
    state = c_model.state()
    assert state == ref_model.state()
    assert fmt.STATE_HEADER["version"].read(state) == 2
    seen_at = len(state) - fmt.memory_size(slots, n_inputs)
    labels_at = len(state) - fmt.align4(2 * slots)
    assert struct.unpack_from("<I", state, seen_at)[0] == 30

    def edited(*edits: tuple[int, str, int]) -> bytes:
        buf = bytearray(state)
        for pos, code, value in edits:
            struct.pack_into(code, buf, pos, value)
        return fix_crc(buf, fmt.STATE_HEADER)

    cases = [(f"version={v}", edited((4, "<I", v)), want)
             for v, want in ((0, "MBNN_ERR_STATE_CORRUPT"), (1, "MBNN_ERR_STATE_MODEL"), (2, "MBNN_OK"),
                             (3, "MBNN_ERR_STATE_CORRUPT"), (0xFFFFFFFF, "MBNN_ERR_STATE_CORRUPT"))]
    for slot in (0, slots - 1):
        for value in (n_classes - 1, n_classes, 0x100, 0x100 + n_classes - 1, 0xFFFF):
            want = "MBNN_OK" if value < n_classes else "MBNN_ERR_STATE_CORRUPT"
            cases.append((f"label[{slot}]={value}", edited((labels_at + 2 * slot, "<H", value)), want))
            # the same in a memory whose rows are not filled yet (seen 1): every label is checked
            cases.append((f"seen=1 label[{slot}]={value}",
                          edited((seen_at, "<I", 1), (labels_at + 2 * slot, "<H", value)), want))
    for seen in (0, 1, slots, 0xFFFFFFFF):
        cases.append((f"seen={seen}", edited((seen_at, "<I", seen)), "MBNN_OK"))
    if 2 * slots % 4:  # the labels' padding: not a label
        cases.append(("label padding", edited((labels_at + 2 * slots, "<H", 0xFFFF)), None))
    cases.append(("last rms too large", edited((seen_at - 4, "<I", fmt.RMS_MAX + 1)), "MBNN_ERR_STATE_CORRUPT"))
    # the memory dropped: a version-1 state of the same layers is another model's
    short = bytearray(state[:seen_at])
    fmt.STATE_HEADER["version"].write(short, 0, 1)
    fmt.STATE_HEADER["total_size"].write(short, 0, seen_at)
    cases.append(("without memory", fix_crc(short, fmt.STATE_HEADER), "MBNN_ERR_STATE_MODEL"))
    cases += [(f"truncated to {n}", state[:n], "MBNN_ERR_STATE_CORRUPT") for n in range(len(state))]
    cases.append(("with bytes after it", state + b"\xAA" * 7, "MBNN_OK"))
    rng = np.random.default_rng(11)
    for trial in range(200):
        buf = bytearray(state)
        for pos in rng.integers(seen_at, len(state), rng.integers(1, 4)):
            buf[pos] = int(rng.integers(0, 256))
        cases.append((f"random memory {trial}", fix_crc(buf, fmt.STATE_HEADER), None))
    wrong, seen_status = [], set()
    for what, data, want in cases:
        c, ref = state_status(c_model, data), state_status(ref_model, data)
        seen_status.add(c)
        if c != ref or (want is not None and c != want):
            wrong.append(f"{what}: C {c}, reference {ref}, want {want}")
        elif c_model.state() != ref_model.state():
            wrong.append(f"{what}: both {c}, but the states differ")
        c_model.load_state(state)
        ref_model.load_state(state)
    assert not wrong, "\n".join(wrong[:20])
    assert {"MBNN_OK", "MBNN_ERR_STATE_CORRUPT", "MBNN_ERR_STATE_MODEL"} <= seen_status
    # a refused state changed nothing, an accepted one was replaced: both learn on alike
    c_model.learn(x, y)
    ref_model.learn(x, y)
    assert c_model.state() == ref_model.state()


def test_a_memory_state_and_a_plain_state_are_other_models_states() -> None:
    """The state of the memory golden offered to the rehearsal golden (same layers, no memory) and back:
    STATE_MODEL in both."""
    mem_blob, plain_blob = BLOBS["memory"].read_bytes(), BLOBS["rehearsal"].read_bytes()
    for src, dst in ((mem_blob, plain_blob), (plain_blob, mem_blob)):
        data = pyruntime.Model.load(src).state()
        for model in (pyruntime.Model.load(dst), reference.Model.load(dst)):
            assert state_status(model, data) == "MBNN_ERR_STATE_MODEL"
