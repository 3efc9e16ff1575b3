"""The `.mbnn` blob and the learned state, format versions 1 to 3: defined once.

The tables below hold every field of the blob header, of a layer entry, of the
rehearsal entry and of the learned-state header: offset, type, allowed range and the status a value
outside it gets. The reader, writer and validator of this module work from
them, the reference (`pyruntime.reference`) validates with them exactly as the
C runtime does, and `python -m pyruntime.codegen` writes from them the C header
runtime_c/src/mbnn_format.h (offsets, limits, status texts) and the field
tables of docs/FORMAT.md. Pure numpy; imports nothing from export/ or targets/.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from pyruntime.errors import MbnnError

MAGIC = b"MBNN"
VERSION = 3  # the newest format this metabnn reads and writes (versions 1 and 2 keep loading)
STATE_MAGIC = b"MBST"
STATE_VERSION = 2  # the newest learned-state version: 2 adds the memory of a blob with memory slots (1 keeps loading)
CRC_START = 16  # both CRCs cover [16, total_size)

# Limits of the format (a runtime may be built with lower ones).
MAX_LAYERS = 8
MAX_WIDTH = 8192
MAX_MAP = 65535  # values in a layer's input map, and in a conv layer's output map before pooling
MAX_KERNEL = 16
MAX_STRIDE = 8
MAX_POOL = 8
OPS = ("dense", "conv1d", "conv2d")  # the op field of a version-2 layer entry, by value
OP_DENSE, OP_CONV1D, OP_CONV2D = 0, 1, 2
MAX_REHEARSAL = 65535  # samples of a rehearsal set (format version 3)
REHEARSAL_SALT = 0x52454852  # "REHR": the draw of a rehearsal sample (ARITHMETIC.md "Rehearsal")
MEMORY_SALT = 0x4D454D4F  # "MEMO": where a new sample goes in a full memory, mix32(key ^ salt) % seen
MAX_MEMORY = 65535  # slots of the memory (RAM) of a rehearsal entry
MAX_MEMORY_BYTES = 1 << 30  # slots * n_inputs at most (else MBNN_ERR_BAD_HEADER: sizes stay in 32 bits)
META_ENTRIES = 128
META_MAX = 32768
GSCALE_MAX = 32767
RMS_MAX = 1 << 30
KIND_INT8 = 0
KIND_BITS = 1
FLAG_LEARNS = 1
FLAG_REHEARSAL = 1  # header flags bit 0: a rehearsal entry follows the layer table (version 3)

BAD_HEADER, BAD_LAYER, BAD_OFFSET = "MBNN_ERR_BAD_HEADER", "MBNN_ERR_BAD_LAYER", "MBNN_ERR_BAD_OFFSET"
BAD_WEIGHTS = "MBNN_ERR_BAD_WEIGHTS"
STATE_CORRUPT, STATE_MODEL = "MBNN_ERR_STATE_CORRUPT", "MBNN_ERR_STATE_MODEL"

_CTYPES = {"4s": "char[4]", "I": "u32", "H": "u16", "B": "u8", "b": "i8", "f": "f32"}


@dataclass(frozen=True)
class Field:
    """One field of a fixed-size record: where it is, its type, and what it may hold.

    `lo`..`hi` (inclusive) is the allowed range when `status` is set; a value
    outside gets that status. `doc` is the rule column of docs/FORMAT.md.
    """

    name: str
    offset: int
    code: str  # struct format character(s), little-endian
    doc: str
    lo: int | None = None
    hi: int | None = None
    status: str | None = None

    @property
    def size(self) -> int:
        """Bytes of the field."""
        return struct.calcsize("<" + self.code)

    @property
    def ctype(self) -> str:
        """The type as docs/FORMAT.md names it (u32, i8, ...)."""
        return _CTYPES[self.code]

    def read(self, data: bytes, base: int = 0) -> Any:
        """The field's value in the record at `base`."""
        return struct.unpack_from("<" + self.code, data, base + self.offset)[0]

    def write(self, buf: bytearray, base: int, value: Any) -> None:
        """Store value into the record at `base` of buf."""
        struct.pack_into("<" + self.code, buf, base + self.offset, value)

    def allows(self, value: int) -> bool:
        """Whether value lies in the field's range (always, for a field without one: an
        offset field's status is that of its array's placement, checked elsewhere)."""
        return self.lo is None or self.lo <= value <= self.hi


@dataclass(frozen=True)
class Layout:
    """A fixed-size little-endian record made of fields."""

    name: str
    size: int
    fields: tuple[Field, ...]

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def unpack(self, data: bytes, base: int = 0) -> dict[str, Any]:
        """Every field of the record at `base`, by name."""
        return {f.name: f.read(data, base) for f in self.fields}

    def pack(self, values: dict[str, Any]) -> bytes:
        """The record's bytes; fields not in values are 0."""
        buf = bytearray(self.size)
        for f in self.fields:
            f.write(buf, 0, values.get(f.name, b"\0" * 4 if f.code == "4s" else 0))
        return bytes(buf)

    def first_bad(self, values: dict[str, Any]) -> Field | None:
        """The first field (in table order) whose value is out of its range."""
        return next((f for f in self.fields if not f.allows(values[f.name])), None)


_CRC_DOC = ("CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320, init and final xor 0xFFFFFFFF: "
            "the one of zlib and PNG) of bytes `[16, total_size)`")

BLOB_HEADER = Layout("header", 32, (
    Field("magic", 0, "4s", '`"MBNN"`'),
    Field("version", 4, "I", "`1`, `2` or `3` (2 adds the layer geometry of conv layers, 3 a rehearsal set); a "
          "larger value means a newer format: the runtime refuses it with `MBNN_ERR_VERSION`"),
    Field("total_size", 8, "I", "bytes in the blob; the buffer may be longer, never shorter "
          "(`MBNN_ERR_TRUNCATED`)"),
    Field("crc32", 12, "I", _CRC_DOC),
    Field("n_layers", 16, "H", "1 .. `MBNN_MAX_LAYERS` (8)", 1, MAX_LAYERS, BAD_HEADER),
    Field("flags", 18, "H", "bit 0: a rehearsal entry follows the layer table, set in version 3 and only there "
          "(so a version field damaged into 3 is refused); other bits 0", 0, FLAG_REHEARSAL, BAD_HEADER),
    Field("input_scale", 20, "f", "IEEE-754 binary32; host metadata only: a feature `f` becomes "
          "`q = clamp(round(f / input_scale) + input_zero_point, -128, 127)`. The device never reads it."),
    Field("input_zero_point", 24, "b", "the int8 value of feature 0"),
    Field("out_frac_bits", 25, "B", "F: logits are fixed point with F fraction bits, 0 .. 30", 0, 30, BAD_HEADER),
    Field("rms_shift", 26, "B", "β of the running mean square of each neuron's error, 0 .. 24", 0, 24, BAD_HEADER),
    Field("reserved", 27, "B", "0", 0, 0, BAD_HEADER),
    Field("seed", 28, "I", "seed of the random generator, any value"),
))

