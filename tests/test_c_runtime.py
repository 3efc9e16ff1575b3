"""The C runtime's own tests (runtime_c/tests/), built and run through make:
with gcc and clang (and the portable SWAR popcount, and the reference kernels), under AddressSanitizer and
UndefinedBehaviorSanitizer, and compiled for Cortex-M0, Cortex-M4 and RISC-V
rv32imc. Nothing is skipped: a missing compiler fails with what to do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime_c"
TALLY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
SETUP_HINT = "run `bash scripts/setup.sh` (it installs the host and cross compilers)"


def require(*tools: str) -> None:
    """Fail (never skip) when a tool the test needs is not installed."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)}; {SETUP_HINT}", pytrace=False)


def make(target: str, build: str, timeout: int = 900) -> str:
    """Run `make -C runtime_c TARGET` in its own build folder (so that pytest
    -n can run targets side by side); return the output, fail on an error."""
    cmd = ["make", "-C", str(RUNTIME), target, f"BUILD=build/pytest-{build}", f"PYTHON={sys.executable}"]
    env = dict(os.environ, MAKEFLAGS="")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{out[-6000:]}", pytrace=False)
    return out


def assert_all_passed(out: str, runs: int) -> None:
    """Every test binary printed its tally, with 0 failed."""
    tallies = [(int(p), int(f)) for p, f in TALLY.findall(out)]
    assert len(tallies) == runs, f"expected {runs} test runs, found {len(tallies)} tallies:\n{out[-4000:]}"
    for passed, failed in tallies:
        assert failed == 0, out[-4000:]
        assert passed > 1000, f"only {passed} checks ran:\n{out[-4000:]}"
    assert "0 failed" in out


def test_c_runtime_gcc_and_clang() -> None:
    """make test: gcc, gcc with the reference kernels (MBNN_KERNELS=0), gcc with the
    SWAR popcount and no x86 dispatch, clang; -Werror with -Wpedantic -Wconversion."""
    require("make", "gcc", "clang")
    assert_all_passed(make("test", "test"), runs=4)


def test_c_runtime_sanitizers() -> None:
    """make sanitize: the same tests under -fsanitize=address,undefined, no recovery."""
    require("make", "gcc", "clang")
    assert_all_passed(make("sanitize", "sanitize"), runs=2)


def test_c_runtime_cross_compiles() -> None:
    """make cross-check: runtime and tests compile warning-free for Cortex-M0/M4 and rv32imc."""
    require("make", "clang", "arm-none-eabi-gcc", "riscv64-unknown-elf-gcc")
    out = make("cross-check", "cross")
    # Each target's stamp is written only after all its files compiled, and
    # make rebuilds it whenever a source changed.
    for target in ("cm0", "cm4", "rv32imc", "clang-cm0"):
        stamp = RUNTIME / "build" / "pytest-cross" / "cross" / target / ".ok"
        assert stamp.exists(), f"no {stamp}:\n{out[-4000:]}"
