"""Export a trained MetaBNN checkpoint to a .mbnn blob (and a C header, ONNX).

    python -m export model.pt -o model.mbnn [--header model.h] [--onnx model.onnx]
                              [--learn all|last|none | --board NAME] [--verify DATASET]

The table it prints: per layer its inputs and outputs, the input kind (int8
features or sign bits), whether it learns on the device, `e` (hidden weights
stand for (h + 0.5) 2^-e), `bwd` (right shift of the errors sent back through
it), the binary weights' bytes in flash, the int8 hidden weights' bytes in RAM,
`flipped` (neurons whose BatchNorm scale was negative: their weights were
negated when folding) and `const` (neurons whose output is constant, folded
into a fixed +1 or -1). Then the arena the runtime needs (its own
mbnn_arena_size) and the boards the model fits (export/boards.py).
`--board NAME` keeps as many learning layers (from the output back) as fit
that board, or fails with one line.

Bad input (a missing file, not a checkpoint, an architecture the format cannot
hold, an unwritable output path, an unknown dataset) exits with status 2 and one
line on stderr, and writes no file. All outputs are built in memory first and
written atomically. `--verify` exits with status 1 when the blob agrees with
PyTorch on less than 99.5% of the test set or their accuracies differ by more
than 0.3 points.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

import numpy as np

from pyruntime.format import quantize

VERIFY_MIN_AGREEMENT = 99.5
VERIFY_MAX_ACC_DIFF = 0.3


class UsageError(Exception):
    """Bad input: exit status 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        raise UsageError(message)


