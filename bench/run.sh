#!/usr/bin/env bash
# Benchmark: the same autoencoders, data, batch sizes, epochs and thread count trained by
# saerun (--backend xla and --backend go), Keras 3 (TensorFlow and JAX backends), PyTorch
# and hand-written JAX programs (jax_bench.py), single models and (model a) groups of K
# models of an L1 sweep, plus the machine's float32 matmul rates; writes
# bench/out/results.md and results.json. See bench/README.md.
#
#   bench/run.sh [--epochs-a N] [--epochs-b N] [--threads N] [--rounds N] [--models LIST]
#                [--only LIST] [--group-size K] [--skip-install]
#
#   --epochs-a N    epochs of model (a), Fashion-MNIST 784-128-64-128-784 (default $EPOCHS_A or 4)
#   --epochs-b N    epochs of model (b), digits 64-100-64 (default $EPOCHS_B or 20)
#   --threads N     threads for every framework (default $BENCH_THREADS or 2)
#   --rounds N      run everything N times, interleaved; the table keeps each framework's
#                   fastest round (default $BENCH_ROUNDS or 1; use 2-3 on a busy machine)
#   --models LIST   comma-separated subset of a,b (default: a,b)
#   --only LIST     comma-separated subset of peak,saerun-xla,saerun-go,saerun-go-simd,
#                   keras-tensorflow,keras-jax,torch,jax-step,jax-scan,saerun-xla-group,
#                   jax-vmap-scan (default: all)
#   --group-size K  models per group for saerun-xla-group (specs/fmnist_l1_sweepK.yaml,
#                   --group-size K) and jax-vmap-scan (default $BENCH_GROUP_SIZE or 8;
#                   model a only; specs exist for 8 and 64)
#   --skip-install  do not pip-install bench/requirements.txt (bench/.venv must exist)
#
# saerun-go-simd is the go backend built with GOEXPERIMENT=simd (Go >= 1.26), which enables
# GoMLX's AVX2/AVX-512 matmul kernels; the default build uses its portable Go kernels.
# $SAERUN_SRC builds saerun from another checkout (default: this repository).
#
# Needs Go, Python 3.11 with venv, the XLA PJRT plugin in the repository's .venv
# (scripts/install-xla-plugin.sh .venv) and ../shared/datasets. bench/out is replaced.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
EPOCHS_A="${EPOCHS_A:-4}"
EPOCHS_B="${EPOCHS_B:-20}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-1}"
ONLY="${BENCH_ONLY:-peak,saerun-xla,saerun-go,saerun-go-simd,keras-tensorflow,keras-jax,torch,jax-step,jax-scan,saerun-xla-group,jax-vmap-scan}"
GROUP="${BENCH_GROUP_SIZE:-8}"
MODELS="${BENCH_MODELS:-a,b}"
INSTALL=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs-a) EPOCHS_A="$2"; shift 2 ;;
    --epochs-b) EPOCHS_B="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --group-size) GROUP="$2"; shift 2 ;;
    --skip-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$EPOCHS_A" "$EPOCHS_B" "$THREADS" "$ROUNDS" "$GROUP"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "epochs, threads, rounds and group size must be positive integers, got $n" >&2; exit 2; }
done
[[ -f "$(dirname "${BASH_SOURCE[0]}")/specs/fmnist_l1_sweep$GROUP.yaml" ]] || {
  echo "--group-size $GROUP: no bench/specs/fmnist_l1_sweep$GROUP.yaml (there are specs for 8 and 64)" >&2; exit 2; }
(( EPOCHS_A >= 2 && EPOCHS_B >= 2 )) || { echo "need at least 2 epochs (the first is the warm-up)" >&2; exit 2; }
want_fw() { [[ ",$ONLY," == *",$1,"* ]]; }
want_model() { [[ ",$MODELS," == *",$1,"* ]]; }

# Thread limits for everything started from here (py_bench.py sets them again itself).
# OMP_WAIT_POLICY=PASSIVE: with the default spin-waiting, PyTorch's OpenMP threads slow
# down by 10-40x as soon as another process competes for the CPUs (measured here: 8 ms vs
# 200-370 ms per step); passive waiting costs nothing measurable on an idle machine.
export GOMAXPROCS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" \
  OPENBLAS_NUM_THREADS="$THREADS" TF_NUM_INTRAOP_THREADS="$THREADS" TF_NUM_INTEROP_THREADS="$THREADS" \
  OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" TF_CPP_MIN_LOG_LEVEL=2
export SAERUN_DATA_DIR="${SAERUN_DATA_DIR:-$ROOT/../shared/datasets}"
# Pin the processes to $THREADS CPUs where the machine has more (XLA sizes its pools from them).
PIN=()
if command -v taskset >/dev/null && (( $(nproc) > THREADS )); then
  PIN=(taskset -c "0-$((THREADS - 1))")
fi

VENV="$BENCH/.venv"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
  python3 -m venv "$VENV"
fi
if (( INSTALL )); then
  "$PY" -m pip install --quiet --progress-bar off -r "$BENCH/requirements.txt"
fi

OUT="$BENCH/out"
rm -rf "$OUT"
mkdir -p "$OUT/specs" "$OUT/logs"

