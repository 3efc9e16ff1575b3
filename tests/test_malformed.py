"""Malformed blobs through the C runtime: each gets its specific status, nothing
crashes. (The same cases run in C under AddressSanitizer and
UndefinedBehaviorSanitizer in runtime_c/tests, see test_c_runtime.py.)"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import pyruntime
from pyruntime import MbnnError, reference
from pyruntime import format as fmt
from pyruntime.format import BLOB_HEADER, LAYER_ENTRY, write_blob

GOLDEN = (Path(__file__).parent / "data" / "golden.mbnn").read_bytes()
TOTAL = len(GOLDEN)
# golden.mbnn: layer 0 (int8 20 -> 37, learns), layer 1 (37 -> 33, frozen), layer 2 (33 -> 5, learns)
LAYER = [BLOB_HEADER.size + LAYER_ENTRY.size * idx for idx in range(3)]
H = {f.name: f.offset for f in BLOB_HEADER.fields}  # offsets by field name (pyruntime/format.py)
L = {f.name: f.offset for f in LAYER_ENTRY.fields}


def status_of(blob: bytes) -> str:
    """The status name the runtime gives a blob ('MBNN_OK' if it loads)."""
    try:
        pyruntime.Model.load(blob)
    except MbnnError as err:
        return err.name
    return "MBNN_OK"


def patch(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field and recompute the CRC, so that only the field's check can fail."""
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    struct.pack_into("<I", out, H["crc32"], zlib.crc32(bytes(out[16:])))
    return bytes(out)


def field(blob: bytes, offset: int, fmt: str = "<I") -> int:
    """Read one field."""
    return struct.unpack_from(fmt, blob, offset)[0]


def test_golden_loads() -> None:
    """The golden blob is valid."""
    assert status_of(GOLDEN) == "MBNN_OK"


def test_every_truncation_is_refused() -> None:
    """Cut at every length shorter than the blob: truncated, never a crash."""
    assert {status_of(GOLDEN[:n]) for n in range(TOTAL)} == {"MBNN_ERR_TRUNCATED"}


def test_every_flipped_byte_is_refused_with_its_status() -> None:
    """Each byte inverted in turn: magic, version, size and CRC each have their
    status; any other byte is caught by the CRC."""
    for pos in range(TOTAL):
        blob = bytearray(GOLDEN)
        blob[pos] ^= 0xFF
        got = status_of(bytes(blob))
        if pos < 4:
            want = {"MBNN_ERR_BAD_MAGIC"}
        elif pos < 8:
            want = {"MBNN_ERR_VERSION"}
        elif pos < 12:
            want = {"MBNN_ERR_TRUNCATED", "MBNN_ERR_BAD_HEADER", "MBNN_ERR_CRC"}
        else:
            want = {"MBNN_ERR_CRC"}
        assert got in want, f"byte {pos}: {got}"


def test_newer_version_is_refused_clearly() -> None:
    """A blob of a newer format version (4) says so, rather than being misread."""
    spec = reference.Model.load(GOLDEN).spec
    spec.version = 4
    with pytest.raises(MbnnError, match="version") as info:
        pyruntime.Model.load(write_blob(spec))
    assert info.value.name == "MBNN_ERR_VERSION"


