"""Continual learning on the device: the int8, one-sample-at-a-time rule of docs/ARITHMETIC.md.

The runtime itself learns (the C runtime through `pyruntime.Model`, bit-exact
with the boards, or the numpy reference with ``--runtime reference``): int8
hidden weights, one sample at a time, BatchNorm folded into frozen thresholds,
no task identity anywhere, each sample seen `--passes` times.

1. A MetaBNN is trained in float on the first task (MetaAdam on the int8 grid of
   scale 2^-E, so the export is lossless: `export.train.train`), or, with
   ``--pretrain-epochs 0``, left at its random initialization with BatchNorm
   statistics measured on task-1 data (learning from scratch on the device).
2. `export.fold.fold` turns it into a blob; the device's constants are then set on
   the BlobSpec: the learning rate (`--device-lr`, weight units per unit of
   normalized error, times `--lr-mult` per layer), the metaplastic table
   `meta_table(m, E)` (`--meta`; default export's, `export.fold.device_meta` of the
   pretraining m and the median hidden weight), the hidden-weight scale E (`--hscale`), the
   error's running-mean-square shift (`--rms-shift`).
3. The runtime learns the remaining tasks (or all, from scratch) from a stream
   of `--samples` samples per task. Every `--eval-every` samples the test accuracy
   of every task is measured with the runtime's own inference, and, per layer,
   the fraction of saturated hidden weights (|h + 0.5| > 127, i.e. h = 127 or
   -128) and the fraction of binary weights that flipped since the last
   measurement.

With ``--stream-pretrain K`` the "tasks" are instead one data set cut in two:
the first K training samples (pretraining in float) and the rest, which the
device learns from as a stream (Stream-Fashion-MNIST on the device). Both are
tested on the data set's one test set. ``--samples 0`` with K = all gives the
offline reference: the same network trained on everything, exported.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export import data as datasets
from export.checkpoint import importance_of, load_model, save_checkpoint
from export.experiments import common
from export.experiments.metrics import accuracy_matrix, cl_metrics, over_seeds, pm
from export.experiments.tasks import parse_sequence
from export.fold import (DEFAULT_BIT_LR_MULT, DEFAULT_CONSOLIDATE, DEFAULT_DEVICE_LR, DEFAULT_META_FLOOR, fold)
from export.importance import DEFAULT_TOP, fisher_importance
from export.model import MetaBNN
from export.rehearsal import DEFAULT_MEMORY, DEFAULT_REHEARSAL, count_error, rehearsal_indices
from pyruntime.format import BlobSpec, read_blob, read_spec_state, write_blob


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def stream_split(base: str, first: int, seed: int = 0) -> list[datasets.Dataset]:
    """Stream learning on the device: [the first `first` training samples (pretraining), the rest (the stream)].

    Both share the dataset's test set, so acc_task1 and acc_task2 measure the same thing (on
    different test subsets when --test-subset is used).
    """
    ds = datasets.load(base)
    order = np.random.default_rng(seed).permutation(len(ds.x_train))
    a, b = order[:first], order[first:]
    return [dataclasses.replace(ds, name=f"{ds.name}[:{first}]", x_train=ds.x_train[a], y_train=ds.y_train[a]),
            dataclasses.replace(ds, name=f"{ds.name}[{first}:]", x_train=ds.x_train[b], y_train=ds.y_train[b])]


def permuted_tasks(base: str, n_tasks: int, perm_seed: int = 0) -> list[datasets.Dataset]:
    """The permuted tasks of the float experiments (same permutations: seed perm_seed*1000 + k)."""
    ds = datasets.load(base)
    return [datasets.permute(ds, perm_seed * 1000 + k) for k in range(n_tasks)]


@torch.no_grad()
def calibrate_bn(model: MetaBNN, x: np.ndarray, batch: int = 500) -> None:
    """Set BatchNorm running statistics to the exact statistics of x (a cumulative average)."""
    for bn in model.bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    xt = torch.from_numpy(x)
    for i in range(0, len(xt), batch):
        model(xt[i : i + batch])
    for bn in model.bns:
        bn.momentum = 0.1
    model.eval()


#: What else defines the pretraining (export.train.train's defaults used here), part of the cache key;
#: it runs on one thread (common.one_thread) so that a seed gives the same model whatever the core count.
TRAIN_DEFAULTS = {"batch": 100, "weight_decay": 0.0, "optimizer": "MetaAdam", "threads": 1}
#: Grid of the pretraining's hidden weights (2^-5: |Wh| <= 4); the blob takes export's rule unless --hscale.
PRETRAIN_HSCALE = 5


def data_fingerprint(task: datasets.Dataset) -> str:
    """A hash of a task's data (training and test features and labels, input quantization)."""
    h = hashlib.sha1()
    for a in (task.x_train, task.y_train, task.x_test, task.y_test):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(f"{task.input_scale!r} {task.input_zero_point}".encode())
    return h.hexdigest()[:16]


