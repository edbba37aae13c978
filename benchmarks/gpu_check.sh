#!/usr/bin/env bash
# The prepared GPU check of MNAD, under 8 minutes on one GPU: the device tests, fidelity against the
# official modules and against the CPU, MNAD-P/MNAD-R scoring frames/s at 256² (batch 1, update on;
# CUDA graph, eager, contiguous, bf16) and training iterations/s at batch 4, the whole pipeline of
# scoring Ped2's test set, then as many epochs of the paper's Ped2 MNAD-P recipe as the budget
# holds (--resume: the next call continues). Steps and output: benchmarks/gpu_check.py.
#
#   benchmarks/gpu_check.sh                                   # on a CUDA machine (256², BUDGET=420 s)
#   DEVICE=cpu QUICK=1 benchmarks/gpu_check.sh                # the CPU fallback: the same steps at 32², ~5 minutes
#   PED2_ROOT=/data/ped2 MNAD_OFFICIAL=~/src/MNAD benchmarks/gpu_check.sh
#   SETUP=1 PYTHON=python3 benchmarks/gpu_check.sh            # a Python with torch and the dependencies but no
#                                                             # vadbench: installs it in a venv beside that Python's
#                                                             # packages, offline (wheels of missing ones in .whl/)
#
# MNAD_OFFICIAL is a checkout of cvlab-yonsei/MNAD (no licence, so never copied here); without it the
# official comparisons are skipped with the reason. JSON=path writes the summary there too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
ROOT=${PED2_ROOT:-../shared/datasets/ped2}
if [ -n "${SETUP:-}" ]; then
  "$PYTHON" -m venv --system-site-packages /tmp/vadbench-gpu-venv
  if compgen -G ".whl/*.whl" > /dev/null; then
    /tmp/vadbench-gpu-venv/bin/pip install -q --no-deps --no-index .whl/*.whl
  fi
  /tmp/vadbench-gpu-venv/bin/pip install -q --no-deps --no-build-isolation --no-index -e . -e plugins/mnad
  PYTHON=/tmp/vadbench-gpu-venv/bin/python
fi
args=(--ped2 "$ROOT")
if [ -n "${QUICK:-}" ]; then args+=(--quick --budget "${BUDGET:-300}"); else args+=(--budget "${BUDGET:-420}"); fi
if [ -n "${DEVICE:-}" ]; then args+=(--device "$DEVICE"); fi
if [ -n "${JSON:-}" ]; then args+=(--json "$JSON"); fi
PYTHONUNBUFFERED=1 exec "$PYTHON" benchmarks/gpu_check.py "${args[@]}" "$@"
