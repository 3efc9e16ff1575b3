"""Continual learning in float PyTorch: the paper's experiments (Laborieux et al. 2021, Figs. 2-4).

A MetaBNN (export/model.py) learns tasks one after another with MetaAdam
(export/optim.py); after every epoch the test accuracy on every task is recorded.
As in the authors' code, the optimizer (Adam's moments) starts afresh for each
task, batch 100, lr 0.005, hidden weights U(-0.05, 0.05).

BatchNorm (`--bn`):

- ``task``: the paper's setting. BatchNorm always normalizes with the statistics
  of the batch it sees (the authors' ``track_running_stats=False``; tests run in
  batches of 1000), and its affine parameters are saved after each task and put
  back when that task is tested. Needs to know the task at test time.
- ``shared``: what a board has. One BatchNorm with running statistics, used at
  test time; no task identity anywhere.
- ``frozen``: like ``shared``, but BatchNorm (statistics and affine parameters)
  stops changing after the first task, as on the device, where it is folded
  into integer thresholds.

Sequences: ``pmnist`` (permuted MNIST; every task, the first included, has its
own seeded permutation), ``pdigits`` (the same on scikit-learn's digits: CI),
``mnist-fashion`` / ``fashion-mnist`` (the paper's Fig. 3), ``stream`` (the
paper's Stream-Fashion-MNIST, Fig. 4a: the training set cut in subsets learned
one after another, all tested on the one test set).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from export import data as datasets
from export.experiments import common
from export.experiments.ewc import EWC
from export.model import MetaBNN, authors_bn_init
from export.optim import MetaAdam


@dataclass
class Task:
    """One task: training and test data as torch tensors."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n is None or n >= len(x):
        return x, y
    idx = rng.permutation(len(x))[:n]
    return x[idx], y[idx]


def _task(ds: datasets.Dataset, train_subset: int | None, test_subset: int | None, seed: int) -> Task:
    rng = np.random.default_rng(seed)
    xtr, ytr = _subset(ds.x_train, ds.y_train, train_subset, rng)
    xte, yte = _subset(ds.x_test, ds.y_test, test_subset, rng)
    return Task(ds.name, torch.from_numpy(np.ascontiguousarray(xtr)), torch.from_numpy(ytr),
                torch.from_numpy(np.ascontiguousarray(xte)), torch.from_numpy(yte))


def make_tasks(sequence: str, n_tasks: int = 6, train_subset: int | None = None, test_subset: int | None = None,
               perm_seed: int = 0) -> list[Task]:
    """The tasks of a sequence: pmnist, pdigits, pfashion, mnist-fashion, fashion-mnist."""
    if sequence in ("pmnist", "pdigits", "pfashion"):
        base = datasets.load(sequence[1:])
        return [_task(datasets.permute(base, perm_seed * 1000 + k), train_subset, test_subset, k)
                for k in range(n_tasks)]
    if sequence in ("mnist-fashion", "fashion-mnist"):
        names = sequence.split("-")
        return [_task(datasets.load(n), train_subset, test_subset, k) for k, n in enumerate(names)]
    raise ValueError(f"unknown sequence {sequence!r}")


def stream_tasks(dataset: str = "fashion", n_subsets: int = 60, subset_size: int = 1000,
                 test_subset: int | None = None, seed: int = 0) -> tuple[list[Task], Task]:
    """Stream learning: the training set cut into n_subsets disjoint subsets; one shared test set."""
    ds = datasets.load(dataset)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds.x_train))
    if n_subsets * subset_size > len(order):
        raise ValueError(f"{n_subsets} x {subset_size} > {len(order)} training samples")
    xte, yte = _subset(ds.x_test, ds.y_test, test_subset, rng)
    test = Task(ds.name, torch.empty(0), torch.empty(0), torch.from_numpy(np.ascontiguousarray(xte)),
                torch.from_numpy(yte))
    tasks = []
    for k in range(n_subsets):
        idx = order[k * subset_size : (k + 1) * subset_size]
        tasks.append(Task(f"{ds.name}[{k}]", torch.from_numpy(ds.x_train[idx]), torch.from_numpy(ds.y_train[idx]),
                          test.x_test, test.y_test))
    return tasks, test


# ------------------------------------------------------------------ BatchNorm modes


def use_batch_statistics(model: MetaBNN) -> None:
    """The paper's BatchNorm: no running statistics, batch statistics in training and test."""
    for bn in model.bns:
        bn.track_running_stats = False
        bn.running_mean = None
        bn.running_var = None
        bn.num_batches_tracked = None


