"""Train a MetaBNN with MetaAdam and save a checkpoint.

    python -m export.train --dataset mnist --sizes 784,256,256,10 --epochs 5 --meta 1.35 -o model.pt
    python -m export.train --dataset fashion --epochs 11 -o cnn.pt \
        --arch conv2d:32:3:same,maxpool:2,conv2d:64:3,maxpool:2,dense:256,dense:10

`--arch` items (export/arch.py): conv2d:C:K and conv1d:C:K (C output channels,
kernel K; then optionally sS for stride S, and same, valid (the default) or pP
for padding P), maxpool:P (after the previous convolution), dense:N (the last
one is the output layer). The input shape (channels, height, width) comes from
the data set: 1x28x28 for MNIST and Fashion-MNIST, 1x8x8 for digits, 6x1x20
(channels x length) for BasicMotions.

Defaults follow the authors' code: batch 100, lr 0.005, hidden weights
U(-0.05, 0.05), cross-entropy loss; a network with convolutions anneals the
lr to 0 (cosine) unless `--lr-schedule constant`. `--augment` shifts (and for
Fashion-MNIST mirrors) the training images at random (export/augment.py). `--int8-grid E` keeps the hidden weights on
the device's int8 grid with scale 2^-E (see export/grid.py) so the export is
lossless.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from export import data as datasets
from export.arch import dense_layers, parse_arch
from export.augment import DEFAULT_SHIFT, FLIP_DATASETS, augment_batch, is_image
from export.checkpoint import check_finite, save_checkpoint
from export.importance import DEFAULT_SAMPLES, fisher_importance
from export.grid import GridConstraint
from export.model import MetaBNN
from export.optim import MetaAdam
from export.rehearsal import REHEARSAL_POOL, rehearsal_indices, to_checkpoint
from pyruntime.format import quantize


#: Learning-rate schedules of --lr-schedule.
LR_SCHEDULES = ("constant", "cosine")
#: --sizes when neither --sizes nor --arch is given.
DEFAULT_SIZES = (784, 256, 256, 10)


def _floats(text: str) -> float | list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated numbers expected, got {text!r}") from None
    return vals[0] if len(vals) == 1 else vals


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated integers expected, got {text!r}") from None


@torch.no_grad()
def evaluate(model: MetaBNN, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in %) of the model in eval mode."""
    was = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        out = model(x[i : i + batch])
        loss += torch.nn.functional.cross_entropy(out, y[i : i + batch], reduction="sum").item()
        correct += int((out.argmax(1) == y[i : i + batch]).sum())
    model.train(was)
    return loss / len(x), 100.0 * correct / len(x)


def build_model(ds: datasets.Dataset, sizes: Sequence[int] | str, binarize_input: bool = False) -> MetaBNN:
    """A new MetaBNN for ds: `sizes` = dense widths (inputs first) or an `--arch` string
    (export/arch.py) read against ds's input shape; ValueError saying what does not fit."""
    if isinstance(sizes, str):
        layers = parse_arch(sizes, ds.in_shape)
    else:
        sizes = list(sizes)
        if sizes[0] != ds.n_features:
            raise ValueError(f"--sizes starts with {sizes[0]} inputs but {ds.name} has {ds.n_features} features")
        layers = dense_layers(sizes)
    if layers[-1].n_out < int(ds.y_train.max()) + 1:
        raise ValueError(f"the output layer has {layers[-1].n_out} neurons but {ds.name} has "
                         f"{int(ds.y_train.max()) + 1} classes")
    return MetaBNN(arch=layers, binarize_input=binarize_input, input_scale=ds.input_scale,
                   input_zero_point=ds.input_zero_point)