def pretrain_key(task: datasets.Dataset, sizes: Sequence[int] | str, epochs: int, meta: float, hscale: int,
                 seed: int, train_subset: int | None, lr: float, schedule: str = "constant") -> str:
    """The cache key of a pretrained model: everything that defines its data and its training."""
    net = sizes if isinstance(sizes, str) else list(sizes)
    parts = [task.name, data_fingerprint(task), net, epochs, meta, hscale, seed, train_subset, lr, TRAIN_DEFAULTS]
    key = json.dumps(parts + ([schedule] if schedule != "constant" else []))
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def pretrain(task: datasets.Dataset, sizes: Sequence[int] | str, epochs: int, meta: float, hscale: int, seed: int,
             cache_dir: Path | None, train_subset: int | None = None, lr: float = 0.005,
             log=common.log, schedule: str = "constant") -> tuple[MetaBNN, dict[str, Any], list[np.ndarray]]:
    """A MetaBNN trained on the first task on the int8 grid (cached by its settings when cache_dir is given),
    its settings and the importance of its hidden weights (export/importance.py, as `python -m export.train`
    stores it); `sizes`: dense widths or an `--arch` string (export/arch.py)."""
    path = cache_dir / f"pretrained_{pretrain_key(task, sizes, epochs, meta, hscale, seed, train_subset, lr, schedule)}.pt" \
        if cache_dir else None
    if path is not None and path.is_file():
        model, ckpt = load_model(path)
        importance = importance_of(ckpt, model, str(path))
        if importance is None:  # cached before importance existed
            with common.one_thread():
                importance = fisher_importance(model, task.x_train, task.y_train, seed=seed)
            save_checkpoint(path, model, ckpt["settings"], ckpt.get("history"), importance)
        return model, ckpt["settings"], importance
    with common.one_thread():
        model, settings, history = _train_first_task(task, sizes, epochs, meta, hscale, seed, train_subset, lr,
                                                     log, schedule)
        importance = fisher_importance(model, task.x_train, task.y_train, seed=seed)
    if path is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, model, settings, history, importance)
    return model, settings, importance


def pretrain_indices(count: int, train_subset: int | None, seed: int) -> np.ndarray:
    """The training samples pretraining uses: all `count`, or `train_subset` random ones."""
    return np.random.default_rng(seed).permutation(count)[:train_subset] if train_subset else np.arange(count)


def _train_first_task(task: datasets.Dataset, sizes: Sequence[int] | str, epochs: int, meta: float, hscale: int,
                      seed: int, train_subset: int | None, lr: float, log,
                      schedule: str) -> tuple[MetaBNN, dict[str, Any], list]:
    """pretrain's float training (epochs 0: a model at initialization with calibrated BatchNorm)."""
    if epochs > 0:
        from export.train import train

        ds = task
        if train_subset:
            idx = pretrain_indices(len(task.x_train), train_subset, seed)
            ds = dataclasses.replace(task, x_train=task.x_train[idx], y_train=task.y_train[idx])
        return train(ds, sizes, epochs=epochs, lr=lr, meta=meta, int8_grid=[hscale], seed=seed,
                     batch=TRAIN_DEFAULTS["batch"], weight_decay=TRAIN_DEFAULTS["weight_decay"],
                     progress=False, log=log, lr_schedule=schedule)
    from export.grid import GridConstraint
    from export.train import build_model

    torch.manual_seed(seed)
    model = build_model(task, sizes)
    GridConstraint(model, [hscale] * model.n_layers)
    calibrate_bn(model, task.x_train[:5000])
    return model, {"meta": meta, "int8_grid": [hscale] * model.n_layers, "epochs": 0}, []