def bn_affine(model: MetaBNN) -> list[dict[str, torch.Tensor]]:
    """A copy of every BatchNorm's state (affine parameters, and statistics when kept)."""
    return [copy.deepcopy(bn.state_dict()) for bn in model.bns]


def load_bn(model: MetaBNN, states: list[dict[str, torch.Tensor]]) -> None:
    """Put back BatchNorm states saved by bn_affine."""
    for bn, st in zip(model.bns, states):
        bn.load_state_dict(st)


def freeze_bn(model: MetaBNN) -> None:
    """BatchNorm stops changing: eval mode (running statistics) and no gradient for its parameters."""
    for bn in model.bns:
        bn.eval()
        for p in bn.parameters():
            p.requires_grad_(False)


@torch.no_grad()
def accuracy(model: MetaBNN, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Test accuracy in % (eval mode; with the paper's BatchNorm, batch statistics of `batch` samples)."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    model.train(was)
    return 100.0 * correct / max(1, len(x))


def hidden_stats(model: MetaBNN) -> dict[str, float]:
    """Per layer: mean |Wh|, and the fraction of |Wh| above 1 (consolidated weights)."""
    out = {}
    for k, w in enumerate(model.hidden_weights()):
        a = w.detach().abs()
        out[f"meanabs_l{k + 1}"] = float(a.mean())
        out[f"above1_l{k + 1}"] = float((a > 1).float().mean())
    return out


# ---------------------------------------------------------------------- training


def train_sequence(
    tasks: Sequence[Task],
    sizes: Sequence[int],
    meta: float | Sequence[float] = 1.35,
    epochs: int = 40,
    lr: float = 0.005,
    batch: int = 100,
    bn: str = "task",
    ewc_lambda: float = 0.0,
    fisher_samples: int = 5000,
    interleaved: bool = False,
    eval_tasks: Sequence[Task] | None = None,
    eval_every_epoch: bool = True,
    seed: int = 0,
    model: MetaBNN | None = None,
    input_scale: float = 1.0 / 256.0,
    input_zero_point: int = -128,
    weight_decay: float = 0.0,
    ewc_anchor: str = "binary",
    bn_init: str = "ones",
) -> tuple[MetaBNN, list[dict[str, Any]]]:
    """Learn the tasks one after another; returns the model and one row per evaluation.

    A row: ``task`` (1-based, the task being learned), ``epoch``, ``train_loss``,
    ``acc_task1..N`` (test accuracy of each evaluated task), ``mean_acc`` and the
    hidden-weight statistics. `eval_tasks` defaults to `tasks`.
    `interleaved` learns all tasks at once (the upper bound), as one task.
    """
    if bn not in ("task", "shared", "frozen"):
        raise ValueError(f"bn must be task, shared or frozen, got {bn!r}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    eval_tasks = list(tasks if eval_tasks is None else eval_tasks)
    if model is None:
        model = MetaBNN(sizes, input_scale=input_scale, input_zero_point=input_zero_point)
        if bn_init == "uniform":
            authors_bn_init(model)
        elif bn_init != "ones":
            raise ValueError(f"bn_init must be ones or uniform, got {bn_init!r}")
    if bn == "task":
        use_batch_statistics(model)
    if interleaved:
        tasks = [Task("interleaved", torch.cat([t.x_train for t in tasks]), torch.cat([t.y_train for t in tasks]),
                      torch.empty(0), torch.empty(0))]
    ewc = EWC(ewc_lambda, fisher_samples, ewc_anchor) if ewc_lambda > 0 else None
    bn_states: list[list[dict[str, torch.Tensor]]] = []
    rows: list[dict[str, Any]] = []
    timer = common.Timer()

    def evaluate(task_idx: int, epoch: int, train_loss: float) -> None:
        current = bn_affine(model) if bn == "task" else None
        row: dict[str, Any] = {"task": task_idx + 1, "epoch": epoch, "train_loss": train_loss}
        accs = []
        for j, t in enumerate(eval_tasks):
            if bn == "task" and not interleaved and j < task_idx and j < len(bn_states):
                load_bn(model, bn_states[j])
            accs.append(accuracy(model, t.x_test, t.y_test))
            if current is not None:
                load_bn(model, current)
            row[f"acc_task{j + 1}"] = accs[-1]
        row["mean_acc"] = float(np.mean(accs))
        row.update(hidden_stats(model))
        row["seconds"] = timer()
        rows.append(row)
        common.log(f"task {task_idx + 1} epoch {epoch}: loss {train_loss:.4f}  acc "
                   + " ".join(f"{a:.1f}" for a in accs) + f"  mean {row['mean_acc']:.2f}  ({row['seconds']:.0f} s)")

    for ti, task in enumerate(tasks):
        if bn == "frozen" and ti >= 1:
            freeze_bn(model)
        params = [p for p in model.parameters() if p.requires_grad]
        metas = meta if isinstance(meta, (int, float)) else list(meta)
        opt = MetaAdam(params, lr=lr, meta=metas, weight_decay=weight_decay)
        for epoch in range(1, epochs + 1):
            model.train()
            if bn == "frozen" and ti >= 1:
                for m in model.bns:
                    m.eval()
            order = torch.randperm(len(task.x_train), generator=gen)
            total, count = 0.0, 0
            for i in range(0, len(order), batch):
                idx = order[i : i + batch]
                if len(idx) < 2:
                    continue
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(task.x_train[idx]), task.y_train[idx])
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                if ewc is not None:
                    loss = loss + ewc.penalty(model)
                loss.backward()
                opt.step()
            if eval_every_epoch or epoch == epochs:
                evaluate(ti, epoch, total / max(1, count))
        if bn == "task":
            bn_states.append(bn_affine(model))
        if ewc is not None and ti < len(tasks) - 1:
            ewc.consolidate(model, task.x_train, task.y_train, gen)
    return model, rows


# --------------------------------------------------------------------- commands


def _floats(text: str) -> float | list[float]:
    vals = [float(v) for v in text.split(",")]
    return vals[0] if len(vals) == 1 else vals


def _name(args: argparse.Namespace, base: str) -> str:
    if args.name:
        return args.name
    meta = args.meta if isinstance(args.meta, float) else "-".join(str(m) for m in args.meta)
    parts = [base, f"w{args.width}", f"m{meta}", f"e{args.epochs}", f"bn-{args.bn}"]
    if getattr(args, "ewc", 0):
        parts.append(f"ewc{args.ewc:g}")
    if getattr(args, "interleaved", False):
        parts.append("interleaved")
    if args.train_subset:
        parts.append(f"n{args.train_subset}")
    if args.bn_init != "ones":  # the authors' gamma ~ U(0, 1): its own files, not the default run's
        parts.append(f"init-{args.bn_init}")
    parts.append(f"s{args.seed}")
    return "_".join(parts)


#: The authors' `--decay` in the commands of their README for Figs. 2, 3 and 4a
#: (Laborieux-Axel/SynapticMetaplasticityBNN; 1e-8 for their 10-task and CIFAR runs).
AUTHORS_WEIGHT_DECAY = 1e-7


def add_common(p: argparse.ArgumentParser, epochs: int, meta: float, width: int, bn: str = "task") -> None:
    """Options shared by the float continual-learning commands (defaults: the paper's)."""
    p.add_argument("--width", type=int, default=width, help=f"hidden layer width (default {width})")
    p.add_argument("--layers", type=int, default=2, help="hidden layers (default 2)")
    p.add_argument("--meta", type=_floats, default=meta, help=f"metaplasticity m (default {meta}); one or one per layer")
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs per task (default {epochs})")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--bn-init", choices=["ones", "uniform"], default="ones",
                   help="BatchNorm gamma at the start: ones (PyTorch >= 1.2) or uniform U(0, 1) (the authors' "
                        "PyTorch 1.1)")
    p.add_argument("--weight-decay", type=float, default=AUTHORS_WEIGHT_DECAY,
                   help=f"L2 weight decay inside MetaAdam (default {AUTHORS_WEIGHT_DECAY:g}, the authors' --decay "
                        "for these experiments; 1e-8 in their 10-task runs)")
    p.add_argument("--bn", choices=["task", "shared", "frozen"], default=bn,
                   help="BatchNorm: task (paper: saved per task), shared (one, running stats), frozen after task 1")
    p.add_argument("--train-subset", type=int, default=None, help="samples per task for training (default all)")
    p.add_argument("--test-subset", type=int, default=None, help="test samples per task (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=str(common.DEFAULT_OUT), help="output folder (default build/results)")
    p.add_argument("--name", default=None, help="file name stem of the outputs")


def _finish(args: argparse.Namespace, name: str, rows: list[dict[str, Any]], title: str, extra: dict | None = None,
            argv: Sequence[str] | None = None) -> dict[str, Any]:
    csv_path = common.out_path(args.out, name, "csv")
    common.write_csv(csv_path, rows)
    common.plot_continual([csv_path], [title], common.out_path(args.out, name, "png"))
    final = rows[-1]
    summary = {
        "name": name,
        "command": common.command_line(argv),
        "final": {k: v for k, v in final.items() if k.startswith("acc_task") or k == "mean_acc"},
        "seconds": final["seconds"],
        "settings": {k: v for k, v in vars(args).items() if k not in ("func",)},
    }
    if extra:
        summary.update(extra)
    common.write_json(common.out_path(args.out, name, "json"), summary)
    common.log(f"{name}: final " + " ".join(f"{v:.1f}" for k, v in summary["final"].items() if k != "mean_acc")
               + f"  mean {summary['final']['mean_acc']:.2f}  -> {csv_path}")
    return summary


def cmd_permuted(args: argparse.Namespace, argv: Sequence[str] | None = None, sequence: str = "pmnist") -> dict[str, Any]:
    """pmnist / pdigits: N permuted tasks."""
    common.set_threads(args.threads)
    tasks = make_tasks(sequence, args.tasks, args.train_subset, args.test_subset, args.perm_seed)
    base = datasets.load(sequence[1:]) if sequence != "pmnist" else None
    scale = base.input_scale if base is not None else 1.0 / 256.0
    zp = base.input_zero_point if base is not None else -128
    n_in = tasks[0].x_train.shape[1]
    sizes = [n_in] + [args.width] * args.layers + [10]
    _, rows = train_sequence(tasks, sizes, args.meta, args.epochs, args.lr, args.batch, args.bn, args.ewc,
                             args.fisher_samples, args.interleaved, seed=args.seed,
                             input_scale=scale, input_zero_point=zp, weight_decay=args.weight_decay,
                             ewc_anchor=args.ewc_anchor, bn_init=args.bn_init)
    name = _name(args, f"{sequence}{args.tasks}")
    title = f"{sequence} {args.tasks} tasks, {n_in}-{args.width}x{args.layers}-10, m={args.meta}, BN {args.bn}"
    if args.ewc:
        title += f", EWC {args.ewc:g}"
    if args.interleaved:
        title += ", interleaved"
    return _finish(args, name, rows, title, argv=argv)


def cmd_sequence(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """mnist-fashion / fashion-mnist (the paper's Fig. 3)."""
    common.set_threads(args.threads)
    tasks = make_tasks(args.order, 2, args.train_subset, args.test_subset)
    sizes = [784] + [args.width] * args.layers + [10]
    _, rows = train_sequence(tasks, sizes, args.meta, args.epochs, args.lr, args.batch, args.bn, seed=args.seed,
                             weight_decay=args.weight_decay, bn_init=args.bn_init)
    name = _name(args, args.order)
    return _finish(args, name, rows, f"{args.order}, 784-{args.width}x{args.layers}-10, m={args.meta}, BN {args.bn}",
                   argv=argv)


def cmd_stream(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Stream-Fashion-MNIST (the paper's Fig. 4a): subsets learned one after another."""
    common.set_threads(args.threads)
    tasks, test = stream_tasks(args.dataset, args.subsets, args.subset_size, args.test_subset, args.seed)
    sizes = [784] + [args.width] * args.layers + [10]
    if args.full:
        # the reference: the same samples, all at once, for subsets x epochs / subsets epochs
        full = Task("full", torch.cat([t.x_train for t in tasks]), torch.cat([t.y_train for t in tasks]),
                    test.x_test, test.y_test)
        _, rows = train_sequence([full], sizes, args.meta, args.epochs, args.lr, args.batch, args.bn,
                                 eval_tasks=[test], seed=args.seed, weight_decay=args.weight_decay,
                                 bn_init=args.bn_init)
        init = "" if args.bn_init == "ones" else f"_init-{args.bn_init}"
        name = args.name or f"stream-{args.dataset}_full_w{args.width}_m{args.meta}_e{args.epochs}{init}_s{args.seed}"
    else:
        _, rows = train_sequence(tasks, sizes, args.meta, args.epochs, args.lr, args.batch, args.bn,
                                 eval_tasks=[test], eval_every_epoch=False, seed=args.seed,
                                 weight_decay=args.weight_decay, bn_init=args.bn_init)
        init = "" if args.bn_init == "ones" else f"_init-{args.bn_init}"
        name = args.name or (f"stream-{args.dataset}_{args.subsets}x{args.subset_size}_w{args.width}_m{args.meta}"
                             f"_e{args.epochs}_bn-{args.bn}{init}_s{args.seed}")
    for r in rows:
        r["subset"] = r["task"]
        r["task"] = 1  # one test set: plot a single curve without task separators
    return _finish(args, name, rows, f"stream {args.dataset} {args.subsets}x{args.subset_size}, m={args.meta}"
                   + (" (full data)" if args.full else ""), argv=argv)