def _learn_choice(text: str) -> str:
    """The --learn value, checked for its form (the layer count is checked when folding)."""
    if text in ("all", "last", "none", "dense") or all(v.strip().isdigit() for v in text.split(",")):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (use all, last, none, dense or layer numbers "
                                     "such as 2,3)")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from export.importance import DEFAULT_TOP
    from export.rehearsal import DEFAULT_MEMORY, DEFAULT_REHEARSAL, count_error
    from export.fold import (DEFAULT_BIT_LR_MULT, DEFAULT_CONSOLIDATE, DEFAULT_DEVICE_LR, DEFAULT_DEVICE_META,
                             DEFAULT_META_FLOOR, MEMORY_DEVICE_META, DEFAULT_RMS_SHIFT, DEFAULT_SEED)

    p = _Parser(prog="python -m export", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="\n\n".join(__doc__.split("\n\n")[2:4]))
    p.add_argument("checkpoint", help="checkpoint from `python -m export.train`")
    p.add_argument("-o", "--output", default="model.mbnn", help="blob to write (default model.mbnn)")
    p.add_argument("--header", help="also write a C header holding the blob and its size macros (docs/C_API.md)")
    p.add_argument("--name", help="C name of the array in the header (default: the header's file name + _mbnn, "
                                  "e.g. model_mbnn; must not start with mbnn)")
    p.add_argument("--onnx", help="also write the inference graph as ONNX")
    p.add_argument("--learn", type=_learn_choice,
                   help="layers that learn on the device: all, last, none, dense (convolutions frozen in flash, "
                        "dense layers learn) or layer numbers such as 2,3 (default: all for a dense network, "
                        "dense for one with convolutions; with --board as many as fit)")
    p.add_argument("--board", help="board to fit (export/boards.py; e.g. mps2-an386, nrf52840, esp32, rp2040): "
                                   "keeps the learning layers that fit its RAM, or fails saying why")
    p.add_argument("--verify", metavar="DATASET", help="compare blob and PyTorch on DATASET's test split")
    p.add_argument("--hscale-log2", metavar="E",
                   help="hidden-weight scale 2^-E, one E or one per layer (default: chosen)")
    p.add_argument("--device-lr", type=float, default=DEFAULT_DEVICE_LR,
                   help=f"device learning rate in weight units (default {DEFAULT_DEVICE_LR})")
    p.add_argument("--rms-shift", type=int, default=DEFAULT_RMS_SHIFT,
                   help=f"beta of the running mean square of errors, 0..24 (default {DEFAULT_RMS_SHIFT})")
    p.add_argument("--lr-mult", metavar="M",
                   help=f"multipliers of --device-lr, one or one per layer (default: 1 for an int8 layer 0, "
                        f"{DEFAULT_BIT_LR_MULT:g} for bit-input layers; docs/ARITHMETIC.md)")
    p.add_argument("--meta", metavar="M", help="m of the device's metaplastic table, one or one per layer "
                                               f"(default: {MEMORY_DEVICE_META:g} with a rehearsal set and memory, "
                                               f"{DEFAULT_DEVICE_META:g} with the set alone, without a set "
                                               f"{DEFAULT_DEVICE_META:g} or more where the trained hidden weights "
                                               f"are small; at most the m the checkpoint was trained with; "
                                               f"docs/ARITHMETIC.md)")
    p.add_argument("--meta-floor", type=float, default=DEFAULT_META_FLOOR,
                   help=f"least fraction of an inward step the metaplastic table lets through "
                        f"(default {DEFAULT_META_FLOOR:g})")
    p.add_argument("--consolidate", metavar="C",
                   help=f"scale the trained hidden weights away from zero by C >= 1 at export, one or one per "
                        f"layer (default {DEFAULT_CONSOLIDATE:g}; docs/ARITHMETIC.md): the full C for the weights "
                        f"the trained task needs most (the checkpoint's importance, export/importance.py), less "
                        f"for the others")
    p.add_argument("--consolidate-top", metavar="F", type=float, default=DEFAULT_TOP,
                   help=f"fraction of each layer's hidden weights, the most important, consolidated by the full C "
                        f"(default {DEFAULT_TOP:g}; 1: every weight by C)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of the device's random numbers (default {DEFAULT_SEED})")
    p.add_argument("--rehearsal", type=int, default=DEFAULT_REHEARSAL, metavar="N",
                   help=f"training samples the blob carries for the device to relearn, one after each new sample, "
                        f"so it keeps the trained task (default {DEFAULT_REHEARSAL}, from the checkpoint; 0: none, "
                        f"one learning step per sample; export/rehearsal.py)")
    p.add_argument("--memory", type=int, metavar="N",
                   help=f"slots of RAM that keep samples of the device's stream (reservoir sampling), relearned "
                        f"with the rehearsal set: half the relearned samples come from them once filled, so the "
                        f"device keeps what it learned on the device too (default {DEFAULT_MEMORY}, with --board "
                        f"fewer where its RAM needs it; 0: none; n_inputs + 2 bytes of arena and of learned state "
                        f"each; export/rehearsal.py)")
    args = p.parse_args(argv)
    for option, n in (("--rehearsal", args.rehearsal), ("--memory", args.memory)):
        if n is not None and count_error(option, n):
            raise UsageError(count_error(option, n))
    for opt in ("lr_mult", "meta", "consolidate"):
        text = getattr(args, opt)
        if text is not None:
            try:
                setattr(args, opt, [float(v) for v in text.split(",")])
            except ValueError:
                raise UsageError(f"--{opt.replace('_', '-')} takes numbers separated by commas, got {text!r}") from None
    if args.consolidate is None:
        args.consolidate = DEFAULT_CONSOLIDATE
    if not 0.0 < args.consolidate_top <= 1.0:
        raise UsageError(f"--consolidate-top must be in (0, 1], got {args.consolidate_top}")
    if not 0.0 <= args.meta_floor <= 1.0:
        raise UsageError(f"--meta-floor must be in 0..1, got {args.meta_floor}")
    if args.hscale_log2 is not None:
        try:
            args.hscale_log2 = [int(v) for v in args.hscale_log2.split(",")]
        except ValueError:
            raise UsageError(f"--hscale-log2 takes integers, got {args.hscale_log2!r}") from None
    if not 0 <= args.rms_shift <= 24:
        raise UsageError(f"--rms-shift must be in 0..24, got {args.rms_shift}")
    if args.board:
        from export.boards import board_spec

        try:
            args.board = board_spec(args.board)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not 0 <= args.device_lr < float("inf"):
        raise UsageError(f"--device-lr must be a finite number >= 0, got {args.device_lr}")
    if not 0 <= args.seed < 1 << 32:
        raise UsageError(f"--seed must be in 0..{(1 << 32) - 1} (the device's 32-bit generator), got {args.seed}")
    return args