def train(
    ds: datasets.Dataset,
    sizes: Sequence[int] | str,
    epochs: int = 5,
    lr: float = 0.005,
    meta: float | Sequence[float] = 1.35,
    batch: int = 100,
    weight_decay: float = 0.0,
    binarize_input: bool = False,
    int8_grid: Sequence[int | None] | None = None,
    seed: int = 0,
    progress: bool = True,
    log=print,
    eval_train: int | None = None,
    lr_schedule: str | None = None,
    augment: bool = False,
) -> tuple[MetaBNN, dict[str, Any], list[dict[str, Any]]]:
    """Train a new MetaBNN on ds (`sizes`: dense widths or an `--arch` string, see build_model);
    returns (model in eval mode, settings, per-epoch history). `eval_train`: measure the
    training accuracy of each epoch on the first that many training samples (None: all).
    `lr_schedule`: "constant", or "cosine" (lr * (1 + cos(pi t)) / 2 at the fraction t of
    the batches done, down to 0 at the end); None: cosine for a network with convolutions,
    constant for a dense one. `augment`: shift (and for Fashion-MNIST flip) every
    training image at random (export/augment.py; images only: ValueError otherwise)."""
    if lr_schedule is not None and lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, not {lr_schedule!r}")
    torch.manual_seed(seed)
    model = build_model(ds, sizes, binarize_input)
    if lr_schedule is None:
        lr_schedule = "cosine" if model.is_conv else "constant"
    if isinstance(sizes, str):
        from export.blob import MAX_WIDTH

        wide = [l for l in model.layers if not l.is_conv and max(l.n_in, l.n_out) > MAX_WIDTH]
        if wide:
            raise ValueError(f"a dense layer of {wide[0].n_in} inputs and {wide[0].n_out} outputs is wider than "
                             f"the blob format's {MAX_WIDTH}: pool more or use fewer channels")
    if int8_grid is not None and len(int8_grid) == 1:
        int8_grid = list(int8_grid) * model.n_layers
    grid = GridConstraint(model, int8_grid, seed=seed) if int8_grid is not None else None
    if augment and not is_image(ds.name, ds.in_shape):
        raise ValueError(f"--augment shifts images; the inputs of {ds.name} ({'x'.join(map(str, ds.in_shape))}) are "
                         "not images with neighbouring pixels: leave it off")
    flip = ds.name in FLIP_DATASETS
    aug_gen = torch.Generator().manual_seed(seed + 1)
    opt = MetaAdam(model.parameters(), lr=lr, meta=meta, weight_decay=weight_decay)
    xtr, ytr = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    xte, yte = torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test)
    gen = torch.Generator().manual_seed(seed)
    settings = {
        "dataset": ds.name, "epochs": epochs, "lr": lr, "meta": meta, "batch": batch,
        "weight_decay": weight_decay, "int8_grid": list(int8_grid) if int8_grid is not None else None,
        "seed": seed, "optimizer": "MetaAdam", "lr_schedule": lr_schedule,
        "augment": ({"shift": DEFAULT_SHIFT, "flip": flip} if augment else False),
        **({"arch": sizes} if isinstance(sizes, str) else {}), "betas": [0.9, 0.999], "eps": 1e-8,
    }
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        batches = range(0, len(xtr), batch)
        if progress:
            from tqdm import tqdm

            # disable=None: a bar on a terminal, nothing in a log file or CI
            batches = tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch", disable=None)
        for i in batches:
            if lr_schedule == "cosine":
                done = ((epoch - 1) * len(xtr) + i) / (epochs * len(xtr))
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * done))
            idx = order[i : i + batch]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = augment_batch(xtr[idx], model.layers[0].in_shape, aug_gen, flip=flip) if augment else xtr[idx]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), ytr[idx])
            loss.backward()
            opt.step()
            if grid is not None:
                grid.apply()
        tr_loss, tr_acc = evaluate(model, xtr[:eval_train], ytr[:eval_train])
        te_loss, te_acc = evaluate(model, xte, yte)
        rec = {"epoch": epoch, "loss": tr_loss, "test_loss": te_loss, "train_acc": tr_acc, "test_acc": te_acc,
               "seconds": time.time() - t0}
        history.append(rec)
        log(f"epoch {epoch}/{epochs}  loss {tr_loss:.4f}  train {tr_acc:.2f}%  test {te_acc:.2f}%  "
            f"({rec['seconds']:.1f} s)")
    model.eval()
    return model, settings, history


