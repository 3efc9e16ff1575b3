"""Training curves of checkpoints: ``python -m export.experiments curves a.pt b.pt -o curves.png``.

Every checkpoint written by ``python -m export.train`` keeps its per-epoch
history (training and test accuracy, seconds); this draws them side by side:
test accuracy (solid) and training accuracy (dashed, measured in eval mode on
the samples `--eval-train` chose) against the epoch, one colour per run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from export.checkpoint import read_checkpoint
from export.experiments import common


def histories(paths: Sequence[str]) -> list[list[dict[str, Any]]]:
    """The per-epoch history of each checkpoint; ValueError naming one that has none."""
    out = []
    for p in paths:
        hist = read_checkpoint(p).get("history") or []
        if not hist:
            raise ValueError(f"{p}: the checkpoint has no training history (train it with python -m export.train)")
        out.append(hist)
    return out


def plot_curves(paths: Sequence[str], labels: Sequence[str], png: str | Path, title: str) -> None:
    """One figure: test (solid) and training (dashed) accuracy per epoch of every checkpoint."""
    plt = common._mpl()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, (hist, label) in enumerate(zip(histories(paths), labels)):
        colour = common.TASK_COLOURS[k % len(common.TASK_COLOURS)]
        ep = [int(r["epoch"]) for r in hist]
        ax.plot(ep, [float(r["test_acc"]) for r in hist], "-o", color=colour, ms=3, lw=1.5,
                label=f"{label}: test (last {float(hist[-1]['test_acc']):.2f}%)")
        if all("train_acc" in r for r in hist):
            ax.plot(ep, [float(r["train_acc"]) for r in hist], "--", color=colour, lw=1, label=f"{label}: train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(common.wrap(title, 80), fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the curves command."""
    p.add_argument("checkpoint", nargs="+", help="checkpoints written by python -m export.train")
    p.add_argument("--labels", default=None, help="comma-separated legend labels (default: file names)")
    p.add_argument("--title", default="training curves", help="the figure's title")
    p.add_argument("-o", "--output", required=True, help="PNG to write")


def cmd_curves(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Draw the curves of the checkpoints given on the command line."""
    labels = args.labels.split(",") if args.labels else [Path(c).stem for c in args.checkpoint]
    if len(labels) != len(args.checkpoint):
        raise ValueError(f"--labels has {len(labels)} labels for {len(args.checkpoint)} checkpoints")
    plot_curves(args.checkpoint, labels, args.output, args.title)
    return {}
