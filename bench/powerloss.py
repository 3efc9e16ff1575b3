"""Fault injection on the flash store: power cuts while saving the learned state.

    python bench/powerloss.py --cuts 20000            # a long run
    python bench/powerloss.py --cuts 2000 --seed 1    # the reduced run of the test suite

A model learns from a random stream and saves its state to a simulated NOR
flash (runtime_c/sim/mbnn_flashsim.h) through mbnn_store_save. First the
power is cut at every program and erase operation of a save (at its start,
then at a random point inside it); then at random operations and random
points, half of them with the bits of the rest of the page scattered. After
every cut the board restarts and loads: it must get exactly the state before
that save or the one after it.

- states lost: the load gave a state that is neither (a mixture, garbage);
- torn loads: the load failed although an intact record existed.

The last line is `power cuts: N, states lost: L, torn loads: T`; the exit
status is 1 unless L = T = 0 and the store never broke a NOR rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyruntime.errors import MbnnError  # noqa: E402
from pyruntime.flash import SimFlash, state_fingerprint, store_load, store_save  # noqa: E402
from pyruntime.model import Model  # noqa: E402

DEFAULT_BLOB = ROOT / "tests" / "data" / "golden.mbnn"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cuts", type=int, default=12000, help="power cuts in all (default 12000)")
    p.add_argument("--blob", type=Path, default=DEFAULT_BLOB, help="a .mbnn blob in which a layer learns")
    p.add_argument("--seed", type=int, default=0, help="seed of the stream and of the cut points")
    p.add_argument("--prog", type=int, default=16, help="program unit in bytes (default 16)")
    p.add_argument("--block", type=int, default=256, help="erase block in bytes (default 256)")
    p.add_argument("--slots", type=int, default=3, help="records the region holds (default 3)")
    args = p.parse_args(argv)
    if args.cuts < 1:
        p.error(f"--cuts must be 1 or more, got {args.cuts}")
    if not args.blob.is_file():
        p.error(f"--blob {args.blob}: no such file; pass a .mbnn written by `python -m export`")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the fault injection; print a table and the summary line."""
    args = parse_args(argv)
    from tqdm import tqdm

    rng = np.random.default_rng(args.seed)
    a = Model.load(args.blob, learn=True)  # the board's model, learning
    b = Model.load(args.blob, learn=True)  # the board after a restart
    size = len(a.state())
    page = -(-64 // args.prog) * args.prog
    slot = -(-(page + -(-size // page) * page) // args.block) * args.block
    flash = SimFlash(slot * args.slots, args.block, args.prog)

    def learn(n: int) -> None:
        X = rng.integers(-128, 128, size=(n, a.n_inputs), dtype=np.int8)
        a.learn(X, rng.integers(0, a.n_classes, size=n))

    before_ops = flash.ops
    info = store_save(a, flash)
    ops_per_save = flash.ops - before_ops
    # Every operation twice (start, random point), then random ones.
    plan = [(op, 0, False) for op in range(1, ops_per_save + 1)]
    plan += [(op, int(rng.integers(1, 1 << 32)), False) for op in range(1, ops_per_save + 1)]
    while len(plan) < args.cuts:
        plan.append((int(rng.integers(1, ops_per_save + 1)), int(rng.integers(1, 1 << 32)), bool(rng.integers(2))))
    plan = plan[: args.cuts]

    lost = torn = got_new = got_old = saved_whole = 0
    for op, at, scatter in tqdm(plan, desc="power cuts", unit="cut", disable=None):
        store_load(b, flash)
        old = state_fingerprint(b)
        learn(int(rng.integers(1, 4)))
        new = state_fingerprint(a)
        flash.cut_power(op, at, scatter)
        try:
            store_save(a, flash)
            saved_whole += 1
        except MbnnError:
            pass
        flash.power_on()
        try:
            store_load(b, flash)
        except MbnnError:
            torn += 1
            continue
        fp = state_fingerprint(b)
        got_new += fp == new
        got_old += fp == old and fp != new
        lost += fp not in (old, new)
        if rng.integers(4) == 0:  # now and then an uncut save, so the records rotate
            store_save(a, flash)
    info = store_load(b, flash)

    print(f"{'model state':<34}{size:>10} bytes")
    print(f"{'flash: program / block / region':<34}{args.prog:>6} / {args.block} / {len(flash.mem)} bytes")
    print(f"{'records in the region':<34}{info.slots:>10} of {info.blocks_per_slot} blocks")
    print(f"{'operations per save':<34}{ops_per_save:>10}")
    print(f"{'loads: state after the save':<34}{got_new:>10}")
    print(f"{'loads: state before the save':<34}{got_old:>10}")
    print(f"{'cuts that came after the save':<34}{saved_whole:>10}")
    print(f"{'erases per block (min / max)':<34}{int(flash.erase_counts.min()):>6} / {int(flash.erase_counts.max())}")
    print(f"{'NOR rule violations':<34}{flash.violations:>10}")
    print(f"power cuts: {len(plan)}, states lost: {lost}, torn loads: {torn}")
    return 0 if lost == 0 and torn == 0 and flash.violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
