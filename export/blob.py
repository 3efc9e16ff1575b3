"""The `.mbnn` blob for the exporter: the format itself lives in `pyruntime.format`
(docs/FORMAT.md), re-exported here; this module adds the atomic file write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pyruntime.format import (  # noqa: F401  (the exporter's names for the format)
    KIND_BITS,
    KIND_INT8,
    MAX_LAYERS,
    MAX_WIDTH,
    META_ENTRIES,
    BlobError,
    BlobSpec,
    LayerSpec,
    meta_table,
    pack_bits,
    read_blob,
    unpack_bits,
    words_per_row,
    write_blob,
)


def runtime_model(blob: bytes, learn: bool = True):
    """(model, name): the blob loaded by the C runtime through its binding, or by the
    numpy reference (bit-exact with it) when the binding is not built."""
    try:
        from pyruntime.model import Model
    except ImportError:
        from pyruntime.reference import Model as Reference

        return Reference.load(blob, learn=learn), "numpy reference"
    return Model.load(blob, learn=learn), "C runtime"


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