def _check_writable(path: str, what: str) -> Path:
    from export.blob import check_writable

    try:
        return check_writable(path, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _runtime(blob: bytes, learn: bool):
    """(model, name) from the C runtime binding, or the numpy reference (export.blob.runtime_model)."""
    from export.blob import runtime_model

    return runtime_model(blob, learn)


def _arena_sizes(blob: bytes, learns: bool) -> tuple[int | None, int | None]:
    infer = _runtime(blob, learn=False)[0].arena_size
    learn = _runtime(blob, learn=True)[0].arena_size if learns else None
    return infer, learn


def _fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n:,} B"


def describe(spec, info, blob: bytes, path: str) -> str:
    """The table that `python -m export` prints."""
    from fractions import Fraction

    from export.blob import KIND_INT8, words_per_row

    scale = Fraction(spec.input_scale).limit_denominator(1 << 16)
    lines = [
        f"{path}: {len(blob):,} bytes, {len(spec.layers)} layers, crc32 0x{zlib.crc32(blob[16:]):08x}, "
        f"input {'int8' if spec.layers[0].input_kind == KIND_INT8 else 'sign bits'} "
        f"(scale {scale}, zero point {spec.input_zero_point}), logits Q{spec.out_frac_bits}",
        f"{'layer':>5} {'in':>5} {'out':>5}  {'input':<5} {'learns':<6} {'e':>2} {'bwd':>3} "
        f"{'bits (flash)':>13} {'hidden (RAM)':>13} {'flipped':>7} {'const':>5}",
    ]
    legend = ("e: an int8 hidden weight h stands for (h + 0.5) 2^-e; bwd: right shift of the errors sent back; "
              "flipped: neurons negated when folding a negative BatchNorm scale; const: neurons whose BatchNorm scale is 0 (constant output)")
    shapes = spec.in_shapes()
    for idx, layer in enumerate(spec.layers):
        if layer.is_conv:  # kh * kw groups of whole words per output channel (docs/FORMAT.md)
            flash = layer.n_out * layer.kernel[0] * layer.kernel[1] * words_per_row(shapes[idx][0]) * 4
        else:
            flash = layer.n_out * words_per_row(layer.n_in) * 4
        ram = layer.n_out * layer.n_in if layer.learns else 0
        lines.append(
            f"{idx:>5} {layer.n_in:>5} {layer.n_out:>5}  {'int8' if layer.input_kind == KIND_INT8 else 'bits':<5} "
            f"{'yes' if layer.learns else 'no':<6} {layer.hscale_log2:>2} {layer.bwd_shift:>3} "
            f"{_fmt_bytes(flash):>13} {_fmt_bytes(ram) if layer.learns else '-':>13} "
            f"{int(info.flipped[idx].sum()):>7} {int(info.constant[idx].sum()):>5}"
        )
    for idx, layer in enumerate(spec.layers):
        if layer.is_conv:
            lines.append(f"layer {idx}: {layer.op} {'x'.join(map(str, shapes[idx]))} -> "
                         f"{'x'.join(map(str, layer.out_shape()))}, kernel {layer.kernel[0]}x{layer.kernel[1]}, "
                         f"stride {layer.stride[0]}x{layer.stride[1]}, padding {layer.pad[0]}x{layer.pad[1]}, "
                         f"max pool {'x'.join(map(str, layer.pool_hw()))} (in: inputs of one output channel "
                         f"at one position, out: channels)")
    infer, learn = _arena_sizes(blob, any(info.learns))
    if infer is None:
        lines.append("arena: unknown (the C runtime extension is not built; run scripts/setup.sh)")
    else:
        lines.append(f"arena (mbnn_arena_size): inference {_fmt_bytes(infer)}, learning "
                     f"{_fmt_bytes(learn) if learn is not None else '- (no layer learns)'}")
    learning = [i for i, l in enumerate(info.learns) if l]
    if learning:
        cons = ", ".join(f"{info.consolidation[i]:.2f}" for i in learning)
        how = ("none" if all(info.consolidation[i] == 1.0 for i in learning) else
               "set per weight from the checkpoint's importance" if info.weighted else
               "uniform (the checkpoint holds no importance: train it with `python -m export.train` to "
               "consolidate only the weights the trained task needs)")
        lines.append(f"consolidation (mean factor per learning layer): {cons}, {how}; "
                     f"device m per learning layer: {', '.join(f'{info.meta[i]:.3g}' for i in learning)}")
        if spec.rehearsal is not None:
            x, _ = spec.rehearsal
            lines.append(f"rehearsal: {len(x)} training samples in the blob ({_fmt_bytes(x.size + 2 * len(x))} of "
                         f"flash); each learning call also relearns one of them (two steps per sample)")
            lines.append(f"memory: {spec.memory} slots for samples of the stream ({_fmt_bytes(spec.memory * (x.shape[1] + 2))} "
                         f"of arena and of learned state); once filled, half the relearned samples come from it"
                         if spec.memory else "memory: none; only the training samples are relearned (--memory N "
                         "keeps N samples of the stream too)")
        else:
            lines.append("rehearsal: none; the device forgets the trained task faster on shifts that reuse its "
                         "inputs (a checkpoint of `python -m export.train` holds a set; --rehearsal 0 leaves it out)")
    lines.append(legend)
    clamped = sum(info.clamped)
    if clamped:
        lines.append(f"note: {clamped} hidden weights were clamped to their layer's int8 range, signs kept "
                     f"(a dense layer that learns spans |Wh| <= 1 unless --hscale-log2 says otherwise)")
    return "\n".join(lines)


