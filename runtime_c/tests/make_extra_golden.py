"""Regenerate the extra golden data of the C tests (runtime_c/tests/data/) with
the integer reference (pyruntime/reference.py). Needs numpy; run from anywhere:

    python runtime_c/tests/make_extra_golden.py

tests/data/golden.mbnn (tests/data/make_golden.py) is the main golden: int8
input 20-37-33-5. These add the cases it does not cover, each a NAME.mbnn with
NAME.json in the key format of tests/data/golden_io.json:

- bits:     bit input (layer 0 binarizes the features by sign), 70-45-7, all learn
- single:   one layer, int8 input, 33-4, learns (the output layer alone)
- deep:     widths that are multiples of 32 (no padding), 64-64-32-96-10,
            layers 1 and 3 learn (errors pass through layers that do not)
- last:     only the output layer learns, 50-40-3 (no backward pass)
- extreme:  every constant at its limit: learning rate 2^24, rms_shift 0,
            out_frac_bits 1, bwd_shift 0, |gscale| 32767, m = 3: hidden
            weights saturate, the softmax is one-hot, steps clamp
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from pyruntime.testing import golden_io, random_spec  # noqa: E402
from export.blob import KIND_BITS, KIND_INT8, meta_table, write_atomic, write_blob  # noqa: E402


def extreme(spec):
    spec.rms_shift = 0
    spec.out_frac_bits = 1
    for layer in spec.layers:
        layer.bwd_shift = 0
        layer.gscale = np.where(np.asarray(layer.gscale) >= 0, 32767, -32767)
        if layer.learns:
            layer.lr_q16 = 1 << 24
            layer.meta = meta_table(3.0, layer.hscale_log2)
    return spec


CASES = {
    # name: (seed, sizes, input kind, learns, n_learn, edit)
    "bits": (7, [70, 45, 7], KIND_BITS, [True, True], 300, None),
    "single": (8, [33, 4], KIND_INT8, [True], 200, None),
    "deep": (9, [64, 64, 32, 96, 10], KIND_INT8, [False, True, False, True], 150, None),
    "last": (10, [50, 40, 3], KIND_INT8, [False, True], 200, None),
    "extreme": (11, [24, 40, 6], KIND_INT8, [True, True], 200, extreme),
}


def make(name: str, seed: int, sizes, kind, learns, n_learn: int, edit) -> None:
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, sizes, kind, learns=learns)
    if edit is not None:
        spec = edit(spec)
    blob = write_blob(spec)
    io, state = golden_io(blob, rng, 12, n_learn)
    (HERE / "data").mkdir(exist_ok=True)
    write_atomic(HERE / "data" / f"{name}.mbnn", blob)
    write_atomic(HERE / "data" / f"{name}.json", (json.dumps(io) + "\n").encode())
    acc = float(np.mean(np.asarray(io["learn_predictions"]) == io["learn_labels"]))
    print(f"{name}: {len(blob)} bytes, state {len(state)} bytes, accuracy while learning {acc:.2f}")


def main() -> None:
    for name, args in CASES.items():
        make(name, *args)


if __name__ == "__main__":
    main()
