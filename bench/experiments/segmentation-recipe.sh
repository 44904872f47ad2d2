#!/usr/bin/env bash
# Ranks segmentation recipe ideas by 3-fold cross-validation on the Kvasir-SEG development set, at the
# reduced size and epochs of bench/results/segmentation/segment-3fold-96px-e4.txt (same folds, seed 42),
# one idea per run: the default recipe, then each idea's flags.
#   bench/experiments/segmentation-recipe.sh "--dice-weight 1" "--size 128"
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build src/Lumen.Cli -c Release -v quiet
lumen=src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen.dll
for flags in "" "$@"; do
  name=$(echo "default $flags" | tr -c 'a-z0-9\n' '-' | sed 's/--*/-/g; s/-$//')
  echo "== $flags"
  # shellcheck disable=SC2086
  dotnet "$lumen" cv ../shared/data/kvasir-seg-dev --folds 3 --seed 42 --size 96 --epochs 4 --freeze-epochs 1 --bs 16 $flags --out "runs/seg-rank-$name" \
    | grep -E "^fold [0-9]|-fold"
done
