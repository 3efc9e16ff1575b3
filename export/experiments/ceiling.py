"""How well the network can learn a new task from the device's budget of samples at all.

``python -m export.experiments ceiling --sequence mnist,fashion --samples 10000``

The device experiment (`device`) streams each later task's samples once, one
at a time, with the BatchNorm of the pretrained task frozen into thresholds.
This asks what the same network reaches from the same samples with nothing
protected and in float: the pretrained model of `device` (same cache), trained
on task 2's stream with Adam (MetaAdam, m = 0), BatchNorm frozen as on the
device (`--bn frozen`, any batch) or adapting to the new task (`--bn adapt`,
batch >= 2), for each learning rate of `--lr`. It is an upper reference for
the device's newest-task accuracy, not a continual learner: it forgets freely.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.experiments import common
from export.experiments.device import PRETRAIN_HSCALE, build_tasks, pretrain
from export.optim import MetaAdam
from export.train import evaluate


def fine_tune(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, lr: float, batch: int, bn: str) -> None:
    """One pass over (x, y) in order, MetaAdam with m = 0 (plain Adam); BatchNorm frozen or adapting."""
    opt = MetaAdam(model.parameters(), lr=lr, meta=0.0)
    for i in range(0, len(x), batch):
        if bn == "adapt" and len(x[i : i + batch]) < 2:  # BatchNorm needs two samples, as in export.train
            continue
        model.train() if bn == "adapt" else model.eval()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[i : i + batch])),
                                                 torch.from_numpy(y[i : i + batch]).long())
        loss.backward()
        opt.step()
    model.eval()


def cmd_ceiling(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fine-tune the pretrained model on task 2's stream for each lr; print and return the accuracies."""
    if args.bn == "adapt" and args.batch < 2:
        raise ValueError("--bn adapt needs --batch 2 or more (BatchNorm statistics of one sample are undefined)")
    if args.samples < 1 or args.batch < 1:
        raise ValueError("--samples and --batch must be >= 1")
    common.set_threads(args.threads)
    tasks = build_tasks(args, args.seed)
    if len(tasks) < 2:
        raise ValueError("--sequence needs two tasks or more: the pretrained one and the one learned")
    rows = []
    for lr in args.lr:
        model, _, _ = pretrain(tasks[0], args.sizes, args.pretrain_epochs, args.pretrain_meta, args.hscale, args.seed,
                               Path(args.out) / "cache", log=common.log)
        rng = np.random.default_rng(args.seed)
        order = rng.permutation(len(tasks[1].x_train))[: args.samples]
        fine_tune(model, tasks[1].x_train[order], tasks[1].y_train[order], lr, args.batch, args.bn)
        n = args.test_subset or None
        accs = [evaluate(model, torch.from_numpy(t.x_test[:n]), torch.from_numpy(t.y_test[:n]).long())[1]
                for t in tasks[:2]]
        rows.append({"lr": lr, "batch": args.batch, "bn": args.bn, "samples": args.samples,
                     "acc_task1": accs[0], "acc_task2": accs[1]})
        common.log(f"lr {lr:g}, batch {args.batch}, BatchNorm {args.bn}: task 1 {accs[0]:.1f}%, "
                   f"task 2 {accs[1]:.1f}% after {args.samples} samples")
    return {"rows": rows}


def add_args(p: argparse.ArgumentParser) -> None:
    """The options of `python -m export.experiments ceiling`."""
    p.add_argument("--sequence", default="mnist,fashion", help="the pretrained task, then the one learned")
    p.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[784, 256, 256, 10])
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--pretrain-meta", type=float, default=1.35)
    p.add_argument("--hscale", type=int, default=PRETRAIN_HSCALE, help="E of the pretraining's int8 grid (as `device`)")
    p.add_argument("--samples", type=int, default=10000, help="samples of task 2, seen once")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--bn", choices=["frozen", "adapt"], default="frozen")
    p.add_argument("--lr", type=lambda s: [float(v) for v in s.split(",")], default=[0.0003, 0.001, 0.005])
    p.add_argument("--test-subset", type=int, default=2000, help="first test samples per task (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(common.DEFAULT_OUT))