_IGNORED = "; 0 and ignored when the layer does not learn"
LAYER_ENTRY = Layout("layer", 32, (
    Field("input_kind", 0, "B", "0: int8 features (layer 0 only); 1: bits. Layers after 0 are always 1. "
          "A bit-input layer 0 binarizes the int8 features by sign: `q < 0` is bit 1 (weight/activation −1).",
          KIND_INT8, KIND_BITS, BAD_LAYER),
    Field("flags", 1, "B", "bit 0: the layer learns on the device. Other bits 0.", 0, FLAG_LEARNS, BAD_LAYER),
    Field("hscale_log2", 2, "B", "e: a hidden weight `h` stands for `(h + 0.5) * 2^-e`; host metadata "
          "(the device uses the metaplastic table built from it)"),
    Field("bwd_shift", 3, "B", "right shift of the error arriving at this layer's neurons, 0 .. 31 "
          "(see ARITHMETIC.md)", 0, 31, BAD_LAYER),
    Field("n_in", 4, "H", "inputs of one neuron, 1 .. `MBNN_MAX_WIDTH` (8192): a dense layer's input count "
          "(the output count of the layer before); a conv layer's `in_c * kh * kw`", 1, MAX_WIDTH, BAD_LAYER),
    Field("n_out", 6, "H", "neurons, 1 .. 8192 (a conv layer: output channels)", 1, MAX_WIDTH, BAD_LAYER),
    Field("lr_q16", 8, "I", "learning rate in hidden-weight steps per unit of normalized error, 16 fraction "
          "bits, 0 .. 2^24; the writer puts 0 when the layer does not learn", 0, 1 << 24, BAD_LAYER),
    Field("off_bits", 12, "I", "binary weights: `n_out` rows of `W` u32 words; dense `W = ceil(n_in / 32)`, "
          "conv `W = kh * kw * ceil(in_c / 32)` (see Bit packing)", status=BAD_OFFSET),
    Field("off_hidden", 16, "I", "hidden weights: `n_out * n_in` i8, row-major, columns in the order of the "
          "bits" + _IGNORED, status=BAD_OFFSET),
    Field("off_params", 20, "I", "hidden layer: i32 `threshold[n_out]`, then i32 `lo[n_out]`, then i32 "
          "`hi[n_out]` (a conv layer: one per output channel); output layer (the last, always dense): i32 "
          "`scale[n_out]`, then i32 `offset[n_out]`",
          status=BAD_OFFSET),
    Field("off_gscale", 24, "I", f"i32 `gscale[n_out]`, each in −{GSCALE_MAX} .. {GSCALE_MAX}", status=BAD_OFFSET),
    Field("off_meta", 28, "I", f"metaplastic table: u16 `meta[{META_ENTRIES}]`, each 0 .. {META_MAX}" + _IGNORED,
          status=BAD_OFFSET),
))

# Version 2: each layer entry is 48 bytes, the 32 of version 1 followed by the
# layer's geometry. A version-1 entry reads as a dense layer with in_shape
# (n_in, 1, 1).
GEOMETRY_FIELDS = (
    Field("op", 32, "B", "0: dense; 1: conv1d; 2: conv2d. The last layer is dense.", OP_DENSE, OP_CONV2D,
          BAD_LAYER),
    Field("pool", 33, "B", f"P: max pooling after the sign, kernel = stride = P x P (conv1d: 1 x P), floor "
          f"mode; 1 = none (dense: 1), 1 .. {MAX_POOL}", 1, MAX_POOL, BAD_LAYER),
    Field("kh", 34, "B", f"kernel height, 1 .. {MAX_KERNEL} (dense and conv1d: 1)", 1, MAX_KERNEL, BAD_LAYER),
    Field("kw", 35, "B", f"kernel width, 1 .. {MAX_KERNEL} (dense: 1)", 1, MAX_KERNEL, BAD_LAYER),
    Field("sh", 36, "B", f"vertical stride, 1 .. {MAX_STRIDE} (dense and conv1d: 1)", 1, MAX_STRIDE, BAD_LAYER),
    Field("sw", 37, "B", f"horizontal stride, 1 .. {MAX_STRIDE} (dense: 1)", 1, MAX_STRIDE, BAD_LAYER),
    Field("ph", 38, "B", "zero padding above and below, 0 .. kh - 1 (dense and conv1d: 0)", 0, MAX_KERNEL - 1,
          BAD_LAYER),
    Field("pw", 39, "B", "zero padding left and right, 0 .. kw - 1 (dense: 0)", 0, MAX_KERNEL - 1, BAD_LAYER),
    Field("in_c", 40, "H", "input map channels C, 1 .. 65535; equals the previous layer's output channels "
          "(a dense layer's output is (n_out, 1, 1))", 1, MAX_MAP, BAD_LAYER),
    Field("in_h", 42, "H", "input map height H (conv1d: 1); `C * H * W` at most 65535", 1, MAX_MAP, BAD_LAYER),
    Field("in_w", 44, "H", "input map width W; a dense layer has `C * H * W = n_in`, and layer 0 if dense "
          "`(n_in, 1, 1)`", 1, MAX_MAP, BAD_LAYER),
    Field("reserved", 46, "H", "0", 0, 0, BAD_LAYER),
)
LAYER_ENTRY_V2 = Layout("layer", 48, LAYER_ENTRY.fields + GEOMETRY_FIELDS)
def layer_entry(version: int) -> Layout:
    """The layer-entry layout of a format version (1: 32 bytes, 2 and 3: 48 bytes)."""
    return LAYER_ENTRY if version == 1 else LAYER_ENTRY_V2


# Version 3: the layer table (48-byte entries, as version 2) is followed by one
# rehearsal entry: a fixed set of labelled samples, stored in the blob, and the
# number of memory slots in RAM for samples of the stream; mbnn_learn relearns
# one sample of the two after each new sample (ARITHMETIC.md "Rehearsal").
REHEARSAL_ENTRY = Layout("rehearsal", 16, (
    Field("count", 0, "I", f"samples in the set, 1 .. {MAX_REHEARSAL}", 1, MAX_REHEARSAL, BAD_HEADER),
    Field("off_x", 4, "I", "the samples: `count` rows of `n_inputs` i8 (the model's input count, in the order "
          "of the features), row-major", status=BAD_OFFSET),
    Field("off_labels", 8, "I", "their labels: `count` u16, each below `n_classes` (else `MBNN_ERR_BAD_WEIGHTS`)",
          status=BAD_OFFSET),
    Field("memory", 12, "I", f"slots of the memory: samples of the stream kept in RAM and rehearsed with the set, "
          f"0 .. {MAX_MEMORY} (ARITHMETIC.md \"Rehearsal\")", 0, MAX_MEMORY, BAD_HEADER),
))


