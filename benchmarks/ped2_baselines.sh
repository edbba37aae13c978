#!/usr/bin/env bash
# Ped2 numbers of the reconstruction baselines (ConvAE, MemAE, AE-Conv3D) with their CPU profiles.
#
# Each run is sized to take at most about 8 minutes on 2 CPU cores; runs take the shared CPU lock,
# so heavy jobs go one at a time. A run directory keeps what `vadbench table` and `vadbench
# metrics` read (config.json, metrics.json, frames.csv, train_log.csv); the weights are deleted.
#
#   benchmarks/ped2_baselines.sh                      # all three
#   DETECTORS="memae" benchmarks/ped2_baselines.sh    # a subset
#   PED2_ROOT=/data/ped2 benchmarks/ped2_baselines.sh # another copy of the dataset
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${PED2_ROOT:-../shared/datasets/ped2}
VADBENCH=${VADBENCH:-.venv/bin/vadbench}
LOCK=${VADBENCH_CPU_LOCK:-/tmp/vadbench-cpu.lock}

for det in ${DETECTORS:-convae memae memae-nomem}; do
  out=leaderboards/ped2/runs/$det-cpu-s0
  # the clock starts once the lock is held, so waiting for other jobs is not counted
  flock "$LOCK" bash -c 'set -e; began=$(date +%s); "$@"; echo "$3: $(( $(date +%s) - began )) s wall"' _ \
    "$VADBENCH" run "$det" --dataset ped2 --root "$ROOT" --profile cpu --seed 0 --out "$out" --overwrite
  rm -f "$out/model.pt" "$out/checkpoint.pt"
done
