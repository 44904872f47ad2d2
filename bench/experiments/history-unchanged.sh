#!/usr/bin/env bash
# Checks that a change left training unchanged: trains the same run with the CLI built from <rev> and
# with the working tree's, and compares the epoch tables to the 6 significant digits history.csv keeps
# (the seconds column excepted). Exits 1 when they differ.
#   bench/experiments/history-unchanged.sh <rev> [data-folder] [extra train flags…]
# Default data: ../shared/data/brain-mri-dev; the run: --size 128 --epochs 3 (about 3 min per side on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
rev="$1"; data="${2:-../shared/data/brain-mri-dev}"
shift; [ $# -gt 0 ] && shift
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/src-before" > /dev/null 2>&1 || true' EXIT
git worktree add --detach "$tmp/src-before" "$rev" > /dev/null 2>&1
(cd "$tmp/src-before" && dotnet build src/Lumen.Cli -c Release -v q > "$tmp/build-before.log")
dotnet build src/Lumen.Cli -c Release -v q > "$tmp/build-after.log"
declare -A cli=([before]="$tmp/src-before/src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen.dll" [after]="src/Lumen.Cli/bin/Release/net10.0/linux-x64/lumen.dll")
for side in before after; do
  dotnet "${cli[$side]}" train "$data" --size 128 --epochs 3 --out "$tmp/$side" "$@" > "$tmp/$side.log" 2>&1
  awk -F, 'BEGIN { OFS = "," } { NF--; print }' "$tmp/$side/history.csv" > "$tmp/$side.csv"
done
echo "# lumen train $data --size 128 --epochs 3 $*: $rev against the working tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo ' + changes')), $(date -u +%F)"
paste -d'|' "$tmp/before.csv" "$tmp/after.csv" | sed 's/|/   |   /'
if diff -q "$tmp/before.csv" "$tmp/after.csv" > /dev/null; then echo "identical"; else echo "DIFFERENT"; exit 1; fi
