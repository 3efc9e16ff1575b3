"""Speed of the C runtime on the host (pyruntime, through cffi) against the numpy
integer reference, run in the same process on the same models and samples.

    .venv/bin/python bench/host_speed.py [--repeats 5] [--png build/bench/host_speed.png]

Prints a table of medians (microseconds per sample for inference, per step for
learning) and the ratio reference / C, and draws it as a PNG. Both compute the
same bits (tests/test_bitexact.py); this measures only how fast.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyruntime.format import KIND_BITS, KIND_INT8, write_blob  # noqa: E402
from pyruntime.testing import random_spec, random_stream  # noqa: E402

# name: (sizes, first-layer input, learning layers)
MODELS = {
    "digits 64-128-10, all learn": ([64, 128, 10], KIND_INT8, [True, True]),
    "MNIST 784-256-256-10, all learn": ([784, 256, 256, 10], KIND_INT8, [True, True, True]),
    "MNIST 784-256-256-10, last learns": ([784, 256, 256, 10], KIND_INT8, [False, False, True]),
    "MNIST bits 784-256-256-10, all learn": ([784, 256, 256, 10], KIND_BITS, [True, True, True]),
}


def per_item_us(fn, n_items: int, repeats: int) -> float:
    """Median over repeats of the microseconds fn takes per item."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / n_items * 1e6)
    return statistics.median(times)


def measure(blob: bytes, x: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, float]:
    """Inference and learning times of both implementations on one model."""
    import pyruntime
    from pyruntime import reference

    out = {}
    for name, impl, n_learn in (("C", pyruntime.Model, len(x)), ("reference", reference.Model, 20)):
        model = impl.load(blob)
        out[f"{name} infer"] = per_item_us(lambda: model.infer(x), len(x), repeats)
        out[f"{name} learn"] = per_item_us(lambda: model.learn(x[:n_learn], y[:n_learn]), n_learn, repeats)
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure every model, print the table, draw the PNG."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--png", default=str(ROOT / "build" / "bench" / "host_speed.png"))
    args = p.parse_args(argv)
    rows = {}
    for name, (sizes, kind, learns) in MODELS.items():
        rng = np.random.default_rng(0)
        blob = write_blob(random_spec(rng, sizes, kind, learns))
        x, y = random_stream(rng, 200, sizes[0], sizes[-1])
        rows[name] = measure(blob, x, y, args.repeats)
    print(f"{'model':38s} {'C infer':>9s} {'ref infer':>10s} {'ratio':>6s} {'C learn':>9s} {'ref learn':>10s} {'ratio':>6s}")
    print(f"{'':38s} {'us/sample':>9s} {'us/sample':>10s} {'':6s} {'us/step':>9s} {'us/step':>10s}")
    for name, r in rows.items():
        print(f"{name:38s} {r['C infer']:9.1f} {r['reference infer']:10.1f} {r['reference infer'] / r['C infer']:5.0f}x"
              f" {r['C learn']:9.1f} {r['reference learn']:10.1f} {r['reference learn'] / r['C learn']:5.0f}x")
    draw(rows, Path(args.png))
    print(f"plot: {args.png}")
    return 0


def draw(rows: dict[str, dict[str, float]], png: Path) -> None:
    """Grouped bars, log scale: C and reference, inference and learning, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["C infer", "reference infer", "C learn", "reference learn"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    idx = np.arange(len(rows))
    for k, key in enumerate(keys):
        ax.bar(idx + (k - 1.5) * 0.2, [r[key] for r in rows.values()], 0.2, label=key)
    ax.set_xticks(idx, [name.replace(", ", "\n") for name in rows], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("microseconds per sample / step")
    ax.set_title("metabnn on the host: C runtime vs numpy reference (medians)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
