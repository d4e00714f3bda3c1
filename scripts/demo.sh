#!/usr/bin/env bash
# Set up the virtual environment and run the demo of every task end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PYTHONPATH="$PWD" .venv/bin/python -m tasks.demo "$@"
