"""The stream file the firmware reads (docs/TARGETS.md "Stream format").

A 16-byte header -- magic "MBSM", u32 version 1, u32 n_samples, u16
n_features, u16 flags 0 -- then per sample a u16 label (0xFFFF: no label,
predict only) and n_features int8 features. Little-endian, no padding: the
firmware reads one record at a time into a buffer of n_features bytes.

Users hand streams over as .npz with `x` (n, features) and optionally `y`
(n,; -1 means no label). Float features are quantized with the blob's
input_scale and input_zero_point (docs/FORMAT.md), int8 features used as they are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyruntime.format import quantize, read_blob  # noqa: F401  (quantize: part of this module's API)

MAGIC = b"MBSM"
VERSION = 1
NO_LABEL = 0xFFFF
_HEAD = struct.Struct("<4sIIHH")


@dataclass
class Stream:
    """int8 features (n, f) and labels (n,) with -1 for no label."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.int8)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise ValueError(f"a stream needs x of shape (n, features) and y of shape (n,), got {self.x.shape} and {self.y.shape}")
        if self.x.shape[1] > 0xFFFF or np.any((self.y < -1) | (self.y >= NO_LABEL)):
            raise ValueError("labels must be -1 (none) or 0..65534, features at most 65535")

    def to_bytes(self) -> bytes:
        """The stream file's bytes."""
        n, f = self.x.shape
        rec = np.zeros((n, 2 + f), dtype=np.uint8)
        labels = np.where(self.y < 0, NO_LABEL, self.y).astype("<u2")
        rec[:, :2] = labels.view(np.uint8).reshape(n, 2)
        rec[:, 2:] = self.x.view(np.uint8)
        return _HEAD.pack(MAGIC, VERSION, n, f, 0) + rec.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Stream":
        """Parse a stream file."""
        if len(data) < _HEAD.size:
            raise ValueError("not a metabnn stream: shorter than its 16-byte header")
        magic, version, n, f, _ = _HEAD.unpack_from(data)
        if magic != MAGIC or version != VERSION:
            raise ValueError("not a metabnn stream (magic MBSM, version 1)")
        rec = np.frombuffer(data, dtype=np.uint8, count=n * (2 + f), offset=_HEAD.size).reshape(n, 2 + f)
        y = rec[:, :2].copy().view("<u2").reshape(n).astype(np.int64)
        return cls(rec[:, 2:].copy().view(np.int8), np.where(y == NO_LABEL, -1, y))


def load(path: str | Path, blob: bytes | None = None) -> Stream:
    """Read a stream from .npz (x, optional y) or from a stream file (.bin)."""
    path = Path(path)
    if path.suffix != ".npz":
        return Stream.from_bytes(path.read_bytes())
    with np.load(path) as z:
        if "x" not in z:
            raise ValueError(f"{path}: an .npz stream needs an array 'x' (samples, features) and optionally 'y'")
        x = z["x"]
        y = z["y"] if "y" in z else np.full(len(x), -1)
    if x.dtype != np.int8:
        if blob is None:
            raise ValueError(f"{path}: float features need the model to quantize them")
        spec = read_blob(blob)
        x = quantize(x, spec.input_scale, spec.input_zero_point)
    return Stream(x, y)


def save_npz(path: str | Path, stream: Stream) -> None:
    """Write a stream as .npz (int8 x, int64 y)."""
    np.savez(path, x=stream.x, y=stream.y)


def from_datasets(names: list[str], n: int, unlabelled_every: int = 0, split: str = "train",
                  seed: int = 0) -> tuple[Stream, np.ndarray]:
    """A stream of n samples from each dataset in turn (a task sequence), and each sample's task index.

    Samples are drawn without replacement from the dataset's split with a seeded
    shuffle and quantized with the dataset's own input quantization (the one
    `python -m export.train` trains with). Every `unlabelled_every`-th sample
    has no label (0: all labelled).
    """
    from export import data

    if n <= 0:
        raise ValueError(f"-n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    xs, ys, tasks = [], [], []
    for task, name in enumerate(names):
        ds = data.load(name)
        x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
        if n > len(y):
            raise ValueError(f"{name} has {len(y)} {split} samples, fewer than -n {n}")
        pick = rng.permutation(len(y))[:n]
        xs.append(ds.quantize(x[pick]))
        ys.append(y[pick].astype(np.int64))
        tasks.append(np.full(n, task, dtype=np.int64))
    if len({x.shape[1] for x in xs}) != 1:
        raise ValueError("the datasets of a task sequence must have the same number of features")
    y = np.concatenate(ys)
    if unlabelled_every:
        y[unlabelled_every - 1::unlabelled_every] = -1
    return Stream(np.concatenate(xs), y), np.concatenate(tasks)
