"""What every experiment shares: output folder, CSV/JSON writing, threads, paper-style plots.

Every run writes, under its output folder (default ``build/results/``, which git
ignores):

- ``NAME.csv``: one row per evaluation point (for the continual-learning runs:
  after every epoch, the test accuracy on every task),
- ``NAME.json``: the settings, the command line that regenerates it, the final
  figures and the seconds it took,
- ``NAME.png``: the plot, in the style of the paper's figures.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shlex
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Where results go unless --out says otherwise (gitignored: build/).
DEFAULT_OUT = Path("build/results")

#: Colours of tasks 1..10 in the plots (the paper uses one colour per task).
TASK_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def set_threads(n: int | None) -> None:
    """Limit torch's CPU threads (two runs side by side on a 2-core machine: 1 each)."""
    if n:
        import torch

        torch.set_num_threads(int(n))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body on one torch thread, then restore the count. PyTorch's CPU kernels split their sums
    across threads, so a float training run on 2 threads differs from the same run on 1 (after one MNIST
    epoch: 94.68% against 94.55%); on one thread the same seed gives the same weights on any core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that regenerates this run, as a shell line."""
    args = list(sys.argv[1:] if argv is None else argv)
    return "python -m export.experiments " + " ".join(shlex.quote(a) for a in args)


def out_path(out_dir: str | os.PathLike, name: str, ext: str) -> Path:
    """``out_dir/name.ext``, creating the folder."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.{ext}"


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Rows of dicts to CSV (columns: the union of keys, in first-seen order)."""
    rows = list(rows)
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """A CSV written by write_csv, as a list of dicts of strings."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_json(path: str | os.PathLike, obj: dict[str, Any]) -> None:
    """Pretty JSON (numpy scalars converted)."""
    def conv(o: Any) -> Any:
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o))

    Path(path).write_text(json.dumps(obj, indent=1, default=conv) + "\n")


class Timer:
    """Seconds since construction."""

    def __init__(self) -> None:
        self.t0 = time.time()

    def __call__(self) -> float:
        return time.time() - self.t0


def log(msg: str) -> None:
    """One line to stderr, flushed (runs go to log files in the background)."""
    print(msg, file=sys.stderr, flush=True)


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def wrap(text: str, width: int = 90) -> str:
    """A long title cut into lines of at most `width` characters (at spaces or underscores)."""
    import textwrap

    return "\n".join(textwrap.wrap(text.replace("_", "_\u200b"), width)).replace("\u200b", "")


def task_columns(rows: list[dict[str, str]]) -> list[str]:
    """The ``acc_task*`` columns of a continual-learning CSV, in task order."""
    cols = [c for c in rows[0] if c.startswith("acc_task")]
    return sorted(cols, key=lambda c: int(c[len("acc_task"):]))


def plot_continual(csv_paths: Sequence[str | os.PathLike], titles: Sequence[str], png: str | os.PathLike,
                   suptitle: str = "", x_label: str = "epochs") -> None:
    """The paper's Fig. 2-style panels: test accuracy of every task along the training of all tasks.

    One panel per CSV (e.g. m = 0 next to m = 1.35); one line per task; dotted
    vertical lines at task changes.
    """
    plt = _mpl()
    n = len(csv_paths)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False, sharey=True)
    for ax, path, title in zip(axes[0], csv_paths, titles):
        rows = read_csv(path)
        cols = task_columns(rows)
        on_device = "step" in rows[0]
        x = np.array([int(r["step"]) for r in rows]) if on_device else np.arange(1, len(rows) + 1)
        tasks = [int(r["task"]) for r in rows]
        for t, c in enumerate(cols):
            y = np.array([float(r[c]) for r in rows])
            ax.plot(x, y, color=TASK_COLOURS[t % 10], lw=1.6, label=f"task {t + 1}")
        for i in range(1, len(tasks)):
            if tasks[i] != tasks[i - 1]:
                ax.axvline(x[i - 1] if on_device else i + 0.5, color="k", ls=":", lw=0.8)
        ax.set_title(wrap(title, 45), fontsize=9)
        ax.set_xlabel("samples learned on the device" if on_device else x_label)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    for ax in axes[0]:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    if suptitle:
        fig.suptitle(wrap(suptitle, 40 * n), fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def markdown_table(json_paths: Sequence[str | os.PathLike]) -> str:
    """One markdown row per run summary (NAME.json): final accuracy per task, mean, minutes, command."""
    lines = ["| run | final accuracy per task (%) | mean | min | command |", "|---|---|---|---|---|"]
    for path in json_paths:
        s = json.loads(Path(path).read_text())
        final = s.get("final")
        if not final:
            continue
        accs = [final[k] for k in sorted((k for k in final if k.startswith("acc_task")),
                                           key=lambda k: int(k[len("acc_task"):]))]
        lines.append(f"| {s['name']} | {'/'.join(f'{a:.1f}' for a in accs)} | {final['mean_acc']:.1f} | "
                     f"{s.get('seconds', 0) / 60:.0f} | `{s['command']}` |")
    return "\n".join(lines)
