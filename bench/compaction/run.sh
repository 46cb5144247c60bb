#!/usr/bin/env bash
# Compaction benchmark: a 1,000-run digits sweep (1 epoch each) written with one file
# per run and table, then compacted; files per table and the time of pd.read_parquet
# and DuckDB count(*) on metrics/ before and after. Prints TSV to stdout:
#   before|after  files  TABLE   FILES  BYTES
#   before|after  read   READER  ROWS   SECONDS (best of 5; activations best of 3)
#   compact       seconds        SECONDS
# Usage: bash bench/compaction/run.sh [OUT_DIR]   (default: a temporary folder, removed)
# Needs scripts/setup.sh (pandas, duckdb in .venv). The sweep takes a few minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${1:-}"
if [[ -z "$OUT" ]]; then
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
fi
go build -o "$OUT/experiments" ./experiments
DIR="$OUT/bench-compaction-1000"
if [[ ! -d "$DIR/runs" ]]; then
  "$OUT/experiments" --no-compact --out "$OUT" bench/compaction/sweep-1000.yaml 2> "$OUT/sweep.log" || { tail -20 "$OUT/sweep.log" >&2; exit 1; }
fi
tail -2 "$OUT/sweep.log" >&2 || true
sync
.venv/bin/python bench/compaction/read.py "$DIR" before
start=$EPOCHREALTIME
"$OUT/experiments" compact "$DIR" >&2
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "compact\tseconds\t%.3f\n", b - a }'
sync
.venv/bin/python bench/compaction/read.py "$DIR" after
