"""Power cuts on the emulated boards: the stream learner saves its state to a
NOR flash image (targets/common/flash_semihost.c) every SAVE_EVERY learning
steps; QEMU is killed at random points (inside saves too), restarted, and the
board must resume from its last saved state and end with the same log lines
and learned state as the host replaying the same stream with the same save
points (targets/hostlog.py). Two models: "int8" and "rehearsal" (a rehearsal
set and memory slots: two learning steps per labelled sample, and the memory
is part of the saved state). Cortex-M4 and rv32imc in the default suite, the
other boards with -m slow."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from targets_util import need_board

from export.blob import read_blob
from pyruntime import format as fmt
from targets import firmware
from targets.boards import BOARDS, board
from targets.hostlog import host_log
from targets.models import random_blob, random_stream

SAVE_EVERY = 20
KILLS = 3
FLASH_BYTES = 4 * 4096  # four 4 KiB sectors: four records of a test model (a page of header and the state)
SAVED = re.compile(r"^saved seq (\d+) step (\d+)$", re.M)
BOOT = re.compile(r"^boot (?:resume seq (\d+) step (\d+)|new: (.*))$", re.M)

FAST = ("cortex-m4", "rv32imc")
KINDS = ("int8", "rehearsal")
PARAMS = [pytest.param(name, kind, marks=() if name in FAST else pytest.mark.slow) for name in BOARDS
          if BOARDS[name].qemu for kind in KINDS]


def _run_until_killed(argv: list[str], work: Path, after: int) -> tuple[str, bool]:
    """Start QEMU and kill it (SIGKILL, to its process group: argv starts with
    `timeout`, and a kill of that alone leaves QEMU running to the end) as
    soon as it has printed `after` lines: (all it printed before it died,
    whether the kill cut it short). The board runs on for a moment while the
    kill is on its way, so the cut lands at some point after that line, inside
    a save or not. (A kill after a number of seconds missed too: the learner
    gets through the stream in less time than QEMU takes to start.)"""
    proc = subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    assert proc.stdout is not None
    lines = []
    try:
        while len(lines) < after:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        sent = len(lines) == after
        if sent:
            os.killpg(proc.pid, signal.SIGKILL)
        out = b"".join(lines) + proc.stdout.read()  # and what it wrote before the kill landed
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = out.decode()
    finished = log.endswith("\n") and log.splitlines()[-1].startswith("end ")
    return log, sent and not finished


def _boot(log: str) -> tuple[int, int] | str:
    m = BOOT.search(log)
    assert m, f"no boot line in:\n{log[:500]}"
    return (int(m.group(1)), int(m.group(2))) if m.group(3) is None else m.group(3)


@pytest.mark.parametrize(("name", "kind"), PARAMS)
def test_board_resumes_after_power_cuts(name: str, kind: str) -> None:
    need_board(name)
    blob = random_blob(kind, seed=5)
    spec = read_blob(blob)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=1000, seed=6)
    assert 256 + fmt.spec_state_size(spec) <= 4096, "a record (header page and state) fits a sector"
    elf = firmware.build_learner(name, blob, save_every=SAVE_EVERY)
    argv = ["timeout", "--kill-after=5", "120", *board(name).qemu_argv(str(elf))]
    rng = np.random.default_rng(sum(map(ord, name if kind == "int8" else name + kind)))
    work = Path(tempfile.mkdtemp(prefix=f"mbnn-resume-{name}-"))
    try:
        (work / "stream.bin").write_bytes(stream.to_bytes())
        # A whole run on a blank flash first: its length sets the kill points,
        # and it must match the host too (boot new, every save).
        (work / "flash.bin").write_bytes(b"\xff" * FLASH_BYTES)
        done = subprocess.run(argv, cwd=work, capture_output=True, timeout=180)
        n_lines = done.stdout.count(b"\n")  # sets the kill points
        want, state = host_log(blob, stream, save_every=SAVE_EVERY, boot=_boot(done.stdout.decode()))
        assert done.stdout.decode() == want and (work / "state.bin").read_bytes() == state
        (work / "flash.bin").write_bytes(b"\xff" * FLASH_BYTES)
        last_saved = 0  # the step of the last save a killed run reported
        kills = resumed = 0
        for _ in range(KILLS + 5):
            log, killed = _run_until_killed(argv, work, int(rng.uniform(0.05, 0.4) * n_lines))
            if killed and not BOOT.search(log):
                continue  # killed while QEMU started: the board never ran
            boot = _boot(log)
            start = boot[1] if isinstance(boot, tuple) else 0
            # the last save before the kill, or the one it was writing when killed
            assert start in (last_saved, last_saved + SAVE_EVERY), (boot, last_saved)
            resumed += isinstance(boot, tuple)
            # every whole line it printed is the host's (a resumed run goes on from the right sample)
            lines = log.splitlines()[:-1] if killed else log.splitlines()
            host_lines = host_log(blob, stream, save_every=SAVE_EVERY, boot=boot)[0].splitlines()
            assert lines == host_lines[:len(lines)], (boot, next(
                ((i, a, b) for i, (a, b) in enumerate(zip(lines, host_lines)) if a != b), None))
            saves = [int(s) for _, s in SAVED.findall(log)]
            last_saved = saves[-1] if saves else start
            kills += killed
            if kills == KILLS:
                break
        assert kills >= 2, f"only {kills} runs were cut short: kill earlier"
        done = subprocess.run(argv, cwd=work, capture_output=True, timeout=180)
        log = done.stdout.decode()
        assert done.returncode == 0, log[-2000:]
        boot = _boot(log)
        assert resumed + isinstance(boot, tuple) >= 2, "most restarts must resume from a saved state"
        start = boot[1] if isinstance(boot, tuple) else 0
        assert start in (last_saved, last_saved + SAVE_EVERY), (boot, last_saved)
        want, state = host_log(blob, stream, save_every=SAVE_EVERY, boot=boot)
        assert log == want
        assert (work / "state.bin").read_bytes() == state
    finally:
        shutil.rmtree(work, ignore_errors=True)
