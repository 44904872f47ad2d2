#!/usr/bin/env bash
# Inference and serving speed before and after the ONNX engine, in one quiet run (nothing else on the CPU):
#   bench/experiments/inference-speed.sh <before-checkout> <cv-folder> <results-folder>
# <before-checkout>: a built checkout of the commit before the ONNX engine (its CLI and bench: the "today"
# figures); <cv-folder>: a finished `lumen cv` output (its fold models for the precision benchmark).
set -euo pipefail
cd "$(dirname "$0")/../.."
before="$1"; cv="$2"; out="$3"
mkdir -p "$out"
bench=bench/Lumen.Bench/bin/Release/net10.0/linux-x64/Lumen.Bench
cli=src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen
old_bench="$before/bench/Lumen.Bench/bin/Release/net10.0/linux-x64/Lumen.Bench"
old_cli="$before/src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen"

# A folder of a few thousand 224 px JPEGs: the bundled sample six times (2,880 files).
folder=$(mktemp -d)/images
for c in 0 1 2 3 4 5; do mkdir -p "$folder/copy$c"; cp -r samples/brain-mri/* "$folder/copy$c/"; done
# A trained model (int8 calibration included, as train writes it): fold 1 of the cross-validation.
model="$cv/fold-1/model.lumen"
"$cli" calibrate "$model" samples/brain-mri > /dev/null  # no-op for new models; older fold models get one

{
  echo "# lumen predict on $(find "$folder" -name '*.jpg' | wc -l) JPEGs (224 px), $(nproc) cores, $(date -u +%F)"
  # The CLI before the flag convention wrote predictions with --csv; since, --out.
  for run in "before:$old_cli::--csv" "after-auto:$cli::--out" "after-float32:$cli:--precision float32:--out"; do
    IFS=: read -r name bin extra flag <<< "$run"
    start=$(date +%s.%N)
    "$bin" predict "$model" "$folder" "$flag" "$out/.predict-$name.csv" $extra > /dev/null 2>&1
    end=$(date +%s.%N)
    n=$(($(wc -l < "$out/.predict-$name.csv") - 1))
    echo "$name: $n images in $(echo "$end - $start" | bc) s = $(echo "scale=1; $n / ($end - $start)" | bc) img/s (process start and model load included) ($bin predict model $folder $flag out.csv $extra)"
    rm -f "$out/.predict-$name.csv"
  done
} | tee "$out/predict-folder-cli.txt"

"$bench" predict "$model" --folder "$folder" --seconds 6 | tee "$out/predict-engines.txt"
"$bench" precision "$cv" --seconds 5 | tee "$out/precision-cv.txt"
{
  echo "## before ($before)"; "$old_bench" serve-load --clients 50 --seconds 60
  echo "## after (auto: onnx int8)"; "$bench" serve-load --clients 50 --seconds 60
  echo "## after (onnx float32)"; "$bench" serve-load --clients 50 --seconds 60 --precision float32
} | tee "$out/serve-load.txt"
rm -rf "$(dirname "$folder")"