def table_size(version: int, n_layers: int) -> int:
    """Bytes of the header, the layer table and (version 3) the rehearsal entry."""
    return BLOB_HEADER.size + layer_entry(version).size * n_layers + (REHEARSAL_ENTRY.size if version >= 3 else 0)


STATE_HEADER = Layout("state", 32, (
    Field("magic", 0, "4s", '`"MBST"`'),
    Field("version", 4, "I", "`1`, or `2` for a model whose blob has memory slots (then the memory follows "
          "the layers)"),
    Field("total_size", 8, "I", "bytes of the state"),
    Field("crc32", 12, "I", "crc32 of `[16, total_size)`"),
    Field("model_crc", 16, "I", "the crc32 field of the blob it belongs to"),
    Field("step", 20, "I", "learning steps taken (the state of the random generator)"),
    Field("n_learning_layers", 24, "I", "layers that learn"),
    Field("reserved", 28, "I", "must be 0", 0, 0, STATE_CORRUPT),
))

STORE_MAGIC = b"MBSR"
STORE_VERSION = 1
STORE_HEADER = Layout("store", 32, (
    Field("magic", 0, "4s", '`"MBSR"`'),
    Field("version", 4, "I", "`1`"),
    Field("seq", 8, "I", "write sequence number: the largest of the region plus one"),
    Field("erases", 12, "I", "the region's erase count after this record's erases"),
    Field("state_len", 16, "I", "bytes of the learned state that follows (from the next page)"),
    Field("state_crc", 20, "I", "crc32 of the state bytes"),
    Field("reserved", 24, "I", "0"),
    Field("header_crc", 28, "I", "crc32 of bytes `[0, 28)` of this header"),
))

# The arrays of a layer entry: offset field, element type, whether only a
# learning layer has it.
_OFFSET_FIELDS = ("off_bits", "off_hidden", "off_params", "off_gscale", "off_meta")


class BlobError(MbnnError):
    """A blob that cannot be written or read; `name` is the status the C runtime gives it."""


class StateError(MbnnError):
    """A learned state that does not fit a model; `name` is the runtime's status for it."""


