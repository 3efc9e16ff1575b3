"""Regenerate tests/data/golden.mbnn and golden_io.json with the integer reference.

The golden files are checked in: they pin format version 1 and its arithmetic.
Run this only when the format or the arithmetic changes on purpose:
    python tests/data/make_golden.py
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]

from blobgen import random_spec, random_stream  # noqa: E402
from export.blob import KIND_INT8, write_atomic, write_blob  # noqa: E402
from pyruntime.reference import Model  # noqa: E402


def main() -> None:
    """Write the golden blob (int8 input 20-37-33-5, layers 0 and 2 learn) and its expected outputs."""
    rng = np.random.default_rng(2021)
    spec = random_spec(rng, [20, 37, 33, 5], KIND_INT8, learns=[True, False, True])
    blob = write_blob(spec)
    model = Model.load(blob)
    x_inf, _ = random_stream(rng, 16, model.n_inputs, model.n_classes)
    x_learn, y_learn = random_stream(rng, 64, model.n_inputs, model.n_classes)
    io = {
        "infer_inputs": x_inf.tolist(),
        "infer_logits": model.infer(x_inf).tolist(),
        "infer_predictions": model.predict(x_inf).tolist(),
        "learn_inputs": x_learn.tolist(),
        "learn_labels": y_learn.tolist(),
        "learn_predictions": model.learn(x_learn, y_learn).tolist(),
        "learn_losses": model.last_losses.tolist(),
    }
    state = model.state()
    io.update(
        state_size=len(state),
        state_crc_after_learning=zlib.crc32(state),
        step_after_learning=model.step,
        logits_after_learning=model.infer(x_inf).tolist(),
    )
    write_atomic(HERE / "golden.mbnn", blob)
    write_atomic(HERE / "golden_io.json", (json.dumps(io, indent=1) + "\n").encode())
    print(f"golden.mbnn: {len(blob)} bytes; state {len(state)} bytes")


if __name__ == "__main__":
    main()
