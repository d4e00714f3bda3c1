#!/usr/bin/env bash
# Set up the virtual environment and run the test suite (slow real-data runs excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PYTHONPATH="$PWD" .venv/bin/python -m pytest -q "$@"
