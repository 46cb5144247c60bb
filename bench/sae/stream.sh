#!/usr/bin/env bash
# Issue 24's streaming benchmark: bench/sae/topk-npy.yaml (the SAE of bench/sae/topk.yaml:
# 512 inputs, 4,096 latents, k 32) trained by saerun on shards written to /tmp (never to
# the repository).
#
#   bench/sae/stream.sh [--rounds N] [--epochs E] [--batch B] [--buffer MIB] [--format npy|parquet]
#                       [--big-shards S] [--mem-batch B] [--mem-buffer MIB] [--only speed,memory] [--keep]
#
# speed:  the same 65,536 rows (16 shards of 4,096) trained from one .npy file loaded whole
#         (dataset.buffer 0) and streamed from the shards (dataset.buffer MIB, default 96),
#         at train.batch_size B (default 4,096), interleaved for --rounds rounds (the order
#         alternating), E epochs each; samples/s from the epochs after the first
#         (metrics.elapsed_seconds); prints each round and the ratio streamed / in memory,
#         and the CPU seconds of each whole run (/usr/bin/time: user + system, which other
#         programs' load moves less than the wall clock) and their ratio in memory / streamed.
# memory: peak RSS (/usr/bin/time -v) of one epoch streamed from S shards of 4,096 rows
#         (default 96: 805 MB of float32) at --mem-batch (default 1,024) and --mem-buffer
#         (default 24 MiB), against the same program streaming one 8 MB shard (the model's
#         own working set in the same bounded mode) and loading that shard whole
#         (dataset.buffer 0: no bounded mode, the heap tuned for speed).
# --format parquet writes the shards as .parquet (one list<float32> column) instead of .npy.
#
# Needs Go, the repository's .venv (numpy, pandas, pyarrow) and its XLA plugin
# (scripts/setup.sh). Writes /tmp/saerun-stream (removed at the end unless --keep).
set -euo pipefail
SAE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SAE/../.." && pwd)"
ROUNDS=2 EPOCHS=3 BATCH=4096 BUFFER=96 BIG=96 MEMBATCH=1024 MEMBUFFER=24 FORMAT=npy ONLY=speed,memory KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --buffer) BUFFER="$2"; shift 2 ;;
    --big-shards) BIG="$2"; shift 2 ;;
    --mem-batch) MEMBATCH="$2"; shift 2 ;;
    --mem-buffer) MEMBUFFER="$2"; shift 2 ;;
    --format) FORMAT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "stream.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "ROUNDS=$ROUNDS" "EPOCHS=$EPOCHS" "BATCH=$BATCH" "BUFFER=$BUFFER" "BIG=$BIG" "MEMBATCH=$MEMBATCH" "MEMBUFFER=$MEMBUFFER"; do
  [[ "${v#*=}" =~ ^[1-9][0-9]*$ ]] || { echo "stream.sh: ${v%%=*} must be a positive integer, got '${v#*=}'" >&2; exit 2; }
