#!/usr/bin/env bash
# Mutation testing (mutmut 3, installed into .venv on demand, never a requirement): each module is
# mutated in a copy under .mutation/ (gitignored) and run against the tests that guard it; results go
# to .mutation/<module>.json and .mutation/summary.md. docs/mutation.md has the last scores.
#
#   bash scripts/mutation.sh            # the default set below: many hours on 2 cores (see docs/mutation.md)
#   bash scripts/mutation.sh common/metrics/tagging.py tasks/forecasting/data.py:fit_state
#   bash scripts/mutation.sh --sample 12 tasks/ner/export.py   # a random 12 of the module's mutants
#   bash scripts/mutation.sh --no-conformance tasks/forecasting/export.py   # unit tests only
#
#   bash scripts/mutation.sh --resume --budget 1800 common/serving.py   # go on with a stopped run
#
# A module is path.py or path.py:function[,Class.method]; the options are those of
# scripts/mutation_run.py (--sample N, --seed S, --max-children N, --budget SECONDS, --resume,
# --no-conformance, --isolation). An export's mutants also run the conformance check
# `tests/tasks/test_conformance.py -k "<task> and without_the_serving_graph"`, which trains the demo
# model (30-60 s or more per mutant on 2 cores): sample them, or pass --no-conformance.
# MUTATION_PYTHON picks the interpreter (default .venv/bin/python, made by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MUTMUT_VERSION=3.8.1
PY="${MUTATION_PYTHON:-.venv/bin/python}"
if [ -z "${MUTATION_PYTHON:-}" ] && [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh
fi
if [ "$("$PY" -c 'import importlib.metadata as m; print(m.version("mutmut"))' 2>/dev/null)" != "$MUTMUT_VERSION" ]; then
  "$PY" -m pip install -q --disable-pip-version-check "mutmut==$MUTMUT_VERSION"
fi
DEFAULT=(
  common/metrics/classification.py common/metrics/forecasting.py
  common/metrics/tagging.py common/metrics/translation.py
  common/serving.py
  tasks/forecasting/data.py:fit_state
  tasks/sentiment/dataset.py:fit_vocabulary
  tasks/language_model/data.py:fit_vocabulary
  tasks/translation/data.py:build_vocabulary
  tasks/forecasting/export.py tasks/language_model/export.py
  tasks/ner/export.py tasks/sentiment/export.py
)
has_module=0
for arg in "$@"; do case "$arg" in *.py|*.py:*) has_module=1 ;; esac; done
if [ "$has_module" = 0 ]; then set -- "$@" "${DEFAULT[@]}"; fi
exec nice -n 10 "$PY" scripts/mutation_run.py "$@"
