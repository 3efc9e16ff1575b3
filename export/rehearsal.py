"""The rehearsal set: samples of the training data that the blob carries, so the device keeps the first task.

A binarized network that learns a shift reusing the same inputs (rotation, drift, a new data set on the
same sensor) overwrites what the factory taught it; metaplasticity slows that, it does not stop it
(docs/RESULTS.md section 6). Rehearsal, relearning stored past samples between new ones (Rolnick et al.,
"Experience Replay for Continual Learning", NeurIPS 2019; Chaudhry et al., "On Tiny Episodic Memories
in Continual Learning", 2019), does, at the cost of one more learning step per sample: on a blob with a
rehearsal set, every `mbnn_learn` also relearns one of its samples, drawn by the model's generator
(docs/ARITHMETIC.md "Rehearsal"). The set is fixed and lives in flash with the blob, so nothing new has
to survive a power cut.

`python -m export.train` keeps REHEARSAL_POOL random training samples (int8, as the device reads them)
in the checkpoint; `python -m export` puts the first DEFAULT_REHEARSAL of them in the blob.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Samples the exporter puts in the blob by default: measured in docs/RESULTS.md section 6 (seventh
# round); 100 MNIST samples are 78 KB of flash, 100 of a 64-feature sensor model 6.6 KB.
DEFAULT_REHEARSAL = 100
# Slots of RAM the exporter gives the set's memory of stream samples by default (docs/RESULTS.md section 6,
# eighth round); each costs n_inputs + 2 bytes of arena and as much learned state.
DEFAULT_MEMORY = 100
# Samples the training run keeps in the checkpoint (the most `--rehearsal` can ask for).
REHEARSAL_POOL = 500


def count_error(option: str, n: int) -> str | None:
    """Why a --rehearsal or --memory count is refused (None: it is in 0..65535, the format's range)."""
    return None if 0 <= n <= 65535 else f"{option} must be in 0..65535 (0: none), got {n}"


def memory_choices(most: int) -> list[int]:
    """Memory slots to try, most first, when a board's RAM decides: `most`, then halved down to 0."""
    out = [most]
    while out[-1] > 0:
        out.append(out[-1] // 2 if out[-1] > 12 else 0)
    return out


def rehearsal_indices(count: int, n: int, seed: int) -> np.ndarray:
    """Indices of `n` of `count` training samples drawn at random without replacement (all of them, shuffled,
    when there are fewer), in the drawn order."""
    if n < 0:
        raise ValueError(f"rehearsal samples must be >= 0, got {n}")
    return np.random.default_rng([seed, 0x5245]).permutation(count)[:n]


def to_checkpoint(xq: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
    """The checkpoint's "rehearsal" entry: int8 inputs (one flat row per sample) and labels."""
    xq = np.ascontiguousarray(np.asarray(xq, dtype=np.int8).reshape(len(xq), -1))
    return {"x": torch.as_tensor(xq), "y": torch.as_tensor(np.asarray(y, np.int64))}


def rehearsal_of(ckpt: dict[str, Any], n_inputs: int, n_classes: int, n: int,
                 where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The first `n` samples of the checkpoint's rehearsal set (None when `n` is 0 or the checkpoint holds
    none), checked against the model; ValueError naming `where` when they do not fit it or are too few."""
    entry = ckpt.get("rehearsal")
    if n == 0 or entry is None:
        return None
    again = "train again with `python -m export.train`"
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), torch.Tensor) for k in ("x", "y")):
        raise ValueError(f"{where}: the rehearsal set is not a dict of tensors x and y; {again}")
    x, y = entry["x"].numpy(), entry["y"].numpy()
    if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != n_inputs or y.shape != (len(x),):
        raise ValueError(f"{where}: the rehearsal set is not int8 samples of the model's {n_inputs} inputs "
                         f"with one label each; {again}")
    if not np.issubdtype(y.dtype, np.integer) or len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{where}: rehearsal labels outside 0..{n_classes - 1}; {again}")
    if n > len(x):
        raise ValueError(f"{where}: holds {len(x)} rehearsal samples, {n} asked: pass --rehearsal {len(x)} "
                         f"or less")
    return x[:n].copy(), y[:n].astype(np.int64)
