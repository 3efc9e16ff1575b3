"""The footprint command (bench/footprint.py, docs/FOOTPRINT.md) and the
instruction-counting QEMU plugin it uses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from targets_util import need, need_board

from targets.models import SHAPES

ROOT = Path(__file__).resolve().parent.parent


def test_footprint_command_runs_and_the_doc_has_its_table():
    need("gcc")
    need_board("rv32imc")
    done = subprocess.run([sys.executable, ROOT / "bench" / "footprint.py", "--board", "rv32imc"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("| rv32imc |")]
    assert len(rows) == len(SHAPES)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        flash, runtime, blob, app, lib, ram, arena, state = (int(c) for c in cells[2:10])
        assert flash == runtime + blob + app + lib
        # the runtime's code with conv layers (format version 2): 21,911 bytes on rv32imc (M0: 15,523 before, 21,451);
        # 27,535 with the learning arena's first-layer kernels (signs of the hidden weights), the straight-line
        # binary kernel of 8-15 word rows and the backward sums 4 rows at a time (issue 8, docs/PERFORMANCE.md);
        # with the optimized conv kernels as well (docs/CONV.md "Kernel speed"): 35,373 on rv32imc, 32,807 on the M0 (2026-12-02)
        assert 1000 < runtime < 40000 and arena > 0 and state > 0 and ram > arena + state
        used = int(re.search(r"\((\d+)\)", cells[10]).group(1))
        assert 0 < used < int(cells[10].split()[0])
        infer, learn = (float(c.replace(",", "")) for c in cells[12:14])
        assert 1000 < infer < learn
    doc = (ROOT / "docs" / "FOOTPRINT.md").read_text()
    assert "python bench/footprint.py --write docs/FOOTPRINT.md" in doc
    table = doc.split("<!-- footprint table")[1]
    for board in ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "rv32imc"):
        assert len(re.findall(rf"^\| {board} \|", table, re.M)) == len(SHAPES), board


def test_plugin_counts_are_repeatable():
    """Two runs of the same firmware count exactly the same instructions."""
    need("gcc")
    need_board("cortex-m3")
    from pyruntime.format import read_blob
    from targets import firmware
    from targets.insncount import instructions, symbols
    from targets.boards import board
    from targets.models import random_blob, random_stream

    blob = random_blob("bits")
    spec = read_blob(blob)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=40).to_bytes()
    b = board("cortex-m3")
    elf = firmware.build_learner(b, blob)
    syms = symbols(b, elf)
    first = instructions(b, elf, blob, stream, syms)
    assert first == instructions(b, elf, blob, stream, syms)
    assert first[0] > 0 and first[1] > first[0] and first[2] > 0
