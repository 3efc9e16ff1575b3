"""The main job of metabnn, end to end, in about a minute (`bash scripts/demo.sh`):

1. train a small metaplastic BNN on scikit-learn's digits in PyTorch (m = 10:
   digits is tiny, and 20 short epochs leave the hidden weights small, so it
   takes a larger m to reach the consolidation `m |Wh|` that m = 1.35 reaches
   after the paper's 40 epochs of MNIST; see docs/RESULTS.md);
2. export it to a .mbnn blob and a C header (`python -m export`, no flags:
   the weights the trained task needs consolidated, by the importance that
   training stored in the checkpoint; 100 training samples in the blob as a
   rehearsal set and 100 memory slots for samples of the stream, and with
   them the device's m 0.7), checked against PyTorch;
3. let the C runtime (on the host, through pyruntime) learn a new task from a
   stream, one sample at a time, with export's defaults (after each new sample
   the device relearns one of the 100 training samples or of the stream samples
   its memory keeps), without the memory, without the rehearsal set, also with
   m = 0 on the same consolidated weights, and plain
   (none of them), and measure what each kept of the first task (docs/RESULTS.md
   section 6);
4. run the same stream through the firmware on an emulated Cortex-M4 board
   (QEMU) and check that the board's log is byte-identical to the host's.

Everything is written under build/quickstart/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "quickstart"
BOARD = "cortex-m4"


def sh(*args: str) -> None:
    """Run one of the project's command lines, as a user would, and stop on failure."""
    print(f"\n$ python {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy in %."""
    return 100.0 * float(np.mean(model.predict(x) == y))


def continual(blob: bytes, old, new) -> dict[str, float]:
    """Learn the new task's training stream once, one sample at a time, in the C
    runtime; accuracy on both tasks before and after."""
    from pyruntime import Model

    model = Model.load(blob)
    xo, xn = old.quantize(old.x_test), new.quantize(new.x_test)
    res = {"old before": accuracy(model, xo, old.y_test), "new before": accuracy(model, xn, new.y_test)}
    preds = model.learn(new.quantize(new.x_train), new.y_train)
    res["online"] = 100.0 * float(np.mean(preds == new.y_train))
    res["old after"], res["new after"] = accuracy(model, xo, old.y_test), accuracy(model, xn, new.y_test)
    return res


def folded(ckpt: Path, **options) -> bytes:
    """The checkpoint folded as `python -m export` does (its importance, no rehearsal set), with
    `export.fold.fold`'s keyword `options`."""
    from export.blob import write_blob
    from export.checkpoint import importance_of, load_model
    from export.fold import fold

    model, saved = load_model(ckpt)
    return write_blob(fold(model, saved["settings"], importance=importance_of(saved, model, str(ckpt)),
                           **options)[0])


def without_memory(blob: bytes, ckpt: Path) -> bytes:
    """The blob as `python -m export --memory 0` writes it: the same rehearsal set, no memory slots,
    and the device m of a set alone."""
    from export.blob import read_blob

    return folded(ckpt, rehearsal=read_blob(blob).rehearsal)


def without_metaplasticity(blob: bytes) -> bytes:
    """The same blob with m = 0: every metaplastic factor 1 (the consolidated weights kept)."""
    from export.blob import meta_table, read_blob, write_blob

    spec = read_blob(blob)
    for layer in spec.layers:
        if layer.learns:
            layer.meta = meta_table(0.0, layer.hscale_log2)
    return write_blob(spec)


def device_m(blob: bytes, ckpt: Path) -> float:
    """The m export chose for the device (`export.fold.device_meta`: from the training m, with a
    rehearsal set from its memory slots, without one from the median consolidated hidden weight,
    docs/ARITHMETIC.md)."""
    from export.blob import read_blob
    from export.checkpoint import load_model
    from export.fold import device_meta, median_hidden

    trained = load_model(ckpt)[1]["settings"]["meta"]
    trained = trained[0] if isinstance(trained, list) else trained
    spec = read_blob(blob)
    if spec.rehearsal is None:
        return device_meta(trained, median_hidden(spec.layers))
    return device_meta(trained, None, spec.memory)


def main() -> int:
    """Run the four steps and print what happened."""
    OUT.mkdir(parents=True, exist_ok=True)
    ckpt, blob_path, header = OUT / "model.pt", OUT / "model.mbnn", OUT / "model.h"
    rel = lambda p: str(p.relative_to(ROOT))  # noqa: E731

    print("== 1. train a metaplastic BNN (64-128-10) on digits, MetaAdam, m = 10")
    sh("-m", "export.train", "--dataset", "digits", "--sizes", "64,128,10", "--epochs", "20",
       "--meta", "10", "-o", rel(ckpt))

    print("\n== 2. export: BatchNorm folded into integer thresholds, int8 hidden weights, bits packed")
    sh("-m", "export", rel(ckpt), "-o", rel(blob_path), "--header", rel(header), "--verify", "digits")

    print("\n== 3. on-device learning in the C runtime: a new task (digits with permuted pixels),")
    print("      one sample at a time, each seen once, no task boundary")
    from export.data import load

    old, new = load("digits"), load("pdigits:1")
    blob = blob_path.read_bytes()
    alone = folded(ckpt)  # as `python -m export --rehearsal 0` writes it: the device m then rises to 10
    no_memory = without_memory(blob, ckpt)
    rows = {f"export's defaults (m = {device_m(blob, ckpt):.1f})": continual(blob, old, new),
            f"set, no memory (m = {device_m(no_memory, ckpt):.1f})": continual(no_memory, old, new),
            f"no rehearsal set (m = {device_m(alone, ckpt):.1f})": continual(alone, old, new),
            "no rehearsal, m = 0": continual(without_metaplasticity(alone), old, new),
            "plain (m = 0, C = 1)": continual(folded(ckpt, consolidate=1.0, meta=0.0), old, new)}
    print(f"{'':30s} {'old task':>18s} {'new task':>18s} {'online acc':>11s}")
    for name, r in rows.items():
        print(f"{name:30s} {r['old before']:6.1f}% -> {r['old after']:5.1f}% "
              f"{r['new before']:6.1f}% -> {r['new after']:5.1f}% {r['online']:10.1f}%")

    print(f"\n== 4. the same learning on an emulated board ({BOARD}, QEMU) against the host")
    from targets.firmware import run_learner
    from targets.hostlog import host_log
    from targets.stream import Stream

    n = 400
    stream = Stream(new.quantize(new.x_train[:n]), new.y_train[:n].astype(np.int64))
    board = run_learner(BOARD, blob, stream.to_bytes())
    if board.returncode != 0:
        print(f"the board failed (exit {board.returncode}): {board.stderr.strip()}")
        return 1
    host, host_state = host_log(blob, stream)
    print(f"board log: {len(board.log.splitlines())} lines; last: {board.log.splitlines()[-1]}")
    print(f"host  log: {len(host.splitlines())} lines; last: {host.splitlines()[-1]}")
    same = board.log == host and board.state == host_state
    print(f"board and host logs byte-identical, learned states equal: {'yes' if same else 'NO'}")
    print(f"\nfiles: {rel(ckpt)}, {rel(blob_path)}, {rel(header)} (compile it into firmware)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
