#!/usr/bin/env bash
# Set up (scripts/setup.sh, seconds when nothing changed), then run every test:
# Python (export, reference, binding, targets) and, from pytest, the C runtime's
# own tests (tests/test_c_runtime.py). Extra arguments go to pytest, e.g.
#   bash scripts/test.sh -k binding -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export MBNN_REQUIRE_TARGETS=1  # a missing toolchain or QEMU fails instead of skipping
exec .venv/bin/python -m pytest -q tests "$@"
