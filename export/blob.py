"""The `.mbnn` blob, format version 1: writer and reader (docs/FORMAT.md).

Pure numpy: the C runtime's binding, the integer reference and the tests use it
without torch.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"MBNN"
VERSION = 1
HEADER_SIZE = 32
LAYER_ENTRY_SIZE = 32
MAX_LAYERS = 8
MAX_WIDTH = 8192
META_ENTRIES = 128
KIND_INT8 = 0
KIND_BITS = 1

_HEADER = struct.Struct("<4sIII HHfbBBBI")
_LAYER = struct.Struct("<BBBBHHIIIIII")


class BlobError(ValueError):
    """A blob that cannot be written or read; the message says what is wrong."""


@dataclass
class LayerSpec:
    """One layer of a blob, unpacked.

    `bits` is uint8 (n_out, n_in) with 1 meaning weight -1. `params` is
    (threshold, lo, hi) for a hidden layer and (scale, offset) for the output
    layer, each int32 (n_out,). A layer learns exactly when `hidden` (int8,
    (n_out, n_in)) is given; then `meta` (uint16, (128,)) is needed too.
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

    @property
    def n_out(self) -> int:
        """Number of neurons."""
        return int(self.bits.shape[0])

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return int(self.bits.shape[1])

    @property
    def learns(self) -> bool:
        """Whether the device updates this layer's hidden weights."""
        return self.hidden is not None


@dataclass
class BlobSpec:
    """A whole network as the blob stores it (docs/FORMAT.md)."""

    layers: list[LayerSpec]
    input_scale: float = 1.0 / 255.0
    input_zero_point: int = -128
    out_frac_bits: int = 16
    rms_shift: int = 7
    seed: int = 1
    version: int = VERSION
    flags: int = field(default=0, repr=False)

    @property
    def n_inputs(self) -> int:
        """Features per sample."""
        return self.layers[0].n_in

    @property
    def n_classes(self) -> int:
        """Number of logits."""
        return self.layers[-1].n_out


def words_per_row(n_in: int) -> int:
    """uint32 words that hold one row of n_in bits."""
    return (n_in + 31) // 32


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


def meta_table(m: float, hscale_log2: int) -> np.ndarray:
    """f_meta = 1 - tanh^2(m |Wh|) in Q15 for the 128 magnitudes (k + 0.5) 2^-e."""
    scale = 2.0 ** -hscale_log2
    return np.array(
        [round(32768 * (1 - math.tanh(m * (k + 0.5) * scale) ** 2)) for k in range(META_ENTRIES)],
        dtype=np.uint16,
    )


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _check_spec(spec: BlobSpec) -> None:
    if not 1 <= len(spec.layers) <= MAX_LAYERS:
        raise BlobError(f"a blob holds 1 to {MAX_LAYERS} layers, got {len(spec.layers)}")
    for idx, layer in enumerate(spec.layers):
        where = f"layer {idx}"
        if not (1 <= layer.n_in <= MAX_WIDTH and 1 <= layer.n_out <= MAX_WIDTH):
            raise BlobError(f"{where}: sizes {layer.n_in}x{layer.n_out} outside 1..{MAX_WIDTH}")
        if idx > 0 and layer.n_in != spec.layers[idx - 1].n_out:
            raise BlobError(f"{where}: n_in {layer.n_in} != n_out of the layer before")
        if layer.input_kind not in (KIND_INT8, KIND_BITS) or (idx > 0 and layer.input_kind != KIND_BITS):
            raise BlobError(f"{where}: input kind {layer.input_kind} (only layer 0 may take int8)")
        want = 2 if idx == len(spec.layers) - 1 else 3
        if len(layer.params) != want:
            raise BlobError(f"{where}: needs {want} parameter arrays, got {len(layer.params)}")
        if layer.learns:
            if layer.hidden.shape != layer.bits.shape or layer.meta is None:
                raise BlobError(f"{where}: a learning layer needs hidden weights of its shape and a meta table")
            if not np.array_equal(layer.bits != 0, layer.hidden < 0):
                raise BlobError(f"{where}: bits must equal the sign of the hidden weights")


