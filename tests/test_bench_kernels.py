"""bench/kernels.py on one emulated board and the sensor model: the benchmark
firmware builds, every measurement is counted, and the optimized kernels
execute fewer instructions than the reference kernels (exact QEMU counts, not
timings). The full run is `python bench/kernels.py` (docs/PERFORMANCE.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs the Arm cross toolchain and QEMU (scripts/setup.sh)")


def test_sensor_model_on_cortex_m4() -> None:
    """Counts for every layer; each optimized kernel of an int8 or wide layer beats the reference."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "kernels.py"), "--boards", "cortex-m4",
                           "--models", "96-128-64-6 int8 (sensor)"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [ln.split("|")[1:-1] for ln in done.stdout.splitlines() if ln.startswith("| cortex-m4")]
    summary = [r for r in rows if len(r) > 6]
    layers = {r[2].strip(): (float(r[3]), float(r[4])) for r in rows if len(r) == 6}
    assert len(summary) == 1 and len(layers) == 3, done.stdout
    infer_ref, infer_opt = (float(summary[0][i].replace(",", "")) for i in (2, 3))
    assert 0 < infer_opt < infer_ref
    ref, opt = layers["0: int8 96x128"]
    assert 0 < opt < ref / 2, layers
    ref, opt = layers["1: bits 128x64"]
    assert 0 < opt < ref, layers
