#!/usr/bin/env bash
# MNAD in the paper's full setting: 256×256, batch 4, 60 epochs (Ped2, Avenue) or 10 (ShanghaiTech),
# the official code's defaults otherwise (on a GPU the card picks the full config, or ShanghaiTech's 10-epoch
# profile for its large training split). Needs a GPU: one
# 60-epoch Ped2 run at 256×256 would take about a week on a 2-core CPU (docs/mnad.md §12).
#
#   benchmarks/mnad_paper.sh                                    # Ped2, all four detectors, seed 0
#   DATASET=avenue ROOT=/data/avenue SEEDS="0 1 2" benchmarks/mnad_paper.sh
#   DETECTORS="mnad-p" EPOCHS=1 benchmarks/mnad_paper.sh        # a quick check of the set-up
#
# An interrupted run continues from its last epoch when the script is started again (--resume).
# Results go to leaderboards/<dataset>/runs/<detector>-paper-s<seed>; `vadbench table` reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-ped2}
ROOT=${ROOT:-../shared/datasets/$DATASET}
DEVICE=${DEVICE:-cuda}
SEEDS=${SEEDS:-0}
WORKERS=${WORKERS:-4}
VADBENCH=${VADBENCH:-.venv/bin/vadbench}

for seed in $SEEDS; do
  for det in ${DETECTORS:-mnad-p mnad-r mnad-p-nomem mnad-r-nomem}; do
    "$VADBENCH" run "$det" --dataset "$DATASET" --root "$ROOT" --device "$DEVICE" \
      --seed "$seed" --workers "$WORKERS" ${EPOCHS:+--epochs "$EPOCHS"} --resume \
      --out "leaderboards/$DATASET/runs/$det-paper-s$seed"
  done
done
