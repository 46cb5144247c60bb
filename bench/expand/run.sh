#!/usr/bin/env bash
# Expanding a 100,000-run sweep (bench/expand/big-grid.yaml) with a built binary, as
# every task of a Slurm array does: all runs listed, then one shard of 1,000. Prints
# /usr/bin/time's CPU, wall time and peak memory (docs/cluster.md, "Expanding large sweeps").
#   bash bench/expand/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN="$(mktemp -d)/saerun"
trap 'rm -rf "$(dirname "$BIN")"' EXIT
go build -o "$BIN" ./experiments
for shard in "" "--shard 3/1000"; do
  echo "== --dry-run $shard"
  # shellcheck disable=SC2086
  /usr/bin/time -v "$BIN" --dry-run $shard bench/expand/big-grid.yaml 2>&1 >/dev/null |
    grep -E '^sweep|User time|System time|Elapsed|Maximum resident'
done
