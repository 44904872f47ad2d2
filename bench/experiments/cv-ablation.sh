#!/usr/bin/env bash
# Ranks training recipes by k-fold cross-validation on a labelled folder (issue 11's ablation).
# Each line of the recipes file is a name and the flags given to `lumen cv`; one result line per
# recipe is appended to the results file: accuracy, macro-F1 and MCC as mean ± sd over folds, and
# the wall time of the whole cross-validation.
#
#   bench/experiments/cv-ablation.sh RECIPES RESULTS [DATA] [LUMEN] [WORK]
#
# DATA defaults to the bundled samples/brain-mri, LUMEN to a copy of the Release CLI (copy it so a
# rebuild during a long run does not change the binary under it). WORK keeps each recipe's cv folder
# (fold models, oof.csv, log) for later scoring, e.g. `lumen evaluate WORK/NAME/fold-1/model.lumen
# DATA --split valid --tta 4`; without it they go to a temporary folder, removed at the end.
set -euo pipefail
recipes=$1 results=$2
data=${3:-$(dirname "$0")/../../samples/brain-mri}
lumen=${4:-lumen}
if [ -n "${5:-}" ]; then
  work=$5; mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
grep -v '^\s*\(#\|$\)' "$recipes" | while read -r name flags; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  if "$lumen" cv "$data" $flags --out "$work/$name" > "$work/$name.log" 2>&1; then
    python3 - "$work/$name/cv.json" "$name" "$(( $(date +%s) - start ))" "$flags" >> "$results" <<'PY'
import json, sys
cv = json.load(open(sys.argv[1]))
f = lambda m: f"{cv[m]['mean']:.3f} ± {cv[m]['sd']:.3f}"
per_fold = " ".join(f"{r['metrics']['accuracy']:.3f}" for r in cv["per_fold"])
print(f"{sys.argv[2]:<28} acc {f('accuracy')}  f1 {f('f1_score')}  mcc {f('matthews_corrcoef')}  folds [{per_fold}]  {int(sys.argv[3])} s  flags: {sys.argv[4]}")
PY
  else
    echo "$name FAILED ($(tail -1 "$work/$name.log"))" >> "$results"
  fi
done
