"""What `pyruntime.Model` (C) and `pyruntime.reference.Model` (numpy) share:
the checks of their arguments, so both refuse bad input with the same error."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from pyruntime.errors import MbnnError

BlobLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray]


def blob_bytes(blob: BlobLike) -> bytes:
    """The bytes of a blob given as a path or as bytes (bytes, bytearray, memoryview, numpy array)."""
    if isinstance(blob, (str, os.PathLike)):
        with open(blob, "rb") as fh:
            return fh.read()
    if isinstance(blob, np.ndarray):
        return np.ascontiguousarray(blob).tobytes()
    if isinstance(blob, (bytes, bytearray, memoryview)):
        return bytes(blob)
    raise TypeError(
        f"a blob is a path (str or os.PathLike) or the bytes of a .mbnn file, got {type(blob).__name__}"
    )


def features(X: object, n_inputs: int) -> np.ndarray:
    """X as a C-contiguous int8 (N, n_inputs) array; TypeError/ValueError saying what to pass."""
    want = f"X must be int8 of shape (N, {n_inputs})"
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{want}, got {type(X).__name__}; pass a numpy array "
                        "(model.quantize(features) makes one from float features)")
    if X.dtype != np.int8:
        raise ValueError(f"{want}, got dtype {X.dtype}; quantize features with "
                         "model.quantize(features) (the blob's input scale and zero point)")
    if X.ndim != 2 or X.shape[1] != n_inputs:
        extra = "; for one sample pass X[None, :]" if X.ndim == 1 and X.shape[0] == n_inputs else ""
        raise ValueError(f"{want}, got shape {X.shape}{extra}")
    return np.ascontiguousarray(X)


def labels(y: object, n: int, n_classes: int) -> np.ndarray:
    """y as uint16 labels, one per sample; MbnnError MBNN_ERR_BAD_LABEL (naming the
    first bad sample) when one is out of 0..n_classes-1, ValueError for a wrong shape or type."""
    y = np.asarray(y)
    if y.ndim == 0:
        y = y.reshape(1)
    if y.shape != (n,):
        raise ValueError(f"y must hold one label per row of X: shape ({n},), got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer class labels in 0..{n_classes - 1}, got dtype {y.dtype}")
    bad = np.flatnonzero((y < 0) | (y >= n_classes)) if y.size else []
    if len(bad):
        i = int(bad[0])
        raise MbnnError("MBNN_ERR_BAD_LABEL", sample=i, detail=f"y[{i}] = {y[i]}, classes are 0..{n_classes - 1}")
    return y.astype(np.uint16)


#: The levels of the host's optimized kernels, lowest first (mbnn.h
#: MBNN_HOST_PLAIN .. MBNN_HOST_AVX512): what `Model.set_kernels` accepts and
#: `Model.kernels` reports. On x86-64 the C runtime picks the highest the CPU
#: supports; elsewhere it is always "plain".
KERNEL_LEVELS = ("plain", "popcnt", "avx2", "avx512")


def kernel_level(cap: object) -> str | None:
    """A kernel cap checked: a name of KERNEL_LEVELS, or None for no cap (None or "best");
    ValueError otherwise."""
    if cap is None or cap == "best":
        return None
    if not isinstance(cap, str) or cap not in KERNEL_LEVELS:
        raise ValueError(f"kernel level must be one of {KERNEL_LEVELS} or 'best', got {cap!r}")
    return cap
