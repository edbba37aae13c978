#!/usr/bin/env bash
# Ped2 numbers of MNAD-P, MNAD-R and their no-memory baselines with MNAD's CPU profile.
#
# The `cpu` profile changes only the resolution and the epochs (plugins/mnad/README.md); each run
# is sized to take at most about 8 minutes on 2 CPU cores. Runs take the shared CPU lock, so heavy
# jobs go one at a time, and the clock starts once the lock is held. A run directory keeps what
# `vadbench table` and `vadbench metrics` read (config.json, metrics.json, frames.csv,
# train_log.csv); the weights are deleted. The paper's own setting is benchmarks/mnad_paper.sh.
#
#   benchmarks/ped2_mnad.sh                          # all four
#   DETECTORS="mnad-p" benchmarks/ped2_mnad.sh       # a subset
#   PROFILE=cpu SEED=1 benchmarks/ped2_mnad.sh       # another profile or seed
#   PED2_ROOT=/data/ped2 benchmarks/ped2_mnad.sh     # another copy of the dataset
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${PED2_ROOT:-../shared/datasets/ped2}
VADBENCH=${VADBENCH:-.venv/bin/vadbench}
LOCK=${VADBENCH_CPU_LOCK:-/tmp/vadbench-cpu.lock}
PROFILE=${PROFILE:-cpu}
SEED=${SEED:-0}

for det in ${DETECTORS:-mnad-p mnad-r mnad-p-nomem mnad-r-nomem}; do
  out=leaderboards/ped2/runs/$det-$PROFILE-s$SEED
  flock "$LOCK" bash -c 'set -e; began=$(date +%s); "$@"; echo "$3: $(( $(date +%s) - began )) s wall"' _ \
    "$VADBENCH" run "$det" --dataset ped2 --root "$ROOT" --profile "$PROFILE" --seed "$SEED" --out "$out" --overwrite
  rm -f "$out/model.pt" "$out/checkpoint.pt"
done
