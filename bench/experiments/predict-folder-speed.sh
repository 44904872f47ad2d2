#!/usr/bin/env bash
# Folder prediction against a bare ONNX Runtime session, one quiet run (nothing else on the CPU):
#   bench/experiments/predict-folder-speed.sh <model.lumen> <results-file> [folder]
# 1. bench … predict: Lumen end to end (decode + predict + CSV, in process) alternating with the bare
#    session on already-decoded tensors, three rounds; 2. the real CLI, `lumen predict --out`, process
#    start and model load included, twice, each between two bare-session timings of the same length.
# The folder defaults to the bundled sample six times (2,880 224 px JPEGs).
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$1"; out="$2"; folder="${3:-}"
bench=bench/Lumen.Bench/bin/Release/net10.0/linux-x64/Lumen.Bench
cli=src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ -z "$folder" ]; then
  folder="$tmp/images"
  for c in 0 1 2 3 4 5; do mkdir -p "$folder/copy$c"; cp -r samples/brain-mri/* "$folder/copy$c/"; done
fi
n=$(find "$folder" -name '*.jpg' | wc -l)
{
  echo "# $n JPEGs, $(nproc) cores, $(date -u +%F), commit $(git rev-parse --short HEAD)"
  "$bench" predict "$model" --folder "$folder" --bs 16 --seconds 3 --rounds 3
  for run in 1 2; do
    start=$(date +%s.%N)
    "$cli" predict "$model" "$folder" --out "$tmp/out.csv" > /dev/null 2>&1
    end=$(date +%s.%N)
    rows=$(($(wc -l < "$tmp/out.csv") - 1))
    echo "cli run $run: lumen predict $model $folder --out out.csv: $rows images in $(echo "$end - $start" | bc) s = $(echo "scale=1; $rows / ($end - $start)" | bc) img/s (process start and model load included)"
  done
} | tee "$out"
