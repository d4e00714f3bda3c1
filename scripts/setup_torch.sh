#!/usr/bin/env bash
# Create .venv-torch (once) holding PyTorch for benchmarks/rnn_speed.py's torch candidate.
# A separate environment because the project does not depend on PyTorch, and because the speed
# benchmark runs each framework in its own process anyway (no TensorFlow next to torch here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv-torch/bin/python ]; then
  "$PYTHON" -m venv .venv-torch
fi
.venv-torch/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 numpy
.venv-torch/bin/python -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
