#!/usr/bin/env bash
# Issue 17's SAE benchmark: a TopK sparse autoencoder (512 inputs, 4,096 latents, k 32, batch
# 4,096, synthetic data, Adam 3e-4, b_dec from zero) trained by saerun (bench/sae/topk.yaml)
# and by PyTorch (bench/sae/torch_sae.py: --impl saelens, the dense SAELens way, and
# --impl sparse, sparsify's gather-based decoder and sparse encoder backward), interleaved for
# --rounds rounds; prints samples/s of each and the ratios saerun / torch, and writes
# results.md and results.json. See bench/sae/README.md.
#
#   bench/sae/run.sh [--rounds N] [--epochs E] [--steps S] [--threads T] [--impls LIST]
#                    [--only LIST] [--saerun BIN] [--dead-after N] [--set KEY=VAL]... [--skip-install]
#                    [--gpu [--cpu-dry]]
#
#   --rounds N      run everything N times, interleaved; each row keeps its fastest round
#                   (default 1; use 2-3 on a shared machine)
#   --epochs E      epochs of each program, >= 2: the first is the warm-up, samples/s comes
#                   from the median of the others (default 4; --gpu 6)
#   --steps S       training steps (batches of 4,096) per epoch (default 8; --gpu 16)
#   --threads T     CPU threads of every program (default 2; pinned with taskset where the
#                   machine has more CPUs, as bench/run.sh does)
#   --impls LIST    torch_sae.py implementations: saelens, sparse, saelens-compile,
#                   sparse-compile (torch.compile; minutes of compilation on 2 cores)
#                   (default saelens,sparse)
#   --only LIST     subset of saerun,torch (default both)
#   --saerun BIN    a saerun binary (default: go build ./experiments; --gpu: unpack
#                   .device/saerun.gz)
#   --dead-after N  samples without firing before a latent counts dead, on both sides
#                   (default: the spec's 10,000,000, so no latent dies in a short run and
#                   AuxK has nothing to do; e.g. 4096 makes AuxK work from the second step)
#   --set KEY=VAL   passed on to saerun (repeatable), e.g. --set model.sae.aux_coefficient=0
#                   to time it without AuxK; the command line is in machine.txt
#   --skip-install  do not pip-install bench/sae/requirements.txt (bench/sae/.venv must exist)
#   --gpu           on a GPU machine (../shared/notes/gpu.md: python3 with torch and
#                   jax-cuda13-pjrt, no Go): saerun --backend xla:<the CUDA PJRT plugin>,
#                   torch on cuda; nothing is installed; every step has a time limit
#                   (STEP_TIMEOUT, default 150 s) and all together a budget (BUDGET, 420 s);
#                   writes results.md, results.json, machine.txt and all.tar.gz (records,
#                   tables, logs) to $OUT (the device tool's folder), else bench/sae/out-gpu
#   --cpu-dry       with --gpu: check the GPU path here, on the CPU (backend xla, torch on the
#                   CPU, bench/sae/.venv, 2 steps x 2 epochs). Its figures mean nothing.
#
# Needs Go, python3 (venv), the XLA plugin in the repository's .venv (scripts/setup.sh) and
# the repository's .venv (pandas) for the summary. Writes bench/sae/out (replaced).
set -euo pipefail

SAE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SAE/../.." && pwd)"
ROUNDS=1 EPOCHS="" STEPS="" THREADS=2 IMPLS=saelens,sparse ONLY=saerun,torch SAERUN="" INSTALL=1 GPU=0 DRY=0
EXTRA_SET=() ARGV="" DEAD_AFTER=10000000
STEP_TIMEOUT="${STEP_TIMEOUT:-150}"
BUDGET="${BUDGET:-420}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --impls) IMPLS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --saerun) SAERUN="$2"; shift 2 ;;
    --set) EXTRA_SET+=(--set "$2"); ARGV+=" --set $2"; shift 2 ;;
    --dead-after) DEAD_AFTER="$2"; ARGV+=" --dead-after $2"; shift 2 ;;
    --skip-install) INSTALL=0; shift ;;
    --gpu) GPU=1; shift ;;
    --cpu-dry) DRY=1; shift ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
(( DRY == 0 || GPU == 1 )) || { echo "run.sh: --cpu-dry goes with --gpu" >&2; exit 2; }
if (( GPU && DRY )); then
  EPOCHS="${EPOCHS:-2}" STEPS="${STEPS:-2}"
elif (( GPU )); then
  EPOCHS="${EPOCHS:-6}" STEPS="${STEPS:-16}"
else
  EPOCHS="${EPOCHS:-4}" STEPS="${STEPS:-8}"