def verify(model, blob: bytes, ds, onnx: bytes | None = None) -> tuple[str, bool]:
    """(report line, passed) comparing PyTorch, the blob (and ONNX) on ds's test split."""
    import torch

    runtime, name = _runtime(blob, learn=False)
    pt = model.predict(torch.from_numpy(ds.x_test)).numpy()
    # the blob's input quantization (the model's), as a device would apply it
    dev = np.asarray(runtime.predict(quantize(ds.x_test, model.input_scale, model.input_zero_point)))
    acc_pt = 100.0 * np.mean(pt == ds.y_test)
    acc_dev = 100.0 * np.mean(dev == ds.y_test)
    agree = 100.0 * np.mean(pt == dev)
    line = (f"verify {ds.name} test ({len(ds.y_test)} samples): PyTorch {acc_pt:.2f}%, "
            f"blob {acc_dev:.2f}% ({name}), agreement {agree:.2f}%")
    if onnx is not None:
        from export.onnx_export import run_onnx

        agree_onnx = 100.0 * np.mean(run_onnx(onnx, ds.x_test).argmax(1) == pt)
        line += f", ONNX agreement {agree_onnx:.2f}%"
    ok = agree >= VERIFY_MIN_AGREEMENT and abs(acc_pt - acc_dev) <= VERIFY_MAX_ACC_DIFF
    return line, ok