@dataclass
class LayerSpec:
    """One layer of a blob, unpacked; every array in PyTorch order.

    Dense: `bits` is uint8 (n_out, n_in) with 1 meaning weight -1, inputs in
    PyTorch's flatten order (channel-major C, H, W) when the layer follows a
    conv layer. Conv (`op` "conv1d" or "conv2d"): `bits` is (Cout, Cin, kh, kw)
    (1-D: kh = 1), `in_shape` (Cin, H, W) (1-D: H = 1) is required; `kernel`,
    `stride`, `pad` are (h, w) pairs (symmetric zero padding), `pool` P is a max
    pooling of kernel = stride = P after the sign. `write_blob` packs the arrays
    into the runtime's order and `read_blob` gives PyTorch order back.

    `params` is (threshold, lo, hi) for a hidden layer (one per neuron, or per
    output channel of a conv layer) and (scale, offset) for the output layer,
    each int32 (n_out,). A layer learns exactly when `hidden` (int8, the shape of
    `bits`) is given; then `meta` (uint16, (128,)) is needed too.
    """

    bits: np.ndarray
    params: tuple[np.ndarray, ...]
    gscale: np.ndarray
    input_kind: int = KIND_BITS
    hidden: np.ndarray | None = None
    meta: np.ndarray | None = None
    lr_q16: int = 0
    hscale_log2: int = 5
    bwd_shift: int = 0
    op: str = "dense"
    in_shape: tuple[int, int, int] | None = None  # dense: None = (n_in, 1, 1) or the previous layer's output
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    pool: int = 1

    @property
    def n_out(self) -> int:
        """Number of neurons (a conv layer: output channels)."""
        return int(self.bits.shape[0])

    @property
    def n_in(self) -> int:
        """Inputs of one neuron (a conv layer: Cin * kh * kw)."""
        return int(np.prod(self.bits.shape[1:]))

    @property
    def is_conv(self) -> bool:
        """Whether this is a conv1d or conv2d layer."""
        return self.op != "dense"

    @property
    def learns(self) -> bool:
        """Whether the device updates this layer's hidden weights."""
        return self.hidden is not None

    def conv_out_hw(self) -> tuple[int, int]:
        """(Ho, Wo): the conv output before pooling."""
        _, h, w = self.in_shape
        return ((h + 2 * self.pad[0] - self.kernel[0]) // self.stride[0] + 1,
                (w + 2 * self.pad[1] - self.kernel[1]) // self.stride[1] + 1)

    def out_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the layer's output (after pooling); a dense layer's is (n_out, 1, 1)."""
        if not self.is_conv:
            return (self.n_out, 1, 1)
        (ho, wo), (qh, qw) = self.conv_out_hw(), self.pool_hw()
        return (self.n_out, ho // qh, wo // qw)

    def pool_hw(self) -> tuple[int, int]:
        """The pooling window (height, width): (P, P), for conv1d (1, P)."""
        return (1 if self.op == "conv1d" else self.pool, self.pool)


@dataclass
class BlobSpec:
    """A whole network as the blob stores it (docs/FORMAT.md). `version` None
    writes the oldest version that holds the network (1 when every layer is dense,
    3 only with a rehearsal set).

    `rehearsal` (format version 3): (x, labels), x int8 (count, n_inputs) in the
    order of the features, labels (count,) in 0 .. n_classes - 1, count 1 .. 65535:
    the samples mbnn_learn relearns one of after each new sample. `memory` (with
    a rehearsal set only): slots of RAM that keep samples of the stream, rehearsed
    with the set (0 .. 65535)."""

    layers: list[LayerSpec]
    input_scale: float = 1.0 / 255.0
    input_zero_point: int = -128
    out_frac_bits: int = 16
    rms_shift: int = 7
    seed: int = 1
    version: int | None = None
    flags: int = field(default=0, repr=False)
    rehearsal: tuple[np.ndarray, np.ndarray] | None = None
    memory: int = 0

    def in_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of every layer's input map: a dense layer's `in_shape` None is
        (n_in, 1, 1) for layer 0, else the output map of the layer before."""
        shapes, prev = [], None
        for layer in self.layers:
            shape = layer.in_shape if layer.in_shape is not None else (
                (layer.n_in, 1, 1) if prev is None else prev.out_shape())
            shapes.append(tuple(int(v) for v in shape))
            prev = layer
        return shapes

    @property
    def n_inputs(self) -> int:
        """Features per sample (a conv model: C * H * W of its input, in PyTorch order)."""
        return int(np.prod(self.in_shapes()[0]))

    @property
    def n_classes(self) -> int:
        """Number of logits."""
        return self.layers[-1].n_out


# ------------------------------------------------------------------ rules


def words_per_row(n_in: int) -> int:
    """uint32 words that hold one row of n_in bits."""
    return (n_in + 31) // 32


def align4(n: int) -> int:
    """n rounded up to a multiple of 4."""
    return (n + 3) & ~3


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack uint8 (rows, n) bits into uint32 (rows, ceil(n/32)), bit j%32 of word j//32."""
    rows, n = bits.shape
    padded = np.zeros((rows, words_per_row(n) * 32), dtype=np.uint8)
    padded[:, :n] = bits != 0
    return np.packbits(padded, axis=1, bitorder="little").view("<u4").reshape(rows, -1)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of pack_bits: uint32 (rows, W) -> uint8 (rows, n); padding dropped."""
    as_bytes = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :n]


def runtime_columns(layer: LayerSpec, in_shape: tuple[int, int, int]) -> np.ndarray:
    """Where each weight of a row (PyTorch order, flattened) sits in the blob's row:
    dense inputs in H, W, C order (`(y * W + x) * C + c`), conv weights in kh, kw, Cin
    order (`(ky * kw + kx) * Cin + c`). The identity for a dense layer on (n, 1, 1)."""
    if layer.is_conv:
        cin, kh, kw = layer.bits.shape[1:]
        c, ky, kx = np.meshgrid(np.arange(cin), np.arange(kh), np.arange(kw), indexing="ij")
        return ((ky * kw + kx) * cin + c).reshape(-1)
    ch, h, w = in_shape
    c, y, x = np.meshgrid(np.arange(ch), np.arange(h), np.arange(w), indexing="ij")
    return ((y * w + x) * ch + c).reshape(-1)


def _row_groups(entry: dict[str, Any]) -> tuple[int, int]:
    """(groups, bits per group) of a row in the blob: a conv row is kh * kw groups of
    in_c bits, each padded to whole words; a dense row is one group of n_in bits."""
    if entry["op"] == OP_DENSE:
        return 1, entry["n_in"]
    return entry["kh"] * entry["kw"], entry["in_c"]


def row_words(entry: dict[str, Any]) -> int:
    """u32 words of one row of a layer's binary weights in the blob."""
    groups, n = _row_groups(entry)
    return groups * words_per_row(n)


def pack_rows(bits: np.ndarray, entry: dict[str, Any]) -> np.ndarray:
    """Rows of bits in runtime column order (n_out, n_in) -> the blob's words (n_out, row_words)."""
    groups, n = _row_groups(entry)
    return pack_bits(bits.reshape(-1, n)).reshape(bits.shape[0], -1)


def unpack_rows(words: np.ndarray, entry: dict[str, Any]) -> np.ndarray:
    """Inverse of pack_rows: the blob's words -> bits (n_out, n_in) in runtime column order."""
    groups, n = _row_groups(entry)
    return unpack_bits(words.reshape(-1, words_per_row(n)), n).reshape(words.shape[0], -1)


def meta_table(m: float, hscale_log2: int) -> np.ndarray:
    """f_meta = 1 - tanh^2(m |Wh|) in Q15 for the 128 magnitudes (k + 0.5) 2^-e."""
    scale = 2.0 ** -hscale_log2
    return np.array(
        [round(32768 * (1 - math.tanh(m * (k + 0.5) * scale) ** 2)) for k in range(META_ENTRIES)],
        dtype=np.uint16,
    )


def quantize(features: Any, input_scale: float, input_zero_point: int) -> np.ndarray:
    """Float features to int8 as the blob header says:
    ``q = clamp(round(f / input_scale) + input_zero_point, -128, 127)`` (ties to even)."""
    q = np.rint(np.asarray(features, dtype=np.float64) / input_scale) + input_zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def blob_crc(blob: bytes) -> int:
    """The header CRC of a blob: the name of the model in its learned state."""
    return BLOB_HEADER["crc32"].read(blob)


def _array_sizes(entry: dict[str, Any], last: bool) -> dict[str, int]:
    """Bytes of each array a layer entry points to."""
    n_in, n_out = entry["n_in"], entry["n_out"]
    return {
        "off_bits": 4 * n_out * row_words(entry),
        "off_hidden": n_out * n_in,
        "off_params": 4 * (2 if last else 3) * n_out,
        "off_gscale": 4 * n_out,
        "off_meta": 2 * META_ENTRIES,
    }


def _needed(name: str, learns: bool) -> bool:
    return learns or name not in ("off_hidden", "off_meta")


def entry_out_shape(e: dict[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of a layer entry's output map (after pooling); dense: (n_out, 1, 1)."""
    if e["op"] == OP_DENSE:
        return (e["n_out"], 1, 1)
    ho, wo = conv_out_hw(e)
    return (e["n_out"], ho // (1 if e["op"] == OP_CONV1D else e["pool"]), wo // e["pool"])


def conv_out_hw(e: dict[str, Any]) -> tuple[int, int]:
    """(Ho, Wo) of a conv entry before pooling (0 or less when the kernel does not fit)."""
    return ((e["in_h"] + 2 * e["ph"] - e["kh"]) // e["sh"] + 1,
            (e["in_w"] + 2 * e["pw"] - e["kw"]) // e["sw"] + 1)


def _geometry_error(idx: int, e: dict[str, Any], prev: dict[str, Any] | None, last: bool) -> str | None:
    """What is wrong with a (version-2) layer's geometry and how it chains, or None."""
    in_size = e["in_c"] * e["in_h"] * e["in_w"]
    if in_size > MAX_MAP:
        return f"input map {e['in_c']}x{e['in_h']}x{e['in_w']} has more than {MAX_MAP} values"
    if prev is None and e["op"] == OP_DENSE and (e["in_h"], e["in_w"]) != (1, 1):
        return "a dense layer 0 reads its features as (n_in, 1, 1)"
    if prev is not None and (e["in_c"], e["in_h"], e["in_w"]) != entry_out_shape(prev):
        return f"input map {(e['in_c'], e['in_h'], e['in_w'])} != output map of the layer before {entry_out_shape(prev)}"
    if e["op"] == OP_DENSE:
        if (e["pool"], e["kh"], e["kw"], e["sh"], e["sw"], e["ph"], e["pw"]) != (1, 1, 1, 1, 1, 0, 0):
            return "a dense layer has pool, kernel and stride 1 and padding 0"
        if in_size != e["n_in"]:
            return f"n_in {e['n_in']} != C*H*W {in_size}"
        return None
    if last:
        return "the last layer must be dense"
    if e["op"] == OP_CONV1D and (e["kh"], e["sh"], e["ph"], e["in_h"]) != (1, 1, 0, 1):
        return "a conv1d layer has kh, sh and in_h 1 and ph 0"
    if e["n_in"] != e["in_c"] * e["kh"] * e["kw"]:
        return f"n_in {e['n_in']} != in_c*kh*kw {e['in_c'] * e['kh'] * e['kw']}"
    if e["ph"] >= e["kh"] or e["pw"] >= e["kw"]:
        return "padding must be smaller than the kernel"
    ho, wo = conv_out_hw(e)
    if (e["op"] == OP_CONV2D and ho < e["pool"]) or wo < e["pool"]:
        return f"output {ho}x{wo} before pooling is smaller than the pool {e['pool']}"
    if e["n_out"] * ho * wo > MAX_MAP:
        return f"output map before pooling has more than {MAX_MAP} values"
    if e["n_out"] * e["kh"] * e["kw"] > MAX_WIDTH:
        return f"n_out*kh*kw above {MAX_WIDTH}"
    return None


# --------------------------------------------------------------- validate


def _blob_error(status: str, detail: str) -> BlobError:
    return BlobError(status, detail=detail)


_V1_GEOMETRY = {"op": OP_DENSE, "pool": 1, "kh": 1, "kw": 1, "sh": 1, "sw": 1, "ph": 0, "pw": 0,
                "in_h": 1, "in_w": 1, "reserved": 0}


def _placed(off: int, size: int, table_end: int, total: int) -> bool:
    """Whether an array of `size` bytes at `off` is 4-aligned, after the tables and inside the blob."""
    return off != 0 and off % 4 == 0 and table_end <= off <= total and size <= total - off


def validate_blob(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check a blob exactly as mbnn_model_init does (docs/FORMAT.md "What the
    runtime checks"), in the same order; raise BlobError with the status C
    returns. Returns the header and the layer entries, by field name (a
    version-1 entry with the geometry of a dense layer added). A version-3 blob's
    rehearsal entry is `head["rehearsal"]` (by field name; None before version 3)."""
    data = bytes(data)
    if len(data) < CRC_START:
        raise _blob_error("MBNN_ERR_TRUNCATED", f"{len(data)} bytes, a header needs {CRC_START}")
    if BLOB_HEADER["magic"].read(data) != MAGIC:
        raise _blob_error("MBNN_ERR_BAD_MAGIC", "export one with `python -m export model.pt`")
    version = BLOB_HEADER["version"].read(data)
    if not 1 <= version <= VERSION:
        raise _blob_error("MBNN_ERR_VERSION", f"version {version}, this metabnn reads 1 to {VERSION}")
    total = BLOB_HEADER["total_size"].read(data)
    if total > len(data):
        raise _blob_error("MBNN_ERR_TRUNCATED", f"header says {total} bytes, got {len(data)}")
    if total < BLOB_HEADER.size:
        raise _blob_error(BAD_HEADER, f"total size {total} is less than a header")
    data = data[:total]
    if zlib.crc32(data[CRC_START:]) != BLOB_HEADER["crc32"].read(data):
        raise _blob_error("MBNN_ERR_CRC", "the file is corrupt")
    head = BLOB_HEADER.unpack(data)
    bad = BLOB_HEADER.first_bad(head)
    if bad is not None:
        raise _blob_error(bad.status, f"{bad.name} {head[bad.name]} outside {bad.lo}..{bad.hi}")
    if head["flags"] != (FLAG_REHEARSAL if version >= 3 else 0):
        raise _blob_error(BAD_HEADER, f"flags {head['flags']}: the rehearsal bit must be set in version 3 "
                                      f"and only there (version {version})")
    n_layers = head["n_layers"]
    entry = layer_entry(version)
    table_end = table_size(version, n_layers)
    if table_end > total:
        raise _blob_error(BAD_HEADER, f"{n_layers} layers do not fit in {total} bytes")
    head["rehearsal"] = rehearsal = None
    if version >= 3:
        rehearsal = REHEARSAL_ENTRY.unpack(data, table_end - REHEARSAL_ENTRY.size)
        bad = REHEARSAL_ENTRY.first_bad(rehearsal)
        if bad is not None:
            raise _blob_error(bad.status, f"rehearsal {bad.name} {rehearsal[bad.name]} outside {bad.lo}..{bad.hi}")
        head["rehearsal"] = rehearsal
    entries = [entry.unpack(data, BLOB_HEADER.size + entry.size * i) for i in range(n_layers)]
    if version == 1:
        entries = [{**_V1_GEOMETRY, "in_c": e["n_in"], **e} for e in entries]
    for idx, e in enumerate(entries):
        bad = next((f for f in entry.fields if f.status == BAD_LAYER and not f.allows(e[f.name])), None)
        if bad is not None:
            raise _blob_error(BAD_LAYER, f"layer {idx}: {bad.name} {e[bad.name]} outside {bad.lo}..{bad.hi}")
        if idx > 0 and e["input_kind"] != KIND_BITS:
            raise _blob_error(BAD_LAYER, f"layer {idx}: only layer 0 may take int8 features")
        if version == 1 and idx > 0 and e["n_in"] != entries[idx - 1]["n_out"]:
            raise _blob_error(BAD_LAYER, f"layer {idx}: n_in {e['n_in']} != n_out of the layer before")
        problem = _geometry_error(idx, e, entries[idx - 1] if idx else None, idx == n_layers - 1)
        if version > 1 and problem is not None:
            raise _blob_error(BAD_LAYER, f"layer {idx}: {problem}")
    for idx, e in enumerate(entries):
        learns = bool(e["flags"] & FLAG_LEARNS)
        for name, size in _array_sizes(e, idx == n_layers - 1).items():
            off = e[name]
            if _needed(name, learns) and not _placed(off, size, table_end, total):
                raise _blob_error(BAD_OFFSET, f"layer {idx}: {name} {off} (+{size} bytes) misaligned, "
                                              f"inside the layer table or past the end ({total})")
    if rehearsal is not None:
        e0, count = entries[0], rehearsal["count"]
        n_inputs = e0["in_c"] * e0["in_h"] * e0["in_w"]
        if rehearsal["memory"] > MAX_MEMORY_BYTES // n_inputs:
            raise _blob_error(BAD_HEADER, f"memory of {rehearsal['memory']} slots of {n_inputs} inputs is above "
                                          f"{MAX_MEMORY_BYTES} bytes")
        for name, size in (("off_x", count * n_inputs), ("off_labels", 2 * count)):
            off = rehearsal[name]
            if not _placed(off, size, table_end, total):
                raise _blob_error(BAD_OFFSET, f"rehearsal {name} {off} (+{size} bytes) misaligned, "
                                              f"inside the tables or past the end ({total})")
    for idx, e in enumerate(entries):
        n_in, n_out = e["n_in"], e["n_out"]
        gscale = np.frombuffer(data, "<i4", n_out, e["off_gscale"])
        if np.any(np.abs(gscale.astype(np.int64)) > GSCALE_MAX):
            raise _blob_error(BAD_WEIGHTS, f"layer {idx}: gscale outside -{GSCALE_MAX}..{GSCALE_MAX}")
        if not e["flags"] & FLAG_LEARNS:
            continue
        if np.any(np.frombuffer(data, "<u2", META_ENTRIES, e["off_meta"]) > META_MAX):
            raise _blob_error(BAD_WEIGHTS, f"layer {idx}: meta table values above {META_MAX}")
        words = np.frombuffer(data, "<u4", n_out * row_words(e), e["off_bits"]).reshape(n_out, -1)
        hidden = np.frombuffer(data, np.int8, n_out * n_in, e["off_hidden"]).reshape(n_out, n_in)
        if not np.array_equal(unpack_rows(words, e) != 0, hidden < 0):
            raise _blob_error(BAD_WEIGHTS, f"layer {idx}: bits must equal the sign of the hidden weights")
    if rehearsal is not None:
        labels = np.frombuffer(data, "<u2", rehearsal["count"], rehearsal["off_labels"])
        if np.any(labels >= entries[-1]["n_out"]):
            raise _blob_error(BAD_WEIGHTS, f"rehearsal labels must be below n_classes {entries[-1]['n_out']}")
    return head, entries


# ------------------------------------------------------------ read, write


def read_blob(data: bytes) -> BlobSpec:
    """Parse the bytes of a .mbnn file; raise BlobError (with the C runtime's status) saying what is wrong.
    The arrays come back in PyTorch order (LayerSpec)."""
    data = bytes(data)
    head, entries = validate_blob(data)
    layers = []
    for idx, e in enumerate(entries):
        n_in, n_out = e["n_in"], e["n_out"]
        n_params = 2 if idx == len(entries) - 1 else 3
        learns = bool(e["flags"] & FLAG_LEARNS)

        def arr(name: str, count: int, dtype: str) -> np.ndarray:
            return np.frombuffer(data, dtype=dtype, count=count, offset=e[name]).copy()

        op = OPS[e["op"]]
        geometry = {"op": op, "in_shape": (e["in_c"], e["in_h"], e["in_w"]), "kernel": (e["kh"], e["kw"]),
                    "stride": (e["sh"], e["sw"]), "pad": (e["ph"], e["pw"]), "pool": e["pool"]}
        shape = (n_out, e["in_c"], e["kh"], e["kw"]) if op != "dense" else (n_out, n_in)
        # PyTorch column t sits at runtime column cols[t]
        cols = runtime_columns(LayerSpec(np.zeros(shape, np.uint8), (), np.zeros(0), **geometry),
                               geometry["in_shape"])
        if op == "dense" and geometry["in_shape"] == (n_in, 1, 1):
            geometry["in_shape"] = None  # follows from the layer before (BlobSpec.in_shapes)
        bits_rt = unpack_rows(arr("off_bits", n_out * row_words(e), "<u4").reshape(n_out, -1), e)
        params = arr("off_params", n_params * n_out, "<i4").reshape(n_params, n_out)
        layers.append(LayerSpec(
            bits=bits_rt[:, cols].reshape(shape),
            params=tuple(params[k].copy() for k in range(n_params)),
            gscale=arr("off_gscale", n_out, "<i4"),
            input_kind=e["input_kind"],
            hidden=arr("off_hidden", n_out * n_in, "i1").reshape(n_out, n_in)[:, cols].reshape(shape)
            if learns else None,
            meta=arr("off_meta", META_ENTRIES, "<u2") if learns else None,
            lr_q16=e["lr_q16"],
            hscale_log2=e["hscale_log2"],
            bwd_shift=e["bwd_shift"],
            **geometry,
        ))
    spec = BlobSpec(layers, float(head["input_scale"]), head["input_zero_point"], head["out_frac_bits"],
                    head["rms_shift"], head["seed"], head["version"], head["flags"])
    if head["rehearsal"] is not None:
        r = head["rehearsal"]
        x = np.frombuffer(data, np.int8, r["count"] * spec.n_inputs, r["off_x"]).reshape(r["count"], -1).copy()
        spec.rehearsal = (x, np.frombuffer(data, "<u2", r["count"], r["off_labels"]).copy())
        spec.memory = r["memory"]
    return spec


def _entry_geometry(layer: LayerSpec, in_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The version-2 geometry fields of a layer whose input map is in_shape."""
    c, h, w = in_shape
    return {"op": OPS.index(layer.op), "pool": layer.pool, "kh": layer.kernel[0], "kw": layer.kernel[1],
            "sh": layer.stride[0], "sw": layer.stride[1], "ph": layer.pad[0], "pw": layer.pad[1],
            "in_c": c, "in_h": h, "in_w": w}


def _check_spec(spec: BlobSpec) -> None:
    """What must hold before a spec can be packed at all (the rest: validate_blob)."""
    def error(status: str, detail: str) -> BlobError:
        return BlobError(status, detail=detail, hint="")

    if not 1 <= len(spec.layers) <= MAX_LAYERS:
        raise error(BAD_HEADER, f"a blob holds 1 to {MAX_LAYERS} layers, got {len(spec.layers)}")
    for idx, layer in enumerate(spec.layers):
        where = f"layer {idx}"
        if layer.is_conv and layer.in_shape is None:
            raise error(BAD_LAYER, f"{where}: a conv layer needs in_shape (C, H, W)")
        if layer.op not in OPS:
            raise error(BAD_LAYER, f"{where}: op {layer.op!r} is not one of {OPS}")
        if layer.is_conv and (layer.bits.ndim != 4 or layer.bits.shape[2:] != tuple(layer.kernel)
                              or layer.bits.shape[1] != layer.in_shape[0]):
            raise error(BAD_LAYER, f"{where}: conv bits must be (Cout, Cin, kh, kw) = "
                                   f"(n_out, {layer.in_shape[0]}, {layer.kernel[0]}, {layer.kernel[1]}), "
                                   f"got {layer.bits.shape}")
        if not layer.is_conv and layer.bits.ndim != 2:
            raise error(BAD_LAYER, f"{where}: dense bits must be (n_out, n_in), got {layer.bits.shape}")
        if not (1 <= layer.n_in <= MAX_WIDTH and 1 <= layer.n_out <= MAX_WIDTH):
            raise error(BAD_LAYER, f"{where}: sizes {layer.n_in}x{layer.n_out} outside 1..{MAX_WIDTH}")
        if idx > 0 and not layer.is_conv and layer.n_in != int(np.prod(spec.layers[idx - 1].out_shape())):
            raise error(BAD_LAYER, f"{where}: n_in {layer.n_in} != outputs of the layer before")
        want = 2 if idx == len(spec.layers) - 1 else 3
        if len(layer.params) != want:
            raise error(BAD_LAYER, f"{where}: needs {want} parameter arrays, got {len(layer.params)}")
        if layer.learns:
            if layer.hidden.shape != layer.bits.shape or layer.meta is None:
                raise error(BAD_LAYER, f"{where}: a learning layer needs hidden weights of its shape and a meta table")
            if not np.array_equal(layer.bits != 0, layer.hidden < 0):
                raise error(BAD_WEIGHTS, f"{where}: bits must equal the sign of the hidden weights")
    if spec.rehearsal is not None:
        _check_rehearsal(spec, error)
    if not (isinstance(spec.memory, (int, np.integer)) and 0 <= spec.memory <= MAX_MEMORY):
        raise error(BAD_HEADER, f"memory must be 0..{MAX_MEMORY} slots, got {spec.memory!r}")
    if spec.memory and spec.rehearsal is None:
        raise error(BAD_HEADER, "memory slots need a rehearsal set (format version 3)")


def _check_rehearsal(spec: BlobSpec, error) -> None:
    """A rehearsal set the writer can store: (x, labels) of 1 .. 65535 samples."""
    if not (isinstance(spec.rehearsal, tuple) and len(spec.rehearsal) == 2):
        raise error(BAD_HEADER, "rehearsal must be a tuple (x, labels)")
    x, labels = (np.asarray(a) for a in spec.rehearsal)
    if x.ndim != 2 or x.shape[1] != spec.n_inputs or not 1 <= x.shape[0] <= MAX_REHEARSAL:
        raise error(BAD_HEADER, f"rehearsal x must be (count, {spec.n_inputs}) with count 1..{MAX_REHEARSAL}, "
                                f"got {x.shape}")
    if labels.shape != (x.shape[0],):
        raise error(BAD_HEADER, f"rehearsal labels must be ({x.shape[0]},), got {labels.shape}")
    if x.dtype.kind not in "iu" or labels.dtype.kind not in "iu":
        raise error(BAD_HEADER, f"rehearsal x and labels must be integers, got {x.dtype} and {labels.dtype}")
    if x.min() < -128 or x.max() > 127:
        raise error(BAD_HEADER, "rehearsal x must be int8 values in -128..127")
    if labels.min() < 0 or labels.max() >= spec.n_classes:
        raise error(BAD_WEIGHTS, f"rehearsal labels must be in 0..{spec.n_classes - 1}")


def needs_version_2(spec: BlobSpec) -> bool:
    """Whether a network needs format version 2 (a conv layer, or a dense layer 0 on a map)."""
    return any(layer.is_conv for layer in spec.layers) or spec.in_shapes()[0][1:] != (1, 1)


def write_blob(spec: BlobSpec) -> bytes:
    """Serialize a BlobSpec to the bytes of a .mbnn file: format version spec.version,
    or when that is None the oldest that holds the network (1 for dense networks,
    2 with conv layers, 3 with a rehearsal set).

    A spec the runtime would refuse raises BlobError with the status it would give."""
    _check_spec(spec)
    rehearse = spec.rehearsal is not None
    version = spec.version if spec.version is not None else (3 if rehearse else 2 if needs_version_2(spec) else 1)
    if version == 1 and needs_version_2(spec):
        raise BlobError(BAD_LAYER, detail="conv layers need format version 2", hint="")
    if rehearse != (version >= 3) and version <= VERSION:
        raise BlobError(BAD_HEADER, detail="a rehearsal set needs format version 3, and version 3 a rehearsal set",
                        hint="")
    entry_layout = layer_entry(version)
    pos = BLOB_HEADER.size + entry_layout.size * len(spec.layers) + (REHEARSAL_ENTRY.size if rehearse else 0)
    chunks: list[bytes] = []
    entries: list[bytes] = []

    def place(arr: np.ndarray) -> int:
        nonlocal pos
        data = arr.tobytes()
        data += b"\0" * (align4(len(data)) - len(data))
        start = pos
        chunks.append(data)
        pos += len(data)
        return start

    for layer, in_shape in zip(spec.layers, spec.in_shapes()):
        e = {"input_kind": layer.input_kind, "flags": FLAG_LEARNS if layer.learns else 0,
             "hscale_log2": layer.hscale_log2, "bwd_shift": layer.bwd_shift,
             "n_in": layer.n_in, "n_out": layer.n_out, "lr_q16": layer.lr_q16, **_entry_geometry(layer, in_shape)}
        cols = runtime_columns(layer, in_shape)

        def runtime_order(a: np.ndarray, dtype: Any) -> np.ndarray:
            out = np.zeros((layer.n_out, layer.n_in), dtype=dtype)
            out[:, cols] = np.asarray(a).reshape(layer.n_out, -1)
            return out

        e["off_bits"] = place(pack_rows(runtime_order(layer.bits, np.uint8), e))
        e["off_hidden"] = place(runtime_order(layer.hidden, np.int8)) if layer.learns else 0
        e["off_params"] = place(np.concatenate([np.asarray(p, dtype="<i4") for p in layer.params]))
        e["off_gscale"] = place(np.asarray(layer.gscale, dtype="<i4"))
        e["off_meta"] = place(np.asarray(layer.meta, dtype="<u2")) if layer.learns else 0
        try:
            entries.append(entry_layout.pack(e))
        except struct.error as exc:
            raise BlobError(BAD_LAYER, detail=f"layer {len(entries)}: {exc}", hint="") from None
    if rehearse:
        x, labels = (np.asarray(a) for a in spec.rehearsal)
        entries.append(REHEARSAL_ENTRY.pack({"count": len(x), "off_x": place(x.astype(np.int8)),
                                             "off_labels": place(labels.astype("<u2")), "memory": spec.memory}))
    try:
        head = BLOB_HEADER.pack({
            "magic": MAGIC, "version": version, "total_size": pos, "n_layers": len(spec.layers),
            "flags": (spec.flags & ~FLAG_REHEARSAL) | (FLAG_REHEARSAL if version >= 3 else 0),
            "input_scale": spec.input_scale, "input_zero_point": spec.input_zero_point,
            "out_frac_bits": spec.out_frac_bits, "rms_shift": spec.rms_shift, "seed": spec.seed & 0xFFFFFFFF})
    except struct.error as exc:
        raise BlobError(BAD_HEADER, detail=str(exc), hint="") from None
    out = bytearray(head + b"".join(entries) + b"".join(chunks))
    BLOB_HEADER["crc32"].write(out, 0, zlib.crc32(out[CRC_START:]))
    if 1 <= version <= VERSION:  # a test may write another version on purpose
        try:
            validate_blob(bytes(out))
        except BlobError as exc:
            raise BlobError(exc.name, detail=exc.detail, hint="") from None
    return bytes(out)


# ----------------------------------------------------------- learned state


class Memory(NamedTuple):
    """The memory of a model whose blob has memory slots (ARITHMETIC.md "Rehearsal"): `seen`, the labelled
    samples offered to it (saturating at 2^32 - 1); x int8 (slots, n_inputs) and labels (slots,), of which
    the first min(seen, slots) rows are samples and the rest unused (zero as the runtime writes them)."""

    seen: int
    x: np.ndarray
    labels: np.ndarray


class LearnedState(NamedTuple):
    """A learned state unpacked: the blob CRC it belongs to, the step, (hidden int8 (n_out, n_in), rms
    uint32 (n_out,)) per learning layer, and the memory (None for a blob without memory slots)."""

    model_crc: int
    step: int
    layers: list[tuple[np.ndarray, np.ndarray]]
    memory: Memory | None = None


def memory_size(slots: int, n_inputs: int) -> int:
    """Bytes of the memory section of a learned state: seen, the rows, the labels (each padded to 4)."""
    return 4 + align4(slots * n_inputs) + align4(2 * slots) if slots else 0


def state_size(shapes: list[tuple[int, int]], memory: tuple[int, int] = (0, 0)) -> int:
    """Bytes of the learned state of a model whose learning layers have these (n_out, n_in) and whose
    blob has `memory` = (slots, n_inputs)."""
    return STATE_HEADER.size + sum(align4(o * i) + 4 * o for o, i in shapes) + memory_size(*memory)


def spec_state_size(spec: BlobSpec) -> int:
    """Bytes of the learned state of a blob's model (learning)."""
    return state_size([(l.n_out, l.n_in) for l in spec.layers if l.learns], (spec.memory, spec.n_inputs))


def read_spec_state(data: bytes, spec: BlobSpec, model_crc: int | None = None) -> LearnedState:
    """read_state for the model of a blob (its learning layers, memory and classes)."""
    return read_state(data, [(l.n_out, l.n_in) for l in spec.layers if l.learns], model_crc,
                      (spec.memory, spec.n_inputs), spec.n_classes)


def _padded(a: np.ndarray) -> bytes:
    data = a.tobytes()
    return data + b"\0" * (align4(len(data)) - len(data))


def write_state(model_crc: int, step: int, layers: list[tuple[np.ndarray, np.ndarray]],
                memory: Memory | None = None) -> bytes:
    """The learned-state bytes of (hidden int8 (n_out, n_in), rms (n_out,)) per learning layer, and of the
    memory (version 2) when there is one."""
    parts = [_padded(np.asarray(hidden).astype(np.int8)) + np.asarray(rms).astype("<u4").tobytes()
             for hidden, rms in layers]
    if memory is not None:
        parts.append(struct.pack("<I", memory.seen) + _padded(np.asarray(memory.x).astype(np.int8))
                     + _padded(np.asarray(memory.labels).astype("<u2")))
    body = b"".join(parts)
    out = bytearray(STATE_HEADER.pack({
        "magic": STATE_MAGIC, "version": 1 if memory is None else 2, "total_size": STATE_HEADER.size + len(body),
        "model_crc": model_crc, "step": step & 0xFFFFFFFF, "n_learning_layers": len(layers)}) + body)
    STATE_HEADER["crc32"].write(out, 0, zlib.crc32(out[CRC_START:]))
    return bytes(out)


def read_state(data: bytes, shapes: list[tuple[int, int]], model_crc: int | None = None,
               memory: tuple[int, int] = (0, 0), n_classes: int | None = None) -> LearnedState:
    """Check a learned state as mbnn_state_load does, in the same order, and unpack it.

    `shapes`: (n_out, n_in) of each learning layer of the model; `model_crc`:
    the model's blob CRC (None: not checked); `memory`: (slots, n_inputs) of
    the blob's memory; `n_classes`: the model's (memory labels must be below
    it; None: not checked). Raises StateError with the status of C:
    MBNN_ERR_STATE_CORRUPT for damaged bytes, MBNN_ERR_STATE_MODEL for a state
    of another model."""
    data = bytes(data)
    slots, n_inputs = memory

    def corrupt(detail: str) -> StateError:
        return StateError(STATE_CORRUPT, detail=detail)

    if len(data) < STATE_HEADER.size:
        raise corrupt(f"learned state too short: {len(data)} bytes")
    head = STATE_HEADER.unpack(data)
    if head["magic"] != STATE_MAGIC:
        raise corrupt("not a metabnn learned state (bad magic)")
    if not 1 <= head["version"] <= STATE_VERSION:
        raise corrupt(f"learned state version {head['version']} is not supported (this metabnn reads 1 to "
                      f"{STATE_VERSION})")
    total = head["total_size"]
    if total < STATE_HEADER.size or total > len(data):
        raise corrupt(f"learned state truncated: header says {total} bytes, got {len(data)}")
    if zlib.crc32(data[CRC_START:total]) != head["crc32"]:
        raise corrupt("learned state CRC mismatch: the state is corrupt")
    if head["n_learning_layers"] != len(shapes):
        raise StateError(STATE_MODEL, detail=f"learned state has {head['n_learning_layers']} learning layers, "
                                             f"the model {len(shapes)}")
    if total != state_size(shapes, memory):
        raise StateError(STATE_MODEL, detail=f"learned state has {total} bytes, this model's has "
                                             f"{state_size(shapes, memory)}")
    if head["version"] != (2 if slots else 1):
        raise StateError(STATE_MODEL, detail=f"learned state version {head['version']} is for a model "
                                             f"{'without' if slots else 'with'} memory slots")
    if model_crc is not None and head["model_crc"] != model_crc:
        raise StateError(STATE_MODEL, detail=f"its model crc is 0x{head['model_crc']:08x}, "
                                             f"the blob's 0x{model_crc:08x}")
    if head["reserved"] != 0:
        raise corrupt(f"reserved word {head['reserved']}, not 0")
    pos, layers = STATE_HEADER.size, []
    for n_out, n_in in shapes:
        h = np.frombuffer(data, np.int8, n_out * n_in, pos).reshape(n_out, n_in).copy()
        pos += align4(n_out * n_in)
        rms = np.frombuffer(data, "<u4", n_out, pos).copy()
        pos += 4 * n_out
        if np.any(rms > RMS_MAX):
            raise corrupt(f"rms value above {RMS_MAX}")
        layers.append((h, rms))
    kept = None
    if slots:
        seen = struct.unpack_from("<I", data, pos)[0]
        x = np.frombuffer(data, np.int8, slots * n_inputs, pos + 4).reshape(slots, n_inputs).copy()
        labels = np.frombuffer(data, "<u2", slots, pos + 4 + align4(slots * n_inputs)).copy()
        if n_classes is not None and np.any(labels >= n_classes):
            raise corrupt(f"a memory label is not below n_classes {n_classes}")
        kept = Memory(seen, x, labels)
    return LearnedState(head["model_crc"], head["step"], layers, kept)
