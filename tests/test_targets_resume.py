"""Power cuts on the emulated boards: the stream learner saves its state to a
NOR flash image (targets/common/flash_semihost.c) every SAVE_EVERY learning
steps; QEMU is killed at random points (inside saves too), restarted, and the
board must resume from its last saved state and end with the same log lines
and learned state as the host replaying the same stream with the same save
points (targets/hostlog.py). Cortex-M4 and rv32imc in the default suite, the
other boards with -m slow."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from targets_util import need_board

from export.blob import read_blob
from targets import firmware
from targets.boards import BOARDS, board
from targets.hostlog import host_log
from targets.models import random_blob, random_stream

SAVE_EVERY = 20
KILLS = 3
FLASH_BYTES = 4 * 4096  # four 4 KiB sectors: four records of the test model
SAVED = re.compile(r"^saved seq (\d+) step (\d+)$", re.M)
BOOT = re.compile(r"^boot (?:resume seq (\d+) step (\d+)|new: (.*))$", re.M)

FAST = ("cortex-m4", "rv32imc")
PARAMS = [pytest.param(name, marks=() if name in FAST else pytest.mark.slow) for name in BOARDS
          if BOARDS[name].qemu]


def _run_until_killed(argv: list[str], work: Path, after: float) -> tuple[str, bool]:
    """Start QEMU and kill it (SIGKILL) `after` seconds later: (all it printed
    before it died, whether the kill cut it short)."""
    proc = subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=after)
        return out.decode(), False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=30)  # what it wrote before the kill
        return out.decode(), True


def _boot(log: str) -> tuple[int, int] | str:
    m = BOOT.search(log)
    assert m, f"no boot line in:\n{log[:500]}"
    return (int(m.group(1)), int(m.group(2))) if m.group(3) is None else m.group(3)


@pytest.mark.parametrize("name", PARAMS)
def test_board_resumes_after_power_cuts(name: str) -> None:
    need_board(name)
    blob = random_blob("int8", seed=5)
    spec = read_blob(blob)
    stream = random_stream(spec.n_inputs, spec.n_classes, n=1000, seed=6)
    elf = firmware.build_learner(name, blob, save_every=SAVE_EVERY)
    argv = ["timeout", "--kill-after=5", "120", *board(name).qemu_argv(str(elf))]
    rng = np.random.default_rng(sum(map(ord, name)))
    work = Path(tempfile.mkdtemp(prefix=f"mbnn-resume-{name}-"))
    try:
        (work / "stream.bin").write_bytes(stream.to_bytes())
        # A whole run on a blank flash first: its duration sets the kill times,
        # and it must match the host too (boot new, every save).
        (work / "flash.bin").write_bytes(b"\xff" * FLASH_BYTES)
        t0 = time.monotonic()
        done = subprocess.run(argv, cwd=work, capture_output=True, timeout=180)
        duration = time.monotonic() - t0
        want, state = host_log(blob, stream, save_every=SAVE_EVERY, boot=_boot(done.stdout.decode()))
        assert done.stdout.decode() == want and (work / "state.bin").read_bytes() == state
        (work / "flash.bin").write_bytes(b"\xff" * FLASH_BYTES)
        last_saved = 0  # the step of the last save a killed run reported
        kills = resumed = 0
        for _ in range(KILLS + 5):
            log, killed = _run_until_killed(argv, work, float(rng.uniform(0.05, 0.4)) * duration)
            if killed and not BOOT.search(log):
                continue  # killed while QEMU started: the board never ran
            boot = _boot(log)
            start = boot[1] if isinstance(boot, tuple) else 0
            # the last save before the kill, or the one it was writing when killed
            assert start in (last_saved, last_saved + SAVE_EVERY), (boot, last_saved)
            resumed += isinstance(boot, tuple)
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
