"""Shared helpers of the targets tests (tests/test_targets*.py)."""

from __future__ import annotations

import os
import shutil

import pytest

ARM = ["arm-none-eabi-gcc", "qemu-system-arm"]
RISCV = ["riscv64-unknown-elf-gcc", "qemu-system-riscv32"]


def need(*tools: str) -> None:
    """Skip when a tool is missing (scripts/setup.sh installs them all); with
    MBNN_REQUIRE_TARGETS=1 (CI) a missing tool fails the test instead."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"{', '.join(missing)} not installed (scripts/setup.sh installs the toolchains and QEMU)"
        if os.environ.get("MBNN_REQUIRE_TARGETS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def optional(*tools: str) -> None:
    """Skip when an optional tool is missing (cmake, the LX106 compiler), even in CI."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"optional {', '.join(missing)} not installed")


def need_board(name: str) -> None:
    """Skip (or fail, see need) unless the toolchain and QEMU of a board are there."""
    need(*(RISCV if name == "rv32imc" else ARM), "make")