def run(argv: list[str] | None = None) -> int:
    """The command; returns the exit status."""
    args = _parse(argv)
    outputs = [(args.output, "blob")]
    if args.header:
        outputs.append((args.header, "header"))
    if args.onnx:
        outputs.append((args.onnx, "ONNX"))
    paths = [_check_writable(p, what) for p, what in outputs]
    if len({p.resolve() for p in paths}) != len(paths):
        raise UsageError("the output files must differ")
    ckpt_path = Path(args.checkpoint)
    if not ckpt_path.is_file():
        raise UsageError(f"{ckpt_path}: no such file")

    from export.blob import BlobError, write_atomic, write_blob
    from export.checkpoint import CheckpointError, check_finite, importance_of, load_model
    from export.fold import fold
    from export.rehearsal import DEFAULT_MEMORY, memory_choices, rehearsal_of

    try:
        model, ckpt = load_model(ckpt_path)
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    try:
        check_finite(model, str(ckpt_path))
        importance = importance_of(ckpt, model, str(ckpt_path))
        rehearsal = rehearsal_of(ckpt, model.sizes[0], model.sizes[-1], args.rehearsal, str(ckpt_path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ds = None
    if args.verify:
        from export import data as datasets

        try:
            ds = datasets.load(args.verify)
        except (ValueError, FileNotFoundError) as exc:
            raise UsageError(str(exc)) from None
        if ds.n_features != model.sizes[0]:
            raise UsageError(f"--verify {args.verify}: {ds.n_features} features, the model takes {model.sizes[0]}")
    n_layers = len(model.sizes) - 1
    n_conv = sum(l.is_conv for l in model.layers)
    if args.learn is not None or args.board is None:
        choices = [args.learn or ("dense" if n_conv else "all")]
    elif n_conv:  # --board alone, a CNN: convolutions frozen; the dense layers learn, else the last k of them
        choices = [[i >= k for i in range(n_layers)] for k in range(n_conv, n_layers)]
    else:  # --board alone: all layers learn, else the last k, else none fits
        choices = ["all"] + [[i >= k for i in range(n_layers)] for k in range(1, n_layers)]
    # the memory: as asked, or the default, with --board fewer slots before fewer learning layers
    memories = [args.memory] if args.memory is not None else \
        memory_choices(DEFAULT_MEMORY) if args.board is not None else [DEFAULT_MEMORY]
    from export.boards import needs, shortfall

    for learn, memory in ((learn, memory) for learn in choices for memory in memories):
        try:
            spec, info = fold(model, ckpt["settings"], learn=learn, hscale_log2=args.hscale_log2,
                              device_lr=args.device_lr, rms_shift=args.rms_shift, seed=args.seed,
                              lr_mult=args.lr_mult, meta=args.meta, meta_floor=args.meta_floor,
                              consolidate=args.consolidate, importance=importance,
                              consolidate_top=args.consolidate_top, rehearsal=rehearsal, memory=memory)
            blob = write_blob(spec)
        except (BlobError, ValueError) as exc:
            raise UsageError(f"cannot export {ckpt_path}: {exc}") from None
        need = needs(blob)
        if args.board is None or need.fits(args.board, learn=need.ram_learn > 0):
            break
    if args.board is not None and not need.fits(args.board, learn=need.ram_learn > 0):
        if args.learn is not None:
            raise UsageError(f"--board {args.board.name}, --learn {args.learn}: "
                             + shortfall(need, args.board, learn=need.ram_learn > 0))
        raise UsageError(f"--board {args.board.name}: even the output layer alone cannot learn there: "
                         + shortfall(need, args.board, learn=True).split(": export with")[0]
                         + ": export with --learn none (inference only) or train a smaller model")
    contents = [blob]
    if args.header:
        from export.header import c_identifier, make_header

        name = args.name or c_identifier(Path(args.header).stem + "_mbnn")
        from export.arch import describe_arch

        sizes = describe_arch(model.layers) if n_conv else "-".join(str(s) for s in model.sizes)
        try:
            contents.append(make_header(blob, name, f"metabnn model {sizes} from {ckpt_path.name}").encode())
        except ValueError as exc:
            raise UsageError(f"--name: {exc}") from None
    onnx = None
    if args.onnx:
        from export.onnx_export import onnx_bytes

        try:
            onnx = onnx_bytes(model)
        except ImportError as exc:
            raise UsageError(f"--onnx needs onnx and onnxscript ({exc}); pip install onnx onnxscript") from None
        contents.append(onnx)
    written: list[Path] = []
    for (path, data), (_, what) in zip(zip(paths, contents), outputs):
        existed = path.exists()
        try:
            write_atomic(path, data)
        except OSError as exc:
            for done in written:  # all or nothing
                done.unlink(missing_ok=True)
            raise UsageError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
        if not existed:
            written.append(path)
    print(describe(spec, info, blob, args.output))
    from export.boards import fit_table

    print(fit_table(need))
    if args.board is not None:
        learning = [str(i) for i, l in enumerate(info.learns) if l]
        print(f"--board {args.board.name}: layers {', '.join(learning) or 'none'} learn; needs "
              f"{need.ram_learn or need.ram_infer:,} B of RAM for arena and state, the board has {args.board.ram:,} B")
    for path, what in outputs[1:]:
        print(f"wrote {what} {path}")
    if ds is not None:
        line, ok = verify(model, blob, ds, onnx)
        print(line)
        if not ok:
            print(f"verification failed: agreement below {VERIFY_MIN_AGREEMENT}% or accuracy "
                  f"differs by more than {VERIFY_MAX_ACC_DIFF} points", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input -> one line on stderr, status 2."""
    try:
        return run(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
