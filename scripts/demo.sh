#!/usr/bin/env bash
# Set up a virtual environment (once) and run the demo of every task end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
PYTHONPATH="$PWD" .venv/bin/python -m tasks.demo "$@"
