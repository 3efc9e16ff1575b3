"""Regenerate tests/data/golden.mbnn and golden_io.json with the integer reference.

The golden files are checked in: they pin format version 1 and its arithmetic.
Run this only when the format or the arithmetic changes on purpose:
    python tests/data/make_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from export.blob import KIND_INT8, write_atomic, write_blob  # noqa: E402
from pyruntime.testing import golden_io, random_spec  # noqa: E402


def main() -> None:
    """Write the golden blob (int8 input 20-37-33-5, layers 0 and 2 learn) and its expected outputs."""
    rng = np.random.default_rng(2021)
    spec = random_spec(rng, [20, 37, 33, 5], KIND_INT8, learns=[True, False, True])
    blob = write_blob(spec)
    io, state = golden_io(blob, rng, 16, 64)
    write_atomic(HERE / "golden.mbnn", blob)
    write_atomic(HERE / "golden_io.json", (json.dumps(io, indent=1) + "\n").encode())
    print(f"golden.mbnn: {len(blob)} bytes; state {len(state)} bytes")


if __name__ == "__main__":
    main()
