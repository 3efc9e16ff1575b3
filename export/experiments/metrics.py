"""Standard continual-learning metrics, and seeds summarized as mean +- sd.

`R[i, j]` is the test accuracy on task j once tasks 0..i have been learned.

- Average accuracy: `ACC = mean_j R[T-1, j]` (Lopez-Paz and Ranzato, "Gradient
  Episodic Memory for Continual Learning", NeurIPS 2017).
- Backward transfer: `BWT = mean_{j < T-1} (R[T-1, j] - R[j, j])` (same paper;
  negative = forgetting).
- Forgetting of task j < T-1: `f_j = max_{l < T-1} R[l, j] - R[T-1, j]`, and its
  mean over the tasks before the last (Chaudhry, Dokania, Ajanthan, Torr,
  "Riemannian Walk for Incremental Learning", ECCV 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def accuracy_matrix(rows: Sequence[dict[str, Any]], n: int | None = None) -> np.ndarray:
    """R from the rows of a run: the last measurement of each task (column ``task``, ``acc_task*``);
    `n`: the first n tasks only (default: every task with an ``acc_task*`` column)."""
    if not rows:
        raise ValueError("no rows to compute metrics from")
    n = n or len([k for k in rows[0] if str(k).startswith("acc_task")])
    last: dict[int, dict[str, Any]] = {}
    for r in rows:
        last[int(r["task"])] = r
    if sorted(last) != list(range(1, n + 1)):
        raise ValueError(f"rows cover tasks {sorted(last)}, not 1..{n}")
    return np.array([[float(last[i][f"acc_task{j}"]) for j in range(1, n + 1)] for i in range(1, n + 1)])


def cl_metrics(r: np.ndarray) -> dict[str, Any]:
    """Average accuracy, backward transfer, forgetting per task and its mean, first and last task's accuracy."""
    r = np.asarray(r, dtype=np.float64)
    t = r.shape[0]
    final = r[-1]
    out: dict[str, Any] = {"avg_acc": float(final.mean()), "first_task": float(final[0]),
                           "last_task": float(final[-1])}
    if t > 1:
        out["bwt"] = float(np.mean(final[:-1] - np.diag(r)[:-1]))
        forgetting = [float(r[:-1, j].max() - final[j]) for j in range(t - 1)]
        out["forgetting"] = forgetting
        out["mean_forgetting"] = float(np.mean(forgetting))
    else:
        out["bwt"], out["forgetting"], out["mean_forgetting"] = 0.0, [], 0.0
    return out


def over_seeds(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{metric: [mean, sd]} over seeds for every scalar metric (sd with ddof 1; 0 for one seed)."""
    if not per_seed:
        raise ValueError("no seeds to summarize")
    out: dict[str, Any] = {"seeds": len(per_seed)}
    for key, value in per_seed[0].items():
        if isinstance(value, (int, float)):
            v = np.array([float(s[key]) for s in per_seed])
            out[key] = [float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0]
        elif isinstance(value, list) and value and isinstance(value[0], (int, float)):
            v = np.array([s[key] for s in per_seed], dtype=np.float64)
            out[key] = [[float(a), float(b)] for a, b in zip(v.mean(0), v.std(0, ddof=1) if len(v) > 1 else 0 * v[0])]
    return out


def pm(ms: Sequence[float], digits: int = 1) -> str:
    """``mean +- sd`` of a [mean, sd] pair."""
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"
