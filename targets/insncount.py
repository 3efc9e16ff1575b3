"""Instructions executed on an emulated board, counted by the QEMU plugin
targets/plugin/insncount.c between marks of the stream learner (used by
bench/footprint.py and its tests)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from targets import firmware
from targets.boards import Board

def symbols(board: Board, elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of every sized symbol."""
    out = subprocess.run([f"{board.cross}nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3 and parts[2].startswith("learner_mark"):
            syms[parts[2]] = (int(parts[0], 16), 0)
    return syms


def instructions(board: Board, elf: Path, blob: bytes, stream: bytes, syms: dict) -> tuple[float, float, int]:
    """Mean instructions per inference and per learning step over the stream,
    and the stack's high-water mark (bytes) of the run."""
    plugin = firmware.counting_plugin()
    marks = [syms[n][0] for n in ("learner_mark_infer", "learner_mark_learn", "learner_mark_done")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "marks.txt"
        arg = f"{plugin}," + ",".join(f"mark={a:#x}" for a in marks) + f",out={out}"
        proc, work = firmware.run_elf(board, elf, {"stream.bin": stream}, 600, arg)
        stack = int((work / "stack.txt").read_text()) if (work / "stack.txt").exists() else -1
        shutil.rmtree(work, ignore_errors=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{board.name}: learner exited {proc.returncode}: {proc.stdout[-300:]!r}")
        rows = [ln.split() for ln in out.read_text().splitlines() if not ln.startswith("total")]
    # Pairs (begin mark, done mark); the first pair calibrates the marks' own cost.
    pairs = [(int(a[0]), int(b[1]) - int(a[1])) for a, b in zip(rows[::2], rows[1::2])]
    overhead = pairs[0][1]
    infer = [d - overhead for k, d in pairs[1:] if k == 0]
    learn = [d - overhead for k, d in pairs[1:] if k == 1]
    return sum(infer) / len(infer), sum(learn) / len(learn), stack
