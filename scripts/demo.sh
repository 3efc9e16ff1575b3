#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the main job: examples/quickstart.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/quickstart.py "$@"