def check_settings(args: argparse.Namespace) -> None:
    """Refuse settings that cannot train or cannot be exported, before any
    work: raise ValueError naming the option and what to do. The layer limits
    are those of the blob reader (export/blob.py, the same as runtime_c's
    MBNN_MAX_LAYERS and MBNN_MAX_WIDTH)."""
    import math

    from export.blob import MAX_LAYERS, MAX_WIDTH, check_writable

    if args.epochs < 1:
        raise ValueError(f"--epochs must be 1 or more, got {args.epochs}")
    if args.eval_train is not None and args.eval_train < 1:
        raise ValueError(f"--eval-train must be 1 or more, got {args.eval_train}")
    if args.batch < 2:
        raise ValueError(f"--batch must be 2 or more (BatchNorm needs two samples per batch), got {args.batch}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a positive finite number, got {args.lr}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise ValueError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    metas = args.meta if isinstance(args.meta, list) else [args.meta]
    if not all(math.isfinite(m) and m >= 0 for m in metas):
        raise ValueError(f"--meta must be finite numbers >= 0, got {args.meta}")
    if args.arch is not None:
        if args.sizes is not None:
            raise ValueError("give --arch or --sizes, not both")
        n_layers = sum(1 for item in args.arch.split(",") if not item.strip().lower().startswith("maxpool"))
        if n_layers > MAX_LAYERS:
            raise ValueError(f"--arch has {n_layers} layers; a blob holds 1 to {MAX_LAYERS}")
    else:
        if args.sizes is None:
            args.sizes = list(DEFAULT_SIZES)
        n_layers = len(args.sizes) - 1
        if not 1 <= n_layers <= MAX_LAYERS:
            raise ValueError(f"--sizes needs 2 to {MAX_LAYERS + 1} widths (inputs first; a blob holds 1 to "
                             f"{MAX_LAYERS} layers), got {len(args.sizes)}")
        if any(not 1 <= w <= MAX_WIDTH for w in args.sizes):
            raise ValueError(f"--sizes {','.join(map(str, args.sizes))}: every width must be in 1..{MAX_WIDTH} "
                             "(the blob format's limit)")
    if args.int8_grid is not None:
        if len(args.int8_grid) not in (1, n_layers):
            raise ValueError(f"--int8-grid needs 1 or {n_layers} values")
        if any(not 0 <= e <= 255 for e in args.int8_grid):
            raise ValueError(f"--int8-grid E must be in 0..255 (the blob's hscale_log2), got {args.int8_grid}")
    if isinstance(args.meta, list) and len(args.meta) != n_layers:
        raise ValueError(f"--meta needs 1 or {n_layers} values")
    check_writable(args.output, "checkpoint")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line on stderr, status 2
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = _Parser(prog="python -m export.train", description=__doc__.splitlines()[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", help=f"one of {', '.join(datasets.NAMES)}")
    p.add_argument("--sizes", type=_ints, default=None,
                   help=f"widths of a dense network, inputs first (default {','.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--arch", default=None,
                   help="layers of a network with convolutions, e.g. conv2d:32:3:same,maxpool:2,conv2d:64:3,maxpool:2,"
                        "dense:256,dense:10; items conv1d:C:K, conv2d:C:K (C channels, kernel K, then optionally "
                        ":sS stride S and :same, :valid (default) or :pP padding P), maxpool:P (after the previous "
                        "convolution's sign), dense:N (the last is the output layer); the input shape comes from "
                        "the data set (1x28x28 images, 6x1x20 BasicMotions windows)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training split")
    p.add_argument("--lr", type=float, default=0.005, help="MetaAdam learning rate")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="constant lr, or cosine: annealed to 0 over the run (per batch); default: cosine for a "
                        "network with convolutions (measured better, docs/RESULTS.md section 7), constant otherwise")
    p.add_argument("--meta", type=_floats, default=1.35, help="metaplasticity m, one value or one per layer")
    p.add_argument("--batch", type=int, default=100, help="samples per batch")
    p.add_argument("--weight-decay", type=float, default=0.0, help="MetaAdam weight decay")
    p.add_argument("--binarize-input", action="store_true", help="first layer reads sign bits of the input")
    p.add_argument("--int8-grid", type=_ints, default=None, metavar="E",
                   help="keep hidden weights on the int8 grid of scale 2^-E (one E or one per layer)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=False,
                   help="shift each training image by up to 2 pixels at random (and mirror Fashion-MNIST's "
                        "left-right at random); off by default: not measured to help yet (docs/RESULTS.md section 7)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialization and shuffling")
    p.add_argument("--eval-train", type=int, default=None, metavar="N",
                   help="measure each epoch's training accuracy on the first N training samples (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", default="model.pt", help="checkpoint to write")
    args = p.parse_args(argv)
    try:
        check_settings(args)
        ds = datasets.load(args.dataset)
        model, settings, history = train(
            ds, args.arch if args.arch is not None else args.sizes, args.epochs, args.lr, args.meta, args.batch, args.weight_decay,
            args.binarize_input, args.int8_grid, args.seed, progress=not args.no_progress,
            eval_train=args.eval_train, lr_schedule=args.lr_schedule, augment=args.augment,
        )
        check_finite(model, "trained model")  # nothing written for a diverged run
        t0 = time.time()
        importance = fisher_importance(model, ds.x_train, ds.y_train, seed=args.seed, progress=not args.no_progress)
        print(f"importance of every hidden weight for export's consolidation: {min(DEFAULT_SAMPLES, len(ds.x_train))} "
              f"training samples ({time.time() - t0:.1f} s)")
        idx = rehearsal_indices(len(ds.x_train), REHEARSAL_POOL, args.seed)
        rehearsal = to_checkpoint(quantize(ds.x_train[idx], model.input_scale, model.input_zero_point),
                                  ds.y_train[idx])
        print(f"rehearsal set for export: {len(idx)} random training samples kept in the checkpoint")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        save_checkpoint(args.output, model, settings, history, importance, rehearsal)
    except OSError as exc:  # the message names the output, never a temporary file
        print(f"error: cannot write checkpoint {args.output}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2
    print(f"saved {args.output}: test accuracy {history[-1]['test_acc']:.2f}%" if history else f"saved {args.output}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