HEADER_CASES = [
    (H["n_layers"], "<H", 0, "MBNN_ERR_BAD_HEADER"),  # no layers
    (H["n_layers"], "<H", 9, "MBNN_ERR_BAD_HEADER"),  # more than MBNN_MAX_LAYERS
    (H["flags"], "<H", 1, "MBNN_ERR_BAD_HEADER"),  # flags of a later version
    (H["out_frac_bits"], "<B", 31, "MBNN_ERR_BAD_HEADER"),  # out_frac_bits
    (H["rms_shift"], "<B", 25, "MBNN_ERR_BAD_HEADER"),  # rms_shift
    (LAYER[0] + L["input_kind"], "<B", 2, "MBNN_ERR_BAD_LAYER"),  # unknown input kind
    (LAYER[1] + L["input_kind"], "<B", 0, "MBNN_ERR_BAD_LAYER"),  # int8 input after layer 0
    (LAYER[0] + L["flags"], "<B", 3, "MBNN_ERR_BAD_LAYER"),  # unknown layer flag
    (LAYER[0] + L["bwd_shift"], "<B", 32, "MBNN_ERR_BAD_LAYER"),  # bwd_shift
    (LAYER[0] + L["n_in"], "<H", 0, "MBNN_ERR_BAD_LAYER"),  # n_in 0
    (LAYER[0] + L["n_out"], "<H", 9000, "MBNN_ERR_BAD_LAYER"),  # n_out above MBNN_MAX_WIDTH
    (LAYER[1] + L["n_in"], "<H", 36, "MBNN_ERR_BAD_LAYER"),  # sizes do not chain
    (LAYER[0] + L["lr_q16"], "<I", (1 << 24) + 1, "MBNN_ERR_BAD_LAYER"),  # learning rate
    (LAYER[0] + L["off_bits"], "<I", 0xFFFFFFFC, "MBNN_ERR_BAD_OFFSET"),  # offset + size overflows 32 bits
    (LAYER[0] + L["off_bits"], "<I", TOTAL - 4, "MBNN_ERR_BAD_OFFSET"),  # array passes the end
    (LAYER[0] + L["off_params"], "<I", 34, "MBNN_ERR_BAD_OFFSET"),  # misaligned
    (LAYER[2] + L["off_gscale"], "<I", 16, "MBNN_ERR_BAD_OFFSET"),  # inside the header
    (LAYER[0] + L["off_hidden"], "<I", 0, "MBNN_ERR_BAD_OFFSET"),  # learning layer without hidden weights
    (LAYER[1] + L["flags"], "<B", 1, "MBNN_ERR_BAD_OFFSET"),  # learns, but has no hidden weights or table
]


@pytest.mark.parametrize(("offset", "fmt", "value", "want"), HEADER_CASES)
def test_bad_field_gets_its_status(offset: int, fmt: str, value: int, want: str) -> None:
    """A field out of range (with a valid CRC) is named by its own status."""
    assert status_of(patch(GOLDEN, offset, fmt, value)) == want


def test_bad_tables_and_inconsistent_weights() -> None:
    """Values out of range in the gscale and meta tables, or bits that disagree with
    the hidden weights of a learning layer: bad weights."""
    off_gscale, off_meta = field(GOLDEN, LAYER[2] + L["off_gscale"]), field(GOLDEN, LAYER[2] + L["off_meta"])
    off_hidden = field(GOLDEN, LAYER[0] + L["off_hidden"])
    assert status_of(patch(GOLDEN, off_gscale, "<i", 40000)) == "MBNN_ERR_BAD_WEIGHTS"
    assert status_of(patch(GOLDEN, off_meta + 10, "<H", 32769)) == "MBNN_ERR_BAD_WEIGHTS"
    h = field(GOLDEN, off_hidden, "<b")
    assert status_of(patch(GOLDEN, off_hidden, "<b", -1 - h)) == "MBNN_ERR_BAD_WEIGHTS"


def test_padding_bits_never_change_a_result() -> None:
    """Set every padding bit of every row to 1: the blob still loads and computes
    exactly what it did, in C and in the reference."""
    blob = bytearray(GOLDEN)
    for entry in LAYER:
        n_in, n_out = struct.unpack_from("<HH", GOLDEN, entry + L["n_in"])
        words, off = (n_in + 31) // 32, field(GOLDEN, entry + L["off_bits"])
        pad = (0xFFFFFFFF << (n_in % 32)) & 0xFFFFFFFF if n_in % 32 else 0
        for row in range(n_out):
            at = off + 4 * (row * words + words - 1)
            struct.pack_into("<I", blob, at, field(blob, at) | pad)
    struct.pack_into("<I", blob, H["crc32"], zlib.crc32(bytes(blob[16:])))
    x = np.random.default_rng(0).integers(-128, 128, (50, 20)).astype(np.int8)
    y = np.arange(50) % 5
    clean, dirty = pyruntime.Model.load(GOLDEN), pyruntime.Model.load(bytes(blob))
    np.testing.assert_array_equal(clean.infer(x), dirty.infer(x))
    np.testing.assert_array_equal(clean.learn(x, y), dirty.learn(x, y))
    np.testing.assert_array_equal(clean.infer(x), dirty.infer(x))
    np.testing.assert_array_equal(reference.Model.load(bytes(blob)).infer(x), reference.Model.load(GOLDEN).infer(x))


