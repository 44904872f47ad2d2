#!/usr/bin/env bash
# Scores the fold models of a `lumen cv` folder on their own held-out images with several numbers of
# test-time augmentation passes (same models, so the columns differ only by TTA), one line per fold
# and a mean ± sd line per TTA setting.
#
#   bench/experiments/tta-folds.sh CVDIR DATA "0 4 8" [LUMEN]
set -euo pipefail
cv=$1 data=$2 ttas=$3 lumen=${4:-lumen}
for tta in $ttas; do
  accs=()
  for model in "$cv"/fold-*/model.lumen; do
    acc=$("$lumen" evaluate "$model" "$data" --split valid --tta "$tta" 2>&1 | sed -n 's/^│ accuracy *│ \([0-9.]*\) *│$/\1/p')
    accs+=("$acc")
    echo "tta $tta $(basename "$(dirname "$model")") accuracy $acc"
  done
  python3 -c "import statistics as s, sys; v=[float(a) for a in sys.argv[1:]]; print(f'tta $tta mean ± sd {s.mean(v):.3f} ± {s.stdev(v):.3f} over {len(v)} folds')" "${accs[@]}"
done