def write_blob(spec: BlobSpec) -> bytes:
    """Serialize a BlobSpec to the bytes of a .mbnn file (format version spec.version)."""
    _check_spec(spec)
    pos = HEADER_SIZE + LAYER_ENTRY_SIZE * len(spec.layers)
    chunks: list[bytes] = []
    entries: list[bytes] = []

    def place(arr: np.ndarray) -> int:
        nonlocal pos
        data = arr.tobytes()
        data += b"\0" * (_align4(len(data)) - len(data))
        start = pos
        chunks.append(data)
        pos += len(data)
        return start

    for layer in spec.layers:
        off_bits = place(pack_bits(layer.bits))
        off_hidden = place(np.asarray(layer.hidden, dtype=np.int8)) if layer.learns else 0
        off_params = place(np.concatenate([np.asarray(p, dtype="<i4") for p in layer.params]))
        off_gscale = place(np.asarray(layer.gscale, dtype="<i4"))
        off_meta = place(np.asarray(layer.meta, dtype="<u2")) if layer.learns else 0
        entries.append(
            _LAYER.pack(
                layer.input_kind, 1 if layer.learns else 0, layer.hscale_log2, layer.bwd_shift,
                layer.n_in, layer.n_out, layer.lr_q16,
                off_bits, off_hidden, off_params, off_gscale, off_meta,
            )
        )
    body = b"".join(entries) + b"".join(chunks)
    head = struct.pack(
        "<HHfbBBBI", len(spec.layers), spec.flags, spec.input_scale, spec.input_zero_point,
        spec.out_frac_bits, spec.rms_shift, 0, spec.seed & 0xFFFFFFFF,
    )
    covered = head + body
    total = 16 + len(covered)
    return struct.pack("<4sIII", MAGIC, spec.version, total, zlib.crc32(covered)) + covered


def _array(data: bytes, off: int, count: int, dtype: str, what: str) -> np.ndarray:
    size = count * np.dtype(dtype).itemsize
    if off % 4 or off < HEADER_SIZE or off + size > len(data):
        raise BlobError(f"{what}: offset {off} (+{size} bytes) outside the blob or misaligned")
    return np.frombuffer(data, dtype=dtype, count=count, offset=off).copy()


def read_blob(data: bytes) -> BlobSpec:
    """Parse the bytes of a .mbnn file; raise BlobError saying what is wrong."""
    data = bytes(data)
    if len(data) < 16:
        raise BlobError(f"blob truncated: {len(data)} bytes, a header needs 16")
    magic, version, total, crc = struct.unpack_from("<4sIII", data)
    if magic != MAGIC:
        raise BlobError("not a .mbnn blob (bad magic); export one with `python -m export model.pt`")
    if version != VERSION:
        raise BlobError(f"blob format version {version} is not supported (this metabnn reads {VERSION}); update metabnn")
    if total > len(data):
        raise BlobError(f"blob truncated: header says {total} bytes, got {len(data)}")
    if total < HEADER_SIZE:
        raise BlobError(f"blob header says total size {total}, less than a header")
    data = data[:total]
    if zlib.crc32(data[16:]) != crc:
        raise BlobError("blob CRC mismatch: the file is corrupt; export it again")
    n_layers, flags, in_scale, zp, frac, rms_shift, _, seed = struct.unpack_from("<HHfbBBBI", data, 16)
    if not 1 <= n_layers <= MAX_LAYERS or HEADER_SIZE + n_layers * LAYER_ENTRY_SIZE > total:
        raise BlobError(f"blob header: {n_layers} layers do not fit")
    layers = []
    for idx in range(n_layers):
        (kind, lflags, hscale, bwd, n_in, n_out, lr,
         o_bits, o_hidden, o_params, o_gscale, o_meta) = _LAYER.unpack_from(data, HEADER_SIZE + idx * LAYER_ENTRY_SIZE)
        what = f"layer {idx}"
        if not (1 <= n_in <= MAX_WIDTH and 1 <= n_out <= MAX_WIDTH):
            raise BlobError(f"{what}: sizes {n_in}x{n_out} outside 1..{MAX_WIDTH}")
        n_params = 2 if idx == n_layers - 1 else 3
        words = _array(data, o_bits, n_out * words_per_row(n_in), "<u4", what).reshape(n_out, -1)
        params = _array(data, o_params, n_params * n_out, "<i4", what).reshape(n_params, n_out)
        learns = bool(lflags & 1)
        layers.append(
            LayerSpec(
                bits=unpack_bits(words, n_in),
                params=tuple(params[k].copy() for k in range(n_params)),
                gscale=_array(data, o_gscale, n_out, "<i4", what),
                input_kind=kind,
                hidden=_array(data, o_hidden, n_out * n_in, "i1", what).reshape(n_out, n_in) if learns else None,
                meta=_array(data, o_meta, META_ENTRIES, "<u2", what) if learns else None,
                lr_q16=lr,
                hscale_log2=hscale,
                bwd_shift=bwd,
            )
        )
    spec = BlobSpec(layers, float(in_scale), zp, frac, rms_shift, seed, version, flags)
    _check_spec(spec)
    return spec


def check_writable(path: str | os.PathLike, what: str) -> Path:
    """The path, if `what` (e.g. "blob") can be written there; else ValueError
    naming the problem (checked before any work, so nothing is lost)."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ValueError(f"cannot write {what} {out}: it is a directory")
    if not parent.exists():
        raise ValueError(f"cannot write {what} {out}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ValueError(f"cannot write {what} {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ValueError(f"cannot write {what} {out}: permission denied")
    return out


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write data to path so that the path holds either the old file or all of data."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
