"""The runtime's C tests (runtime_c/tests) on every emulated board.

Built with the board's cross compiler and run under QEMU, they print
"N passed, N failed" and exit non-zero on a failure, like on the host.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from targets_util import ARM, RISCV, need_board

from targets import firmware
from targets.boards import BOARDS

# On the micro:bit (16 KiB of RAM) the C tests embed only the main golden
# (GOLDEN_EXTRAS=0, targets/Makefile): the buffers of the larger extra
# goldens would not fit.

@pytest.fixture(scope="module")
def runs():
    """The C tests of every board whose tools are there, started together on all cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        yield {name: pool.submit(firmware.run_ctests, name, 600) for name in BOARDS
               if all(shutil.which(t) for t in (RISCV if name == "rv32imc" else ARM))}


@pytest.mark.parametrize("name", list(BOARDS))
def test_c_tests_pass_on_board(runs, name):
    need_board(name)
    run = runs[name].result()
    tally = re.findall(r"^(\d+) passed, (\d+) failed$", run.log, re.M)
    assert tally, f"{name}: no tally in the output:\n{run.log[-2000:]}"
    passed, failed = map(int, tally[-1])
    assert failed == 0 and passed > 0, run.log[-3000:]
    assert run.returncode == 0
