"""Experience replay for the device experiments: a small buffer of past samples relearned between stream samples.

Rehearsal, the usual remedy where regularization alone fails (class-incremental splits, van de Ven,
Tuytelaars and Tolias 2022): after every new sample the device also learns one sample drawn uniformly from a
buffer of `size` past samples. The buffer starts with random samples of the pretrained first task (on a
board: a rehearsal set stored in flash beside the blob) and is then kept by reservoir sampling over the
stream (Vitter 1985, algorithm R), so every sample seen, the first task counted as `first_weight` samples,
has the same chance to be in it. No arithmetic changes: the device runs the same learning step, twice
per new sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Replay:
    """A reservoir of (int8 inputs, labels) and the random draws that keep and replay it."""

    x: np.ndarray
    y: np.ndarray
    seen: int
    rng: np.random.Generator
    reservoir: bool = True

    @classmethod
    def from_first_task(cls, xq: np.ndarray, y: np.ndarray, size: int, first_weight: int,
                        rng: np.random.Generator, reservoir: bool = True) -> "Replay":
        """`size` random samples of the first task (int8 inputs `xq`, labels `y`), counted as `first_weight`
        samples seen."""
        if size < 1:
            raise ValueError(f"replay size must be >= 1, got {size}")
        idx = rng.permutation(len(xq))[:size]
        return cls(xq[idx].copy(), y[idx].copy(), max(first_weight, len(idx)), rng, reservoir)

    def interleave(self, xq: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stream samples with one replayed sample after each (stream at even indices); the reservoir
        then takes each stream sample in with probability size / seen."""
        out_x = np.empty((2 * len(xq),) + xq.shape[1:], dtype=xq.dtype)
        out_y = np.empty(2 * len(y), dtype=y.dtype)
        out_x[0::2], out_y[0::2] = xq, y
        for i in range(len(xq)):
            r = self.rng.integers(len(self.y))
            out_x[2 * i + 1], out_y[2 * i + 1] = self.x[r], self.y[r]
            if not self.reservoir:
                continue
            self.seen += 1
            j = self.rng.integers(self.seen)
            if j < len(self.y):
                self.x[j], self.y[j] = xq[i], y[i]
        return out_x, out_y
