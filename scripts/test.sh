#!/usr/bin/env bash
# Set up the virtual environment and run the test suite (slow real-data runs excluded), one pytest worker
# per CPU; a test file stays on one worker, so its module fixtures are built once (tests/conftest.py: the
# task contract is split per task). `-n 0` runs serially.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PYTHONPATH="$PWD" .venv/bin/python -m pytest -q -n auto --dist loadgroup "$@"