def make_blob(model: MetaBNN, settings: dict, hscale: int | None, device_lr: float, lr_mult: Sequence[float] | None,
              meta: Sequence[float] | None, rms_shift: int, seed: int, learn: str = "all",
              meta_floor: float = DEFAULT_META_FLOOR,
              consolidate: float | Sequence[float] = DEFAULT_CONSOLIDATE, log=None,
              importance: Sequence[np.ndarray] | None = None, consolidate_top: float = DEFAULT_TOP,
              rehearsal: tuple[np.ndarray, np.ndarray] | None = None, memory: int = 0) -> bytes:
    """Fold with the device's learning constants (lr_mult, meta None: fold's defaults; importance
    None: uniform consolidation), the rehearsal set (int8 inputs, labels; None: none) and its memory slots as
    `python -m export` does; `log` (optional) receives a line with the device m the fold chose per layer."""
    spec, info = fold(model, settings, learn=learn, hscale_log2=hscale, device_lr=device_lr,
                       rms_shift=rms_shift, seed=seed, lr_mult=lr_mult, meta=meta,
                       meta_floor=meta_floor, consolidate=consolidate, importance=importance,
                       consolidate_top=consolidate_top, rehearsal=rehearsal, memory=memory)
    if log is not None:
        log("device m per layer: " + ", ".join(f"{m:.3g}" for m in info.meta))
    return write_blob(spec)


def load_runtime(blob: bytes, runtime: str):
    """pyruntime.Model (the C runtime) or pyruntime.reference.Model."""
    if runtime == "c":
        from pyruntime import Model

        return Model.load(blob, learn=True)
    from pyruntime import reference

    return reference.Model.load(blob)


def blob_spec(rt) -> BlobSpec:
    """The blob of a runtime model (C or reference), parsed."""
    return rt.spec if hasattr(rt, "spec") else read_blob(rt.blob)


def hidden_of(rt, spec: BlobSpec) -> list[np.ndarray]:
    """The int8 hidden weights of every learning layer, from the runtime's saved state."""
    return [h for h, _ in read_spec_state(rt.state(), spec).layers]


def run_device(
    tasks: Sequence[datasets.Dataset],
    sizes: Sequence[int] | str,
    pretrain_epochs: int = 5,
    pretrain_meta: float = 1.35,
    hscale: int | None = None,
    device_lr: float = DEFAULT_DEVICE_LR,
    lr_mult: Sequence[float] | None = None,
    meta: Sequence[float] | None = None,
    rms_shift: int = 7,
    samples: int = 10000,
    passes: int = 1,
    eval_every: int = 2500,
    test_subset: int | None = 2000,
    runtime: str = "c",
    seed: int = 0,
    cache_dir: Path = common.DEFAULT_OUT / "cache",
    pretrain_subset: int | None = None,
    pretrain_lr: float = 0.005,
    log: bool = True,
    meta_floor: float = DEFAULT_META_FLOOR,
    consolidate: float | Sequence[float] = DEFAULT_CONSOLIDATE,
    device_seed: int | None = None,
    learn: str | None = None,
    pretrain_schedule: str = "constant",
    consolidate_top: float = DEFAULT_TOP,
    rehearsal: int = DEFAULT_REHEARSAL,
    memory: int = DEFAULT_MEMORY,
) -> list[dict[str, Any]]:
    """Pretrain on task 1 (float), then the runtime learns the rest one sample at a time; rows of measurements.
    `sizes`: dense widths or an `--arch` string; `learn`: the layers that learn (export's --learn;
    default all, for a network with convolutions its dense layers). `hscale` None: pretraining on the
    grid of PRETRAIN_HSCALE, export's rule for the blob (export.fold.DEFAULT_LEARN_HSCALE); an E: both.
    `rehearsal`: samples of the pretraining data the blob carries, as `python -m export` puts them in
    (0, or no pretraining: none), and `memory` the slots of stream samples kept with it."""
    timer = common.Timer()
    grid = PRETRAIN_HSCALE if hscale is None else hscale
    model, settings, importance = pretrain(tasks[0], sizes, pretrain_epochs, pretrain_meta, grid, seed, cache_dir,
                               pretrain_subset, pretrain_lr, log=common.log if log else (lambda m: None),
                               schedule=pretrain_schedule)
    device_seed = seed if device_seed is None else device_seed
    learn = learn or ("dense" if model.is_conv else "all")
    first = 1 if pretrain_epochs > 0 else 0
    held = None  # the blob's rehearsal set: training samples of the pretrained task, drawn as export.train does
    if first and rehearsal:
        pool = pretrain_indices(len(tasks[0].x_train), pretrain_subset, seed)
        idx = pool[rehearsal_indices(len(pool), rehearsal, seed)]
        held = (tasks[0].quantize(tasks[0].x_train[idx]).reshape(len(idx), -1), tasks[0].y_train[idx])
    blob = make_blob(model, settings, hscale, device_lr, lr_mult, meta, rms_shift, device_seed + 1, learn=learn,
                     meta_floor=meta_floor, consolidate=consolidate, log=common.log if log else None,
                     importance=importance, consolidate_top=consolidate_top, rehearsal=held, memory=memory)
    rt = load_runtime(blob, runtime)
    rng = np.random.default_rng(device_seed)
    tests = test_sets(tasks, test_subset, rng)
    return learn_stream(rt, tasks[first:], eval_every, tests=tests, samples=samples, passes=passes, rng=rng,
                        first_task=first, log=log, timer=timer)


