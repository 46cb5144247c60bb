#!/usr/bin/env bash
# Interleaved A/B timing of saerun binaries on SAE specs: per round, each binary trains
# each spec once (the order alternating between rounds), and the table gives ms per
# optimizer step = the median epoch of epochs 2..E (metrics.elapsed_seconds: an epoch
# includes its validation and checkpoint) / the epoch's steps, per round, with the ratio
# of each binary's fastest round to the first binary's. Specs on synthetic data only (the
# steps per epoch are computed from dataset.synthetic). Used for issue 24's before/after
# (bench/sae/README.md).
#
#   bash bench/sae/ab.sh [--rounds N] [--threads T] [--set KEY=VAL]... --bin NAME=PATH... SPEC.yaml...
#
# The binaries run with --backend xla from the repository root (the XLA plugin of
# scripts/setup.sh, or $PJRT_PLUGIN_LIBRARY_PATH), pinned to T CPUs (default 2) as
# bench/sae/run.sh pins them; the summary needs the repository's .venv (pandas).
set -euo pipefail
SAE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SAE/../.." && pwd)"
ROUNDS=3 THREADS=2 BINS=() SPECS=() SET=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --bin) [[ "$2" == *=* ]] || { echo "ab.sh: --bin NAME=PATH, got $2" >&2; exit 2; }
      BINS+=("${2%%=*}=$(realpath "${2#*=}")"); shift 2 ;;
    --set) SET+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "ab.sh: unknown flag $1" >&2; exit 2 ;;
    *) SPECS+=("$(realpath "$1")"); shift ;;
  esac
done
(( ${#BINS[@]} > 0 && ${#SPECS[@]} > 0 )) || { echo "ab.sh: need --bin NAME=PATH and a spec" >&2; exit 2; }
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || { echo "ab.sh: no $PY (pandas): run scripts/setup.sh" >&2; exit 2; }
PIN=()
if command -v taskset >/dev/null && (( $(nproc) > THREADS )); then PIN=(taskset -c "0-$((THREADS - 1))"); fi
export GOMAXPROCS="$THREADS" OMP_NUM_THREADS="$THREADS"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  order=("${BINS[@]}")
  if (( r % 2 == 0 )); then order=(); for (( i=${#BINS[@]}-1; i>=0; i-- )); do order+=("${BINS[i]}"); done; fi
  for spec in "${SPECS[@]}"; do
    for b in "${order[@]}"; do
      name="${b%%=*}" bin="${b#*=}"
      echo "round $r: $name $(basename "$spec") (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      (cd "$ROOT" && "${PIN[@]}" "$bin" --backend xla --quiet "${SET[@]}" --out "$OUT/$r/$name" "$spec" >/dev/null 2>"$OUT/log") ||
        { echo "ab.sh: $name failed on $spec:" >&2; tail -5 "$OUT/log" >&2; exit 1; }
    done
  done
done
"$PY" - "$OUT" "$ROUNDS" "${BINS[@]%%=*}" <<'PY'
import glob, json, math, statistics, sys
import pandas as pd
out, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
per = {}  # spec name -> binary -> [ms per step, per round]
steps_of = {}
for r in range(1, rounds + 1):
    for n in names:
        for d in sorted(glob.glob(f"{out}/{r}/{n}/*/")):
            runs = pd.concat([pd.read_parquet(f) for f in glob.glob(d + "runs/*.parquet")])
            cfg = json.loads(runs.iloc[0]["config"])
            ds = cfg["dataset"]
            n_train = round(ds["synthetic"]["samples"] * (1 - ds["validation_fraction"]))
            if ds.get("max_train_samples"):
                n_train = min(n_train, ds["max_train_samples"])
            steps = math.ceil(n_train / cfg["train"]["batch_size"])
            m = pd.concat([pd.read_parquet(f) for f in glob.glob(d + "metrics/*.parquet")])
            ends = m.groupby("epoch")["elapsed_seconds"].first().sort_index().tolist()
            epoch = statistics.median(b - a for a, b in zip(ends, ends[1:]))
            steps_of[cfg["name"]] = steps
            per.setdefault(cfg["name"], {}).setdefault(n, []).append(1000 * epoch / steps)
print("| spec (steps per epoch) | binary | ms per step, each round | fastest | × " + names[0] + " |")
print("|---|---|---|---:|---:|")
for spec, by in per.items():
    base = min(by[names[0]])
    for n in names:
        v = by.get(n, [])
        print(f"| {spec} ({steps_of[spec]}) | {n} | " + ", ".join(f"{x:.2f}" for x in v) + f" | {min(v):.2f} | {min(v) / base:.3f} |")
PY