CONV = (Path(__file__).parent.parent / "runtime_c" / "tests" / "data" / "conv2d.mbnn").read_bytes()
# conv2d.mbnn: layer 0 conv2d 2x9x11 -> 6 ch, 3x3 pad 1 pool 2 (-> 6x4x5); layer 1 conv2d 2x3
# stride (2, 1) pad (0, 1) (-> 5x2x5); layers 2, 3 dense 50-9-4
V2 = {f.name: f.offset for f in fmt.LAYER_ENTRY_V2.fields}
V2_LAYER = [BLOB_HEADER.size + fmt.LAYER_ENTRY_V2.size * idx for idx in range(4)]

CONV_CASES = [
    (0, "ph", "<B", 3, "padding as large as the kernel"),
    (0, "pool", "<B", 6, "pooling window larger than the output"),
    (0, "in_c", "<H", 3, "input channels that are not the features' (n_in != in_c*kh*kw)"),
    (0, "kh", "<B", 2, "kernel that does not match n_in"),
    (0, "op", "<B", 3, "unknown op"),
    (0, "reserved", "<H", 1, "reserved geometry bytes"),
    (1, "in_h", "<H", 5, "input map that is not the output of the layer before"),
    (1, "op", "<B", 1, "conv1d on a map of height 4"),
    (2, "in_w", "<H", 4, "dense input map that is not the conv output"),
    (2, "kw", "<B", 3, "dense layer with a kernel"),
    (3, "op", "<B", 2, "conv layer last"),
]


def test_conv_blob_loads_as_version_2() -> None:
    """The conv golden is a version-2 blob (48-byte layer entries)."""
    assert field(CONV, H["version"]) == 2 and status_of(CONV) == "MBNN_OK"


@pytest.mark.parametrize("layer,name,code,value,why", CONV_CASES, ids=[c[4] for c in CONV_CASES])
def test_conv_geometry_cases(layer: int, name: str, code: str, value: int, why: str) -> None:
    """Each inconsistent geometry is MBNN_ERR_BAD_LAYER in C and in the reference."""
    blob = patch(CONV, V2_LAYER[layer] + V2[name], code, value)
    assert status_of(blob) == "MBNN_ERR_BAD_LAYER", why
    with pytest.raises(MbnnError) as info:
        reference.Model.load(blob)
    assert info.value.name == "MBNN_ERR_BAD_LAYER"


def test_conv_padding_bits_of_a_tap_do_not_count() -> None:
    """Channel padding bits of every kernel tap set to 1: the same logits (they are masked)."""
    entry = fmt.validate_blob(CONV)[1][0]  # 2 channels: bits 2..31 of each tap word are padding
    out = bytearray(CONV)
    for k in range(entry["n_out"] * fmt.row_words(entry)):
        pos = entry["off_bits"] + 4 * k
        struct.pack_into("<I", out, pos, struct.unpack_from("<I", out, pos)[0] | 0xFFFFFFFC)
    struct.pack_into("<I", out, H["crc32"], zlib.crc32(bytes(out[16:])))
    x = np.random.default_rng(0).integers(-128, 128, (8, 2 * 9 * 11)).astype(np.int8)
    np.testing.assert_array_equal(pyruntime.Model.load(bytes(out)).infer(x), pyruntime.Model.load(CONV).infer(x))
