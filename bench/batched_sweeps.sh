#!/usr/bin/env bash
# Batched sweeps (issue 6): the same sweep trained one run at a time (--group-size 1)
# and as one group (--group-size K), on each backend, in one script run. Prints a
# Markdown table of wall times, throughput and the batched/sequential ratio.
#   bash bench/batched_sweeps.sh            # both specs, backends go and xla (if installed)
#   BACKENDS=xla REPEAT=3 bash bench/batched_sweeps.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BACKENDS="${BACKENDS:-go xla}"
REPEAT="${REPEAT:-1}"
export GOMAXPROCS="${GOMAXPROCS:-2}"
BIN="$(mktemp -d)/experiments"
go build -o "$BIN" ./experiments
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT" "$(dirname "$BIN")"' EXIT

# spec  group-size  samples-per-epoch (train)
CASES=(
  "bench/specs/batched-l1-digits.yaml 16 1438"
  "bench/specs/batched-fashion-004.yaml 8 60000"
)

wall() { # wall seconds of one run of the command
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }

echo "| sweep | backend | runs | sequential s | batched s | batched/sequential | throughput gain |"
echo "|---|---|---|---|---|---|---|"
for case in "${CASES[@]}"; do
  read -r spec k samples <<<"$case"
  name=$(basename "$spec" .yaml)
  for backend in $BACKENDS; do
    if [[ "$backend" == xla ]] && ! "$BIN" --backend xla --dry-run "$spec" >/dev/null 2>&1; then
      continue
    fi
    seq=(); bat=()
    for _ in $(seq "$REPEAT"); do
      rm -rf "$OUT"/*
      seq+=("$(wall "$BIN" --backend "$backend" --group-size 1 --out "$OUT/seq" "$spec")")
      bat+=("$(wall "$BIN" --backend "$backend" --group-size "$k" --out "$OUT/bat" "$spec")")
    done
    s=$(median "${seq[@]}"); b=$(median "${bat[@]}")
    python3 -c "s,b=$s,$b; print(f'| $name | $backend | $k | {s:.1f} | {b:.1f} | {b/s:.2f} | {s/b:.1f}x |')"
  done
done
echo
echo "GOMAXPROCS=$GOMAXPROCS, REPEAT=$REPEAT (medians), $(nproc) cores, $(date -u +%F)"
