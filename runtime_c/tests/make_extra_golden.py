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
- conv2d:   format version 2, int8 input maps 2x9x11, conv2d 6 3x3 pad 1
            pool 2, conv2d 5 2x3 stride (2, 1) pad (0, 1), dense 50-9-4, all learn
- conv1d:   format version 2, bit input maps 3x1x40, conv1d 8 k5 stride 2
            pad 2 pool 2 (frozen), conv1d 33 k3 pad 1 pool 2 (33 channels: two
            words per pixel), dense 165-6; errors pass into the conv layers
- rehearsal: format version 3, int8 input 24-30-5, all learn, with a rehearsal
            set of 13 samples: every learning call takes two steps
- memory:   as rehearsal (another seed), with 7 memory slots: the 100 learning
            calls fill the memory, then replace its rows (reservoir sampling),
            and the state ends with the memory section (state version 2)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from pyruntime.testing import Conv, golden_io, random_spec, random_stream  # noqa: E402
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


def rehearsal(spec):
    spec.rehearsal = random_stream(np.random.default_rng(114), 13, spec.n_inputs, spec.n_classes)
    return spec


def memory(spec):
    spec = rehearsal(spec)
    spec.memory = 7
    return spec


CASES = {
    # name: (seed, sizes, input kind, learns, n_learn, edit)
    "bits": (7, [70, 45, 7], KIND_BITS, [True, True], 300, None),
    "single": (8, [33, 4], KIND_INT8, [True], 200, None),
    "deep": (9, [64, 64, 32, 96, 10], KIND_INT8, [False, True, False, True], 150, None),
    "last": (10, [50, 40, 3], KIND_INT8, [False, True], 200, None),
    "extreme": (11, [24, 40, 6], KIND_INT8, [True, True], 200, extreme),
    "conv2d": (12, [198, 9, 4], KIND_INT8, [True] * 4, 120, None),
    "conv1d": (13, [120, 6], KIND_BITS, [False, True, True], 150, None),
    "rehearsal": (14, [24, 30, 5], KIND_INT8, [True, True], 100, rehearsal),
    "memory": (15, [24, 30, 5], KIND_INT8, [True, True], 100, memory),
}
# name: (input map, conv layers) of the conv cases
CONVS = {
    "conv2d": ((2, 9, 11), [Conv("conv2d", 6, (3, 3), (1, 1), (1, 1), 2),
                            Conv("conv2d", 5, (2, 3), (2, 1), (0, 1), 1)]),
    "conv1d": ((3, 1, 40), [Conv("conv1d", 8, (1, 5), (1, 2), (0, 2), 2),
                            Conv("conv1d", 33, (1, 3), (1, 1), (0, 1), 2)]),
}


def make(name: str, seed: int, sizes, kind, learns, n_learn: int, edit) -> None:
    rng = np.random.default_rng(seed)
    in_shape, convs = CONVS.get(name, (None, []))
    spec = random_spec(rng, sizes, kind, learns=learns, in_shape=in_shape, convs=convs)
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
    """Write every case, or only those named on the command line."""
    for name, args in CASES.items():
        if len(sys.argv) < 2 or name in sys.argv[1:]:
            make(name, *args)


if __name__ == "__main__":
    main()
