"""Host inference speed of the C runtime (pyruntime) against onnxruntime (one
thread, the graph export/onnx_export.py writes) and PyTorch (one thread, the
same eval-mode graph), in one process, repetitions interleaved, medians.

    .venv/bin/python bench/host_vs_onnx.py [--sizes 784 1024 1024 10] [--repeats 7] [--png build/bench/host_vs_onnx.png]
                                           [--kernels best|plain|popcnt|avx2|avx512]

The model is a MetaBNN with random weights and BatchNorm statistics (seed 0),
folded into a blob with the project's exporter (export/fold.py); the inputs
are random features in [0, 1). Prints microseconds per sample at batch 1 and
batch 1000 and the ratios (how many times faster pyruntime is), and draws them:
wall-clock time, and the CPU time of this process (time.process_time), which
a shared machine inflates less (all three run on this one thread).
--kernels caps the level of pyruntime's run-time chosen x86 kernels
(pyruntime.Model.set_kernels; default: the best this CPU runs), to show
each level's gain; the first line says which level ran.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCHES = (1, 1000)
CLOCKS = ("wall", "cpu")


def build(sizes: list[int]):
    """A random MetaBNN, its blob and its ONNX graph."""
    import torch

    from export.blob import write_blob
    from export.fold import fold
    from export.model import MetaBNN
    from export.onnx_export import InferenceNet, onnx_bytes

    torch.manual_seed(0)
    model = MetaBNN(sizes)
    with torch.no_grad():
        for bn in model.bns:
            bn.running_mean.normal_(0.0, 4.0)
            bn.running_var.uniform_(50.0, 400.0)
    model.eval()
    spec, _ = fold(model, learn="none")
    return model, write_blob(spec), onnx_bytes(model), InferenceNet(model).eval()


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, draw the PNG."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 1024, 1024, 10])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--png", default=str(ROOT / "build" / "bench" / "host_vs_onnx.png"))
    p.add_argument("--kernels", default="best", choices=["best", "plain", "popcnt", "avx2", "avx512"],
                   help="at most this level of pyruntime's x86 kernels (default: the CPU's best)")
    args = p.parse_args(argv)
    if len(args.sizes) < 2 or min(args.sizes) < 1:
        print("host_vs_onnx.py: --sizes needs at least inputs and classes, all >= 1", file=sys.stderr)
        return 2

    import onnxruntime as ort
    import torch
    from tqdm import tqdm

    import pyruntime

    torch.set_num_threads(1)
    model, blob, onnx, net = build(args.sizes)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
    rt = pyruntime.Model.load(blob, learn=False)
    rt.set_kernels(args.kernels)
    rng = np.random.default_rng(0)
    features = rng.random((max(BATCHES), args.sizes[0]), dtype=np.float32)

    def c_run(f: np.ndarray) -> None:
        rt.infer(rt.quantize(f))  # the quantization is part of the work

    def ort_run(f: np.ndarray) -> None:
        sess.run(["logits"], {"features": f})

    def torch_run(f: np.ndarray) -> None:
        with torch.no_grad():
            net(torch.from_numpy(f))

    runners = {"pyruntime": c_run, "onnxruntime": ort_run, "PyTorch": torch_run}
    times = {(clock, name, b): [] for clock in CLOCKS for name in runners for b in BATCHES}
    for _ in tqdm(range(args.repeats), desc="interleaved repetitions", unit="rep"):
        for b in BATCHES:
            f = features[:b]
            inner = max(1, 200 // b)
            for name, fn in runners.items():
                fn(f)  # warm
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(inner):
                    fn(f)
                t1, c1 = time.perf_counter(), time.process_time()
                times[("wall", name, b)].append((t1 - t0) / (inner * b) * 1e6)
                times[("cpu", name, b)].append((c1 - c0) / (inner * b) * 1e6)
    med = {k: statistics.median(v) for k, v in times.items()}
    shape = "-".join(map(str, args.sizes))
    print(f"{shape}, one thread, {platform.processor() or platform.machine()}, medians of {args.repeats}, "
          f"pyruntime kernels: {rt.kernels}")
    for clock in CLOCKS:
        print(f"{clock + ' time':>9s} {'batch':>6s} {'pyruntime us':>13s} {'onnxruntime us':>15s} "
              f"{'PyTorch us':>11s} {'vs onnxruntime':>15s} {'vs PyTorch':>11s}")
        for b in BATCHES:
            c, o, t = (med[(clock, name, b)] for name in ("pyruntime", "onnxruntime", "PyTorch"))
            print(f"{'':9s} {b:6d} {c:13.1f} {o:15.1f} {t:11.1f} {o / c:14.2f}x {t / c:10.2f}x")
    draw(med, shape, Path(args.png))
    print(f"plot: {args.png}")
    return 0


def draw(med: dict, shape: str, png: Path) -> None:
    """Bars: microseconds per sample of each runtime at each batch size, wall and CPU time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["pyruntime", "onnxruntime", "PyTorch"]
    fig, axes = plt.subplots(1, len(CLOCKS), figsize=(11, 4), sharey=True)
    idx = np.arange(len(BATCHES))
    for ax, clock in zip(axes, CLOCKS):
        for k, name in enumerate(names):
            ax.bar(idx + (k - 1) * 0.27, [med[(clock, name, b)] for b in BATCHES], 0.27, label=name)
        ax.set_xticks(idx, [f"batch {b}" for b in BATCHES])
        ax.set_yscale("log")
        ax.set_title(f"{shape}, one thread: {clock} time")
        ax.legend()
    axes[0].set_ylabel("microseconds per sample (median)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