SRC="${SAERUN_SRC:-$ROOT}"
echo "building saerun from $SRC" >&2
(cd "$SRC" && go build -o "$OUT/saerun" ./experiments)
if want_fw saerun-go-simd; then
  if ! (cd "$SRC" && GOEXPERIMENT=simd go build -o "$OUT/saerun-simd" ./experiments) 2> "$OUT/logs/build-simd.log"; then
    echo "GOEXPERIMENT=simd build failed (see $OUT/logs/build-simd.log); skipping saerun-go-simd" >&2
    ONLY="${ONLY//saerun-go-simd/}"
  fi
fi
for model in a b; do
  case "$model" in
    a) spec=fmnist_l1.yaml; epochs="$EPOCHS_A" ;;
    b) spec=digits_kl.yaml; epochs="$EPOCHS_B" ;;
  esac
  sed -E "s/epochs: [0-9]+/epochs: $epochs/" "$BENCH/specs/$spec" > "$OUT/specs/$spec"
done
sed -E "s/epochs: [0-9]+/epochs: $EPOCHS_A/" "$BENCH/specs/fmnist_l1_sweep$GROUP.yaml" > "$OUT/specs/fmnist_l1_sweep$GROUP.yaml"

# timed NAME CMD...: runs CMD, logs to $R/logs/NAME.log, appends its wall seconds and the
# 1-minute load average before and after to $R/wall.tsv (other processes on the machine
# distort the timings; the load shows when).
timed() {
  local name="$1"; shift
  local t0 t1 l0
  echo "== round $round: $name" >&2
  l0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$EPOCHREALTIME
  if ! "$@" > "$R/logs/$name.log" 2>&1; then
    echo "   FAILED (see $R/logs/$name.log):" >&2
    tail -5 "$R/logs/$name.log" >&2
    return 0
  fi
  t1=$EPOCHREALTIME
  awk -v n="$name" -v a="$t0" -v b="$t1" -v l0="$l0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s %.3f %s %s\n", n, b - a, l0, l1 }' >> "$R/wall.tsv"
  awk -v a="$t0" -v b="$t1" -v l0="$l0" 'BEGIN { printf "   %.1f s (load average before: %s)\n", b - a, l0 }' >&2
}

for round in $(seq 1 "$ROUNDS"); do
  R="$OUT/round$round"
  mkdir -p "$R/raw" "$R/logs"
  : > "$R/wall.tsv"
  if want_fw peak; then
    timed peak "${PIN[@]}" "$PY" "$BENCH/py_bench.py" --framework peak --threads "$THREADS" --out "$R/raw/peak.json"
  fi
  for model in a b; do
    want_model "$model" || continue
    case "$model" in
      a) spec="$OUT/specs/fmnist_l1.yaml"; epochs="$EPOCHS_A" ;;
      b) spec="$OUT/specs/digits_kl.yaml"; epochs="$EPOCHS_B" ;;
    esac
    for variant in xla go go-simd; do
      want_fw "saerun-$variant" || continue
      bin="$OUT/saerun"; [[ "$variant" == go-simd ]] && bin="$OUT/saerun-simd"
      # From the repository root, so that saerun finds the XLA plugin in .venv.
      timed "$model-saerun-$variant" bash -c "cd '$ROOT' && exec ${PIN[*]} '$bin' --backend ${variant%-simd} \
        --out '$R/saerun-$variant' '$spec'"
    done
    for kb in tensorflow jax; do
      want_fw "keras-$kb" || continue
      timed "$model-keras-$kb" env KERAS_BACKEND=$kb "${PIN[@]}" "$PY" "$BENCH/py_bench.py" --framework keras \
        --model "$model" --epochs "$epochs" --threads "$THREADS" --out "$R/raw/$model-keras-$kb.json"
    done
    if want_fw torch; then
      timed "$model-torch" "${PIN[@]}" "$PY" "$BENCH/py_bench.py" --framework torch \
        --model "$model" --epochs "$epochs" --threads "$THREADS" --out "$R/raw/$model-torch.json"
    fi
    for fw in jax-step jax-scan; do
      want_fw "$fw" || continue
      timed "$model-$fw" "${PIN[@]}" "$PY" "$BENCH/jax_bench.py" --framework "$fw" \
        --model "$model" --epochs "$epochs" --threads "$THREADS" --out "$R/raw/$model-$fw.json"
    done
    [[ "$model" == a ]] || continue
    # Groups: an L1 sweep of $GROUP weights as one saerun group and as $GROUP vmapped JAX models.
    if want_fw saerun-xla-group; then
      timed "a-saerun-xla-g$GROUP" bash -c "cd '$ROOT' && exec ${PIN[*]} '$OUT/saerun' --backend xla \
        --group-size $GROUP --out '$R/saerun-xla' '$OUT/specs/fmnist_l1_sweep$GROUP.yaml'"
    fi
    if want_fw jax-vmap-scan; then
      timed "a-jax-vmap-scan-$GROUP" "${PIN[@]}" "$PY" "$BENCH/jax_bench.py" --framework jax-vmap-scan \
        --group-size "$GROUP" --model a --epochs "$epochs" --threads "$THREADS" --out "$R/raw/a-jax-vmap-scan-$GROUP.json"
    fi
  done
done

{
  echo "command: bench/run.sh --epochs-a $EPOCHS_A --epochs-b $EPOCHS_B --threads $THREADS --rounds $ROUNDS --models $MODELS --group-size $GROUP --only $ONLY"
  echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version); OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo "saerun: $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo "source $SRC")"
} > "$OUT/machine.txt"
"$PY" "$BENCH/summarize.py" "$OUT"
echo "wrote $OUT/results.md and $OUT/results.json" >&2