fi
for v in "DEAD_AFTER=$DEAD_AFTER" "ROUNDS=$ROUNDS" "EPOCHS=$EPOCHS" "STEPS=$STEPS" "THREADS=$THREADS" "STEP_TIMEOUT=$STEP_TIMEOUT" "BUDGET=$BUDGET"; do
  [[ "${v#*=}" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: ${v%%=*} must be a positive integer, got '${v#*=}'" >&2; exit 2; }
done
(( EPOCHS >= 2 )) || { echo "run.sh: --epochs must be at least 2 (the first is the warm-up), got $EPOCHS" >&2; exit 2; }
for i in ${IMPLS//,/ }; do
  case "$i" in saelens|sparse|saelens-compile|sparse-compile) ;;
    *) echo "run.sh: --impls: unknown '$i' (saelens, sparse, saelens-compile, sparse-compile)" >&2; exit 2 ;;
  esac
done
for s in ${ONLY//,/ }; do
  case "$s" in saerun|torch) ;; *) echo "run.sh: --only: unknown '$s' (saerun, torch)" >&2; exit 2 ;; esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

BATCH=4096
TRAIN=$((STEPS * BATCH))
VAL=4096
# The spec's split holds out 20 %: enough rows for TRAIN training and VAL validation samples.
SAMPLES=$((STEPS * 5120)); (( SAMPLES >= 5 * VAL )) || SAMPLES=$((5 * VAL))

export GOMAXPROCS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" \
  OPENBLAS_NUM_THREADS="$THREADS" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
PIN=()
if (( ! GPU || DRY )) && command -v taskset >/dev/null && (( $(nproc) > THREADS )); then
  PIN=(taskset -c "0-$((THREADS - 1))")
fi

# Python: bench/sae/.venv on a CPU (installed here), the machine's python3 on a GPU.
if (( GPU && ! DRY )); then
  PY=python3 SUMPY=python3
  PLUGIN="$("$PY" -c 'import jax_plugins.xla_cuda13 as m, os; print(os.path.dirname(m.__file__))')/xla_cuda_plugin.so"
  [[ -f "$PLUGIN" ]] || { echo "run.sh: no CUDA PJRT plugin at $PLUGIN (is jax-cuda13-pjrt installed?)" >&2; exit 2; }
  BACKEND="xla:$PLUGIN" VARIANT=xla-cuda DEVICE=cuda
else
  PY="$SAE/.venv/bin/python" SUMPY="$ROOT/.venv/bin/python"
  BACKEND=xla VARIANT=xla DEVICE=cpu
  if want torch; then
    if [[ ! -x "$PY" ]]; then
      (( INSTALL )) || { echo "run.sh: --skip-install but there is no $PY" >&2; exit 2; }
      python3 -m venv "$SAE/.venv"
    fi
    if (( INSTALL )); then
      stamp="$SAE/.venv/.requirements.sha256"
      want_stamp="$(cat "$SAE/requirements.txt" <("$PY" --version) | sha256sum | cut -d' ' -f1)"
      if [[ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]]; then
        echo "pip install -r bench/sae/requirements.txt (first time: about 3 GB, torch with CUDA packages)" >&2
        "$PY" -m pip install --quiet --progress-bar off -r "$SAE/requirements.txt"
        "$PY" -m pip check >&2
        echo "$want_stamp" > "$stamp"
      fi
    fi
  fi
  [[ -x "$SUMPY" ]] || { echo "run.sh: no $SUMPY (pandas, for the summary): run scripts/setup.sh" >&2; exit 2; }
fi

# On a GPU the rounds go to a temporary folder and $RESULT gets results.md, results.json,
# machine.txt and all.tar.gz (raw records, saerun tables, logs): the device tool brings back
# a few files only.
if (( GPU )); then
  RESULT="${OUT:-$SAE/out-gpu}"
  mkdir -p "$RESULT"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  OUTDIR="$WORK"
else
  OUTDIR="$SAE/out"
  rm -rf "$OUTDIR"
  mkdir -p "$OUTDIR"
fi
SAERUN_GIVEN="$SAERUN"
if want saerun && [[ -z "$SAERUN" ]]; then
  SAERUN="$OUTDIR/saerun"
  if (( GPU && ! DRY )); then
    [[ -f "$ROOT/.device/saerun.gz" ]] || { echo "run.sh: no saerun: pass --saerun BIN or build .device/saerun.gz (bench/sae/README.md)" >&2; exit 2; }
    gunzip -c "$ROOT/.device/saerun.gz" > "$SAERUN"
    chmod +x "$SAERUN"
  else
    echo "building saerun" >&2
    (cd "$ROOT" && go build -o "$SAERUN" ./experiments)
  fi
fi
SAERUN_SET=(--set "train.epochs=$EPOCHS" --set "dataset.synthetic.samples=$SAMPLES"
  --set "dataset.max_train_samples=$TRAIN" --set "dataset.max_validation_samples=$VAL"
  --set "model.sae.dead_after=$DEAD_AFTER" "${EXTRA_SET[@]}")