done
[[ "$FORMAT" == npy || "$FORMAT" == parquet ]] || { echo "stream.sh: --format must be npy or parquet, got '$FORMAT'" >&2; exit 2; }
(( EPOCHS >= 2 )) || { echo "stream.sh: --epochs must be at least 2 (the first is the warm-up)" >&2; exit 2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || { echo "stream.sh: no $PY (numpy, pandas, pyarrow): run scripts/setup.sh" >&2; exit 2; }
export GOMAXPROCS=2
W=/tmp/saerun-stream
rm -rf "$W"
mkdir -p "$W"
(( KEEP )) || trap 'rm -rf "$W"' EXIT
echo "building saerun" >&2
(cd "$ROOT" && go build -o "$W/saerun" ./experiments)
echo "writing shards to $W" >&2
"$PY" "$SAE/stream_shards.py" "$W/small" 16 4096 --format "$FORMAT" --single "$W/small.npy" --val "$W/val.npy"

run() { # NAME PATH BUFFER EPOCHS BATCH [time -v]
  local name="$1" path="$2" buf="$3" ep="$4" batch="$5"; shift 5
  local kind=npy
  [[ "$buf" != 0 ]] && kind="$FORMAT"
  (cd "$ROOT" && "$@" "$W/saerun" --backend xla --out "$W/out-$name" --set "dataset.name=$kind" --set "dataset.path=$path" \
    --set "dataset.validation_path=$W/val.npy" --set "dataset.buffer=$buf" --set "train.epochs=$ep" \
    --set "train.batch_size=$batch" "$SAE/topk-npy.yaml") > "$W/$name.log" 2>&1 || { tail -5 "$W/$name.log" >&2; exit 1; }
}
rate() { # samples/s of the epochs after the first
  "$PY" - "$W/out-$1" "$2" <<'PY'
import glob, sys, pandas as pd
m = pd.concat([pd.read_parquet(f) for f in glob.glob(sys.argv[1] + "/*/metrics/*.parquet")])
t = m.groupby("epoch")["elapsed_seconds"].first().sort_index().tolist()
print(f"{int(sys.argv[2]) * (len(t) - 1) / (t[-1] - t[0]):.0f}")
PY
}
if want speed; then
  echo "speed: 65,536 rows of $FORMAT shards, batch $BATCH, $EPOCHS epochs, buffer $BUFFER MiB" >&2
  for r in $(seq 1 "$ROUNDS"); do
    l0=$(cut -d' ' -f1 /proc/loadavg)
    tm=(/usr/bin/time -o "$W/mem$r.cpu" -f "%U %S") ts=(/usr/bin/time -o "$W/str$r.cpu" -f "%U %S")
    if (( r % 2 )); then run mem$r "$W/small.npy" 0 "$EPOCHS" "$BATCH" "${tm[@]}"; run str$r "$W/small" "$BUFFER" "$EPOCHS" "$BATCH" "${ts[@]}"
    else run str$r "$W/small" "$BUFFER" "$EPOCHS" "$BATCH" "${ts[@]}"; run mem$r "$W/small.npy" 0 "$EPOCHS" "$BATCH" "${tm[@]}"; fi
    m=$(rate mem$r 65536) s=$(rate str$r 65536)
    cm=$(awk '{ print $1 + $2 }' "$W/mem$r.cpu") cs=$(awk '{ print $1 + $2 }' "$W/str$r.cpu")
    awk -v r="$r" -v m="$m" -v s="$s" -v l="$l0" -v cm="$cm" -v cs="$cs" 'BEGIN { printf "round %d: in memory %d samples/s, streamed %d samples/s: %.2f; CPU seconds (user + system, whole run) %.1f and %.1f: in memory / streamed %.2f (load average before: %s)\n", r, m, s, s / m, cm, cs, cm / cs, l }'
    rm -rf "$W/out-mem$r" "$W/out-str$r"
  done
fi
if want memory; then
  "$PY" "$SAE/stream_shards.py" "$W/big" "$BIG" 4096 --format "$FORMAT"
  mkdir -p "$W/one"
  cp "$W/small/shard-0000.$FORMAT" "$W/one/"
  echo "memory: $(du -sm "$W/big" | cut -f1) MiB of $FORMAT shards, batch $MEMBATCH, buffer $MEMBUFFER MiB, 1 epoch" >&2
  run big "$W/big" "$MEMBUFFER" 1 "$MEMBATCH" /usr/bin/time -v
  run one "$W/one" "$MEMBUFFER" 1 "$MEMBATCH" /usr/bin/time -v
  "$PY" -c "import numpy as np; np.save('$W/one.npy', np.load('$W/small.npy', mmap_mode='r')[:4096])"
  run base "$W/one.npy" 0 1 "$MEMBATCH" /usr/bin/time -v
  rss() { awk '/Maximum resident/ { printf "%.0f MiB (%.0f MB)", $NF / 1024, $NF * 1.024 / 1000 }' "$W/$1.log"; }
  wall() { awk -F': ' '/Elapsed \(wall/ { print $2 }' "$W/$1.log"; }
  echo "peak RSS streaming $(du -sm "$W/big" | cut -f1) MiB of shards: $(rss big) (wall $(wall big)); streaming one 8 MB shard: $(rss one); that shard loaded whole: $(rss base)"
fi
