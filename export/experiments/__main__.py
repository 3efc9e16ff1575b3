"""Command line: ``python -m export.experiments NAME [options]`` (see the package docstring)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from export.experiments import ceiling, common, continual, curves, device, families, quadratic


def build_parser() -> argparse.ArgumentParser:
    """The parser with one sub-command per experiment."""
    p = argparse.ArgumentParser(prog="python -m export.experiments",
                                description="The paper's continual-learning experiments, and the same on the device.")
    # every experiment's --help shows the defaults
    sub = p.add_subparsers(dest="name", required=True, parser_class=functools.partial(
        argparse.ArgumentParser, formatter_class=argparse.ArgumentDefaultsHelpFormatter))

    for seq, width, epochs in (("pmnist", 1024, 40), ("pdigits", 128, 20)):
        q = sub.add_parser(seq, help=f"permuted {'MNIST' if seq == 'pmnist' else 'digits'}, tasks in a row")
        continual.add_common(q, epochs=epochs, meta=1.35, width=width)
        q.add_argument("--tasks", type=int, default=6)
        q.add_argument("--ewc", type=float, default=0.0, help="EWC lambda (paper: 5000); 0 = off")
        q.add_argument("--fisher-samples", type=int, default=5000)
        q.add_argument("--ewc-anchor", choices=["binary", "hidden"], default="binary",
                       help="EWC anchors sign(Wh) as the authors' code (default) or the hidden weights Wh")
        q.add_argument("--interleaved", action="store_true", help="all tasks at once (upper bound)")
        q.add_argument("--perm-seed", type=int, default=0, help="seed of the permutations")
        q.set_defaults(func=lambda a, argv, s=seq: continual.cmd_permuted(a, argv, s))

    q = sub.add_parser("sequence", help="MNIST then Fashion-MNIST, or the reverse (Fig. 3)")
    continual.add_common(q, epochs=20, meta=1.5, width=1024)
    q.add_argument("--order", choices=["mnist-fashion", "fashion-mnist"], default="mnist-fashion")
    q.set_defaults(func=continual.cmd_sequence)

    q = sub.add_parser("stream", help="Stream-Fashion-MNIST (Fig. 4a)")
    continual.add_common(q, epochs=20, meta=2.5, width=1024, bn="shared")
    q.add_argument("--dataset", default="fashion")
    q.add_argument("--subsets", type=int, default=60)
    q.add_argument("--subset-size", type=int, default=1000)
    q.add_argument("--full", action="store_true", help="train on all subsets at once (the reference)")
    q.set_defaults(func=continual.cmd_stream)

    q = sub.add_parser("quadratic", help="quadratic binary task (Fig. 5a-b)")
    quadratic.add_args(q)
    q.set_defaults(func=quadratic.cmd_quadratic)

    q = sub.add_parser("device", help="the device's int8 one-sample learning rule on a task sequence")
    device.add_args(q)
    q.set_defaults(func=device.cmd_device)

    q = sub.add_parser("families", help="the device on several task families and device seeds: one table")
    families.add_args(q)
    q.set_defaults(func=families.cmd_families)

    q = sub.add_parser("ceiling", help="what float training with nothing protected learns from the device's samples")
    ceiling.add_args(q)
    q.set_defaults(func=ceiling.cmd_ceiling)

    q = sub.add_parser("curves", help="per-epoch training and test accuracy of checkpoints")
    curves.add_args(q)
    q.set_defaults(func=curves.cmd_curves)

    q = sub.add_parser("table", help="markdown rows of run summaries (NAME.json)")
    q.add_argument("json", nargs="+")
    q.set_defaults(func=lambda a, argv: print(common.markdown_table(a.json)) or {})

    q = sub.add_parser("plot", help="result CSVs side by side")
    q.add_argument("csv", nargs="+")
    q.add_argument("--titles", default=None, help="comma-separated panel titles (default: file names)")
    q.add_argument("--suptitle", default="")
    q.add_argument("--xlabel", default="epochs")
    q.add_argument("-o", "--output", required=True)
    q.set_defaults(func=cmd_plot)
    return p


def cmd_plot(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict:
    """Combine CSVs into one paper-style figure."""
    from pathlib import Path

    titles = args.titles.split(",") if args.titles else [Path(c).stem for c in args.csv]
    common.plot_continual(args.csv, titles, args.output, args.suptitle, args.xlabel)
    return {}


#: What each experiment reproduces (the listing without arguments); docs/RESULTS.md has the figures.
REPRODUCES = {
    "pmnist": "paper Fig. 2: permuted MNIST, tasks in a row, m sweep, BatchNorm settings, EWC and interleaved baselines",
    "pdigits": "the same on scikit-learn's digits (small and fast)",
    "sequence": "paper Fig. 3: MNIST then Fashion-MNIST (or the reverse)",
    "stream": "paper Fig. 4a: Stream-Fashion-MNIST, subsets learned one after another",
    "quadratic": "paper Fig. 5a-b: the quadratic binary task",
    "device": "the device's int8 one-sample rule (the C runtime) on a task sequence",
    "families": "the same on several task families (rotations, translations, drift, ...) over device seeds: one table",
    "curves": "per-epoch training and test accuracy of export.train checkpoints, drawn",
    "table": "markdown rows of run summaries (NAME.json)",
    "plot": "result CSVs side by side in one figure",
}


def listing(parser: argparse.ArgumentParser) -> str:
    """The experiments, one per line, with what each reproduces."""
    lines = [f"{parser.prog} NAME [options]: the paper's experiments (Laborieux et al. 2021) and the device's.",
             "Experiments (python -m export.experiments NAME --help for options and defaults):"]
    lines += [f"  {name:<10} {what}" for name, what in REPRODUCES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; without arguments, list the experiments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        print(listing(parser))
        return 0
    args = parser.parse_args(argv)
    try:
        args.func(args, argv)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
