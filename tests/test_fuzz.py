"""The fuzz smoke run (runtime_c/fuzz/README.md): every libFuzzer harness for a
bounded time under ASan and UBSan; any finding fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT


def test_fuzz_smoke_finds_nothing() -> None:
    if shutil.which("clang") is None:
        if os.environ.get("MBNN_REQUIRE_TARGETS"):
            pytest.fail("clang is not installed: run scripts/setup.sh")
        pytest.skip("clang is not installed")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "runtime_c"), "fuzz-smoke", "FUZZ_TIME=8"],
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    lines = re.findall(r"^fuzz_(\w+): (\d+) executions in \d+ s, 0 findings$", proc.stdout, re.M)
    assert sorted(name for name, _ in lines) == ["blob", "learn", "state", "store"], out[-2000:]
    assert all(int(execs) > 0 for _, execs in lines)