TORCH_ARGS=(--device "$DEVICE" --threads "$THREADS" --epochs "$EPOCHS" --train-samples "$TRAIN"
  --validation-samples "$VAL" --batch "$BATCH" --dead-after "$DEAD_AFTER")

# timed NAME CMD...: runs CMD (on a GPU: within STEP_TIMEOUT and the BUDGET), logs to
# $R/logs/NAME.log and appends its wall seconds and the load average before and after to
# $R/wall.tsv (other processes distort the timings; the load shows when).
START=$SECONDS
timed() {
  local name="$1"; shift
  local t0 t1 l0 rc=0 limit=()
  echo "== round $round: $name" >&2
  if (( GPU )); then
    local left=$((BUDGET - (SECONDS - START)))
    if (( left < 10 )); then
      echo "   SKIPPED: the budget of $BUDGET s is spent" | tee "$R/logs/$name.log" >&2
      return 0
    fi
    (( left < STEP_TIMEOUT )) || left=$STEP_TIMEOUT
    limit=(timeout "$left")
  fi
  l0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$EPOCHREALTIME
  "${limit[@]}" "$@" > "$R/logs/$name.log" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  if (( rc != 0 )); then
    echo "   FAILED (exit $rc; see $R/logs/$name.log):" >&2
    tail -5 "$R/logs/$name.log" >&2
    return 0
  fi
  awk -v n="$name" -v a="$t0" -v b="$t1" -v l0="$l0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s %.3f %s %s\n", n, b - a, l0, l1 }' >> "$R/wall.tsv"
  awk -v a="$t0" -v b="$t1" -v l0="$l0" 'BEGIN { printf "   %.1f s (load average before: %s)\n", b - a, l0 }' >&2
}

run_saerun() {
  # From the repository root, so that saerun finds the CPU XLA plugin in .venv.
  timed "saerun-$VARIANT" bash -c 'cd "$0" && exec "$@"' "$ROOT" "${PIN[@]}" "$SAERUN" --backend "$BACKEND" \
    "${SAERUN_SET[@]}" --out "$R/saerun-$VARIANT" "$SAE/topk.yaml"
}
run_torch() {
  local impl="${1%-compile}" extra=()
  [[ "$1" == *-compile ]] && extra=(--compile)
  timed "torch-$1" bash -c '"$@" > "$0"' "$R/raw/torch-$1.json" "${PIN[@]}" "$PY" "$SAE/torch_sae.py" \
    --impl "$impl" "${extra[@]}" "${TORCH_ARGS[@]}"
}

for round in $(seq 1 "$ROUNDS"); do
  R="$OUTDIR/round$round"
  rm -rf "$R"
  mkdir -p "$R/raw" "$R/logs"
  : > "$R/wall.tsv"
  # Alternate the order between rounds, so that neither side always runs first.
  if (( round % 2 )); then
    want saerun && run_saerun
    if want torch; then for i in ${IMPLS//,/ }; do run_torch "$i"; done; fi
  else
    if want torch; then for i in ${IMPLS//,/ }; do run_torch "$i"; done; fi
    want saerun && run_saerun
  fi
done

{
  echo "command: bench/sae/run.sh --rounds $ROUNDS --epochs $EPOCHS --steps $STEPS --threads $THREADS --impls $IMPLS --only $ONLY$ARGV$( ((GPU)) && echo " --gpu")$( ((DRY)) && echo " --cpu-dry (CPU: its figures mean nothing)")"
  echo "date: $(date -u '+%F %T') UTC; machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; threads $THREADS; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  if (( GPU && ! DRY )) && command -v nvidia-smi >/dev/null; then
    echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1); XLA_FLAGS=${XLA_FLAGS:-(unset)}"
  fi
  if [[ -n "$SAERUN_GIVEN" ]]; then
    echo "saerun: the binary $SAERUN_GIVEN (--saerun: its source is not recorded here); backend $BACKEND"
  elif (( GPU && ! DRY )); then
    echo "saerun: .device/saerun.gz, built from $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(no git here)'); backend $BACKEND"
  else
    echo "saerun: built from $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "$ROOT"); backend $BACKEND"
  fi
  echo "torch: $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')"
} > "$OUTDIR/machine.txt"
"$SUMPY" "$SAE/summarize.py" "$OUTDIR"
if (( GPU )); then
  cp "$OUTDIR/results.md" "$OUTDIR/results.json" "$OUTDIR/machine.txt" "$RESULT/"
  tar -C "$OUTDIR" -czf "$RESULT/all.tar.gz" --exclude=saerun machine.txt $(cd "$OUTDIR" && ls -d round*)
  OUTDIR="$RESULT"
fi
echo "wrote $OUTDIR/results.md and $OUTDIR/results.json" >&2