def test_sets(tasks: Sequence[datasets.Dataset], test_subset: int | None,
              rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(int8 inputs, labels) of every task's test set, or of `test_subset` random test samples of it."""
    tests = []
    for t in tasks:
        idx = rng.permutation(len(t.x_test))[:test_subset] if test_subset else np.arange(len(t.x_test))
        tests.append((t.quantize(t.x_test[idx]), t.y_test[idx]))
    return tests


def evaluate(rt, tests: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Test accuracy (%) of a runtime model on each (int8 inputs, labels) test set."""
    return [100.0 * float(np.mean(rt.predict(xq) == y)) for xq, y in tests]


def learn_stream(
    rt,
    tasks: Sequence[datasets.Dataset],
    eval_every: int,
    tests: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    samples: int | None = None,
    passes: int = 1,
    rng: np.random.Generator | None = None,
    first_task: int = 0,
    log: bool = False,
    timer: common.Timer | None = None,
) -> list[dict[str, Any]]:
    """The runtime `rt` learns `tasks` one after another, one sample at a time; rows of measurements.

    Each task streams `samples` random training samples (all when None), `passes` times,
    in the order of `rng`. Every `eval_every` samples, and once before the first, a row
    holds the accuracy on every test set of `tests` (default: every task's whole test
    set; tasks learned before, e.g. in float, may be among them: `first_task` is the
    index of `tasks[0]` in `tests`), the accuracy on the stream just learned (made
    before each update), and per learning layer the fraction of saturated hidden
    weights, of binary weights flipped since the previous row, and the mean |h + 0.5|.
    """
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    rng = rng if rng is not None else np.random.default_rng(0)
    tests = list(tests) if tests is not None else test_sets(tasks, None, rng)
    timer = timer or common.Timer()
    spec = blob_spec(rt)
    n_w = [layer.n_out * layer.n_in for layer in spec.layers if layer.learns]
    prev = hidden_of(rt, spec)
    rows: list[dict[str, Any]] = []
    total = sum(min(samples or len(t.x_train), len(t.x_train)) * passes for t in tasks)
    done = 0

    def measure(task_idx: int, seen: int, recent: float | None) -> None:
        nonlocal prev
        # step: samples learned on the device so far; learning_steps: the runtime's counter (two per
        # sample with a rehearsal set)
        row: dict[str, Any] = {"task": task_idx + 1, "samples": seen, "step": done, "learning_steps": int(rt.step)}
        accs = evaluate(rt, tests)
        for j, a in enumerate(accs):
            row[f"acc_task{j + 1}"] = a
        row["mean_acc"] = float(np.mean(accs))
        row["mean_acc_seen"] = float(np.mean(accs[: task_idx + 1]))
        row["stream_acc"] = recent if recent is not None else float("nan")
        hid = hidden_of(rt, spec)
        for k, (h, p) in enumerate(zip(hid, prev)):
            row[f"sat_l{k + 1}"] = float(np.mean((h == 127) | (h == -128)))
            row[f"flips_l{k + 1}"] = float(np.sum((h < 0) != (p < 0))) / n_w[k]
            row[f"meanabs_l{k + 1}"] = float(np.mean(np.abs(h.astype(np.float64) + 0.5)))
        prev = hid
        row["seconds"] = timer()
        rows.append(row)
        if log:
            eta = row["seconds"] / done * (total - done) if done else float("nan")
            common.log(f"task {task_idx + 1} +{seen}: acc " + " ".join(f"{a:.1f}" for a in accs)
                       + f"  mean {row['mean_acc']:.2f}  stream {row['stream_acc']:.1f}  sat "
                       + "/".join(f"{row[f'sat_l{k + 1}']:.2f}" for k in range(len(hid)))
                       + "  flips " + "/".join(f"{row[f'flips_l{k + 1}']:.4f}" for k in range(len(hid)))
                       + f"  ({row['seconds']:.0f} s, ETA {eta:.0f} s)")

    measure(max(first_task - 1, 0), 0, None)  # after the tasks learned before (or before task 1)
    for k, t in enumerate(tasks):
        ti = first_task + k
        n = min(samples or len(t.x_train), len(t.x_train))
        order = np.concatenate([rng.permutation(len(t.x_train))[:n] for _ in range(passes)])
        xq_all = t.quantize(t.x_train[order])
        y_all = t.y_train[order]
        for start in range(0, len(order), eval_every):
            xq, y = xq_all[start : start + eval_every], y_all[start : start + eval_every]
            pred = rt.learn(xq, y)
            done += len(xq)
            measure(ti, start + len(xq), 100.0 * float(np.mean(pred == y)))
    return rows


def plot_device(csv_path: Path, png: Path, title: str) -> None:
    """Three panels against samples learned on the device: accuracy of every task, saturation, flips per layer."""
    plt = common._mpl()
    rows = common.read_csv(csv_path)
    cols = common.task_columns(rows)
    x = np.array([int(r["step"]) for r in rows])
    tasks = [int(r["task"]) for r in rows]
    layers = sorted({int(c.split("_l")[1]) for c in rows[0] if c.startswith("sat_l")})
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for t, c in enumerate(cols):
        axes[0].plot(x, [float(r[c]) for r in rows], color=common.TASK_COLOURS[t % 10], lw=1.5, label=f"task {t + 1}")
    for k in layers:
        axes[1].plot(x, [float(r[f"sat_l{k}"]) for r in rows], lw=1.5, label=f"layer {k}")
        axes[2].plot(x[1:], [float(r[f"flips_l{k}"]) for r in rows[1:]], lw=1.5, label=f"layer {k}")
    for ax in axes:
        for i in range(1, len(tasks)):
            if tasks[i] != tasks[i - 1]:
                ax.axvline(x[i - 1], color="k", ls=":", lw=0.8)
        ax.set_xlabel("samples learned on the device")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 100)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=6, ncol=2, loc="lower left")
    axes[0].set_title("test accuracy of every task", fontsize=9)
    axes[1].set_ylabel("saturated hidden weights (fraction)")
    axes[1].set_title("hidden weights at the int8 limit", fontsize=9)
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=7)
    axes[2].set_ylabel("binary weights flipped since last point")
    axes[2].set_title("flips between measurements", fontsize=9)
    axes[2].set_yscale("symlog", linthresh=1e-4)
    axes[2].set_ylim(bottom=0)
    axes[2].legend(fontsize=7)
    fig.suptitle(common.wrap(title, 150), fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the device command."""
    p.add_argument("--sequence", default=None,
                   help="tasks from data sets and transforms, e.g. mnist,fashion or mnist,mnist:rot=30 "
                        "(export/experiments/tasks.py); default: --tasks permutations of --dataset")
    p.add_argument("--dataset", default="mnist", help="base of the permuted tasks: mnist, fashion, digits")
    p.add_argument("--tasks", type=int, default=6)
    p.add_argument("--sizes", type=_ints, default=[784, 256, 256, 10])
    p.add_argument("--arch", default=None,
                   help="a network with convolutions instead of --sizes (python -m export.train --arch syntax)")
    p.add_argument("--learn", default=None,
                   help="layers that learn on the device (python -m export --learn; default all, for --arch its "
                        "dense layers: convolutions frozen)")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="float epochs on task 1 (0: learn from scratch)")
    p.add_argument("--pretrain-meta", type=float, default=1.35)
    p.add_argument("--pretrain-subset", type=int, default=None)
    p.add_argument("--pretrain-lr", type=float, default=0.005)
    p.add_argument("--pretrain-schedule", choices=["constant", "cosine"], default=None,
                   help="learning-rate schedule of the float pretraining (python -m export.train --lr-schedule; "
                        "default as there: cosine for --arch, constant for --sizes)")
    p.add_argument("--hscale", type=int, default=None,
                   help="E: a hidden weight h stands for (h + 0.5) 2^-E, in the pretraining's grid and the blob "
                        f"(default: pretraining on the grid of E = {PRETRAIN_HSCALE}, export's rule for the blob: "
                        "E = 7 for dense layers that learn)")
    p.add_argument("--device-lr", type=float, default=DEFAULT_DEVICE_LR,
                   help="weight units per unit of normalized error")
    p.add_argument("--lr-mult", type=_floats, default=None,
                   help=f"per-layer multipliers of the device lr (default: export's rule, 1 for an int8 "
                        f"layer 0, {DEFAULT_BIT_LR_MULT:g} for bit-input layers)")
    p.add_argument("--meta", type=_floats, default=None,
                   help="m of the device's table, one or per layer (default: export's, export.fold.device_meta)")
    p.add_argument("--meta-floor", type=float, default=DEFAULT_META_FLOOR,
                   help="least fraction of an inward step the metaplastic table lets through")
    p.add_argument("--consolidate", type=_floats, default=[DEFAULT_CONSOLIDATE],
                   help="scale the pretrained int8 hidden weights away from zero by this factor at export "
                        "(one or per layer), the full factor for the most important weights (--consolidate-top)")
    p.add_argument("--consolidate-top", type=float, default=DEFAULT_TOP,
                   help="fraction of each layer's hidden weights, the ones the pretrained task needs most "
                        "(export/importance.py), consolidated by the full factor; the others less (1: all alike)")
    p.add_argument("--rms-shift", type=int, default=7)
    p.add_argument("--samples", type=int, default=10000, help="training samples per task streamed to the device")
    p.add_argument("--passes", type=int, default=1, help="times each sample is seen")
    p.add_argument("--eval-every", type=int, default=2500)
    p.add_argument("--test-subset", type=int, default=2000, help="test samples per task (0: all)")
    p.add_argument("--stream-pretrain", type=int, default=None, metavar="K",
                   help="stream learning instead of permuted tasks: pretrain on K samples of --dataset, "
                        "then the device learns from the rest (task 2 = the stream; same test set)")
    p.add_argument("--rehearsal", type=int, default=DEFAULT_REHEARSAL, metavar="N",
                   help=f"samples of the pretrained first task the blob carries, relearned one after each new "
                        f"sample, as python -m export does (default {DEFAULT_REHEARSAL}; 0: none; none either "
                        f"without pretraining)")
    p.add_argument("--memory", type=int, default=DEFAULT_MEMORY, metavar="N",
                   help=f"slots of RAM that keep samples of the stream (reservoir sampling), rehearsed with the "
                        f"set, as python -m export puts them in the blob (default {DEFAULT_MEMORY}; 0: none)")
    p.add_argument("--runtime", choices=["c", "reference"], default="c")
    p.add_argument("--perm-seed", type=int, default=0)
    p.add_argument("--seed", type=_ints, default=[0], help="pretraining seed(s), e.g. 0,1,2: one run each")
    p.add_argument("--device-seed", type=int, default=None,
                   help="seed of the stream order, test subsets and device random numbers (default: --seed)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(common.DEFAULT_OUT))
    p.add_argument("--name", default=None)


def build_tasks(args: argparse.Namespace, seed: int) -> list[datasets.Dataset]:
    """The task sequence the options describe."""
    if args.sequence:
        return parse_sequence(args.sequence)
    if args.stream_pretrain:
        return stream_split(args.dataset, args.stream_pretrain, seed)
    return permuted_tasks(args.dataset, args.tasks, args.perm_seed)


def run_name(args: argparse.Namespace) -> str:
    """The file name of a run (without seed) from its options."""
    if args.name:
        return args.name
    meta = "-".join(f"{m:g}" for m in args.meta) if args.meta else "default"  # export's: export.fold.device_meta
    lrm = "-".join(f"{m:g}" for m in args.lr_mult) if args.lr_mult else "rule"
    if args.sequence:
        seq = "".join(c if c.isalnum() else "-" for c in args.sequence)[:60]
    elif args.stream_pretrain:
        seq = f"stream{args.dataset}{args.stream_pretrain}"
    else:
        seq = f"p{args.dataset}{args.tasks}"
    extra = (f"_floor{args.meta_floor:g}" if args.meta_floor != DEFAULT_META_FLOOR else "") + \
            (f"_c{'-'.join(f'{c:g}' for c in args.consolidate)}" if args.consolidate != [DEFAULT_CONSOLIDATE] else "") + \
            (f"_top{args.consolidate_top:g}" if args.consolidate_top != DEFAULT_TOP else "")
    net = "".join(c if c.isalnum() else "-" for c in args.arch) if args.arch else '-'.join(map(str, args.sizes))
    extra += f"_learn{args.learn.replace(',', '-')}" if args.learn else ""
    extra += f"_rh{args.rehearsal}" if args.rehearsal != DEFAULT_REHEARSAL else ""
    extra += f"_mem{args.memory}" if args.memory != DEFAULT_MEMORY else ""
    return (f"device_{seq}_{net}_m{meta}_lr{args.device_lr:g}x{lrm}{extra}"
            f"{'' if args.hscale is None else f'_E{args.hscale}'}_n{args.samples}x{args.passes}_pre{args.pretrain_epochs}"
            f"{'cos' if args.pretrain_schedule == 'cosine' else ''}")


def cmd_device(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the device experiment for every seed; write CSV and PNG per seed, metrics JSON and CSV."""
    common.set_threads(args.threads)
    if args.pretrain_schedule is None:
        args.pretrain_schedule = "cosine" if args.arch else "constant"
    for option, n in (("--rehearsal", args.rehearsal), ("--memory", args.memory)):
        if count_error(option, n):
            raise ValueError(count_error(option, n))
    if not 0.0 < args.consolidate_top <= 1.0:
        raise ValueError(f"--consolidate-top must be in (0, 1], got {args.consolidate_top}")
    name = run_name(args)
    per_seed, finals = [], []
    for seed in args.seed:
        tasks = build_tasks(args, seed)
        rows = run_device(tasks, args.arch or args.sizes, args.pretrain_epochs, args.pretrain_meta, args.hscale, args.device_lr,
                          args.lr_mult, args.meta, args.rms_shift, args.samples, args.passes, args.eval_every,
                          args.test_subset or None, args.runtime, seed, Path(args.out) / "cache",
                          args.pretrain_subset, args.pretrain_lr, meta_floor=args.meta_floor,
                          consolidate=args.consolidate, device_seed=args.device_seed, learn=args.learn,
                          pretrain_schedule=args.pretrain_schedule, consolidate_top=args.consolidate_top,
                          rehearsal=args.rehearsal, memory=args.memory)
        csv_path = common.out_path(args.out, f"{name}_s{seed}", "csv")
        common.write_csv(csv_path, rows)
        plot_device(csv_path, common.out_path(args.out, f"{name}_s{seed}", "png"),
                    f"{name} seed {seed} ({args.runtime} runtime)")
        covered = max(int(r["task"]) for r in rows) if args.samples == 0 else None  # nothing streamed: task 1
        per_seed.append({"seed": seed, **cl_metrics(accuracy_matrix(rows, covered))})
        finals.append({k: v for k, v in rows[-1].items() if k.startswith(("acc_task", "mean_acc", "sat_l"))})
        common.log(f"{name} seed {seed}: average accuracy {per_seed[-1]['avg_acc']:.2f}, first task "
                   f"{per_seed[-1]['first_task']:.1f}, BWT {per_seed[-1]['bwt']:.1f} -> {csv_path}")
    summary = {"name": name, "command": common.command_line(argv), "tasks": [t.name for t in tasks],
               "metrics": over_seeds([{k: v for k, v in m.items() if k != "seed"} for m in per_seed]),
               "per_seed": per_seed, "final": finals[-1], "finals": finals,
               "settings": {k: v for k, v in vars(args).items() if k != "func"}}
    common.write_json(common.out_path(args.out, name, "json"), summary)
    common.write_csv(common.out_path(args.out, f"{name}_metrics", "csv"),
                     [{k: (";".join(f"{x:.2f}" for x in v) if isinstance(v, list) else v) for k, v in m.items()}
                      for m in per_seed])
    m = summary["metrics"]
    common.log(f"{name}: over {len(args.seed)} seed(s): average accuracy {pm(m['avg_acc'])}, "
               f"first task {pm(m['first_task'])}, BWT {pm(m['bwt'])}")
    return summary
