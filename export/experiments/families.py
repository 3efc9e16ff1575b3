"""Several task families on the device in one command: the tables of docs/RESULTS.md section 6.

`python -m export.experiments families` runs `device` (every option of it applies:
the device's lr, m, consolidation, ...) on each family of task sequences, once
per device seed, and prints one markdown row per family with the standard
continual-learning metrics as mean ± sd over the seeds: the first task at the
end, the last task, the average accuracy over the tasks (ACC), backward
transfer (BWT, Lopez-Paz and Ranzato 2017) and forgetting (F, Chaudhry et al.
2018), plus the mean ACC over the families. It writes NAME.json, NAME.csv (one
row per family and seed) and NAME.png (ACC per family with its spread).

The families are sequences of `export/experiments/tasks.py`; ``{d}`` stands for
``--dataset`` (mnist by default). Shifts that reuse the same inputs (rotations,
translations, a sensor's drift) are the product's case; permutations give every
task its own inputs; ``split`` (not run by default) adds new classes, none of
the old ones in the stream (class-incremental).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from export.experiments import common, device
from export.experiments.metrics import over_seeds, pm

#: Family name -> task sequence (``{d}``: the --dataset).
FAMILIES = {
    "fashion": "mnist,fashion",
    "rotated": "{d},{d}:rot=30,{d}:rot=60,{d}:rot=90",
    "translated": "{d},{d}:shift=3/0,{d}:shift=0/3,{d}:shift=-3/-3",
    "drift": "{d},{d}:noise=0.3,{d}:contrast=0.6:bright=0.1,{d}:shift=2/2:noise=0.2",
    "permuted": "{d}," + ",".join(f"{{d}}:perm={i}" for i in range(1, 6)),
    "split": "{d}:classes=0-4,{d}:classes=5-9",
}
#: The families run unless --families says otherwise: the domain shifts, whose means RESULTS compares
#: across settings. "split" (class-incremental: new classes, none of the old ones in the stream) is
#: measured apart (RESULTS section 6), so the mean over the five stays comparable across rounds; without a
#: rehearsal set its old classes are lost whatever the setting.
DEFAULT_FAMILIES = ("fashion", "rotated", "translated", "drift", "permuted")
METRICS = ("first_task", "last_task", "avg_acc", "bwt", "mean_forgetting")


def add_args(p: argparse.ArgumentParser) -> None:
    """The device command's options, plus the families and the device seeds."""
    device.add_args(p)
    p.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                   help=f"comma-separated, from {', '.join(FAMILIES)} (fashion needs --dataset mnist)")
    p.add_argument("--device-seeds", type=device._ints, default=[0, 1, 2],
                   help="one run of every family per device seed")


def cmd_families(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every family for every device seed; print the table and write JSON, CSV and PNG."""
    names = [f for f in args.families.split(",") if f]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"--families: unknown {unknown or 'empty list'}; choose from {', '.join(FAMILIES)}")
    if "fashion" in names and args.dataset != "mnist":
        raise ValueError("the fashion family is MNIST then Fashion-MNIST: use --dataset mnist or leave it out")
    if args.sequence or args.stream_pretrain or args.device_seed is not None:
        raise ValueError("families sets each run's sequence and device seed: use --families and --device-seeds "
                         "instead of --sequence, --stream-pretrain or --device-seed")
    if not args.device_seeds:
        raise ValueError("--device-seeds is empty; give e.g. 0,1,2")
    stem = args.name or "families"
    sequences = {f: FAMILIES[f].format(d=args.dataset) for f in names}
    rows, table = [], {}
    for fam in names:
        for ds in args.device_seeds:
            run = argparse.Namespace(**{**vars(args), "sequence": sequences[fam], "device_seed": ds,
                                        "name": f"{stem}_{fam}_d{ds}"})
            rows += [{"family": fam, "device_seed": ds, "pretrain_seed": m["seed"], **{k: m[k] for k in METRICS}}
                     for m in device.cmd_device(run, argv)["per_seed"]]
        table[fam] = over_seeds([{k: r[k] for k in METRICS} for r in rows if r["family"] == fam])
    lines = ["| family | runs | first task kept | last task | mean (ACC) | BWT | F |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {fam} | {t['seeds']} | " + " | ".join(pm(t[k]) for k in METRICS) + " |" for fam, t in table.items()]
    overall = float(np.mean([t["avg_acc"][0] for t in table.values()]))
    lines.append(f"\nmean ACC over {len(table)} {'family' if len(table) == 1 else 'families'}: {overall:.2f}")
    print("\n".join(lines))
    summary = {"name": stem, "command": common.command_line(argv), "families": sequences,
               "device_seeds": args.device_seeds, "metrics": table, "mean_acc_over_families": overall,
               "settings": {k: v for k, v in vars(args).items() if k != "func"}}
    common.write_json(common.out_path(args.out, stem, "json"), summary)
    common.write_csv(common.out_path(args.out, stem, "csv"), rows)
    plot_families(table, common.out_path(args.out, stem, "png"),
                  f"{stem}: the device (C runtime) on {args.dataset} task families, "
                  f"{len(args.device_seeds)} device seed(s), mean ± sd")
    return summary


def plot_families(table: dict[str, dict[str, Any]], png: Any, title: str) -> None:
    """Bars of the mean accuracy over each family's tasks (ACC), with ± sd over the runs."""
    plt = common._mpl()
    fig, ax = plt.subplots(figsize=(1.4 * len(table) + 2, 3.6))
    acc = [t["avg_acc"] for t in table.values()]
    first = [t["first_task"] for t in table.values()]
    x = np.arange(len(table))
    ax.bar(x - 0.2, [a[0] for a in acc], 0.4, yerr=[a[1] for a in acc], capsize=3, label="mean over the tasks (ACC)")
    ax.bar(x + 0.2, [f[0] for f in first], 0.4, yerr=[f[1] for f in first], capsize=3, label="first task at the end")
    ax.set_xticks(x, list(table))
    ax.set_ylim(0, 118)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("task family")
    ax.set_title(common.wrap(title, 60), fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
