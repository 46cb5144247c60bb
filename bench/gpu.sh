#!/usr/bin/env bash
# Benchmark on a GPU machine (one NVIDIA GPU, python3 with jax + jax-cuda13-pjrt and torch,
# no Go; see ../shared/notes/gpu.md and bench/README.md "On a GPU"): model (a), the seed-004
# L1 autoencoder on Fashion-MNIST, trained by
#   saerun-cuda        saerun --backend xla:<the CUDA PJRT plugin of jax-cuda13-pjrt>
#   saerun-cuda-gK     the K-point L1 sweep specs/fmnist_l1_sweepK.yaml, --group-size K
#   jax-step           jax_bench.py: one jitted step per batch
#   jax-scan           jax_bench.py: an epoch in one lax.scan
#   jax-vmap-scan-K    jax_bench.py: K models vmapped inside the scan
#   torch              py_bench.py: PyTorch eager on the GPU
# with K = 8 and 64, and the SAE rows of issue 24 (bench/sae/README.md): bench/sae/topk.yaml's
# TopK SAE (512 → 4,096 latents, k 32, batch 4,096, 16 steps an epoch) trained by
#   sae-saerun         saerun --backend xla:<CUDA plugin> (dense decoder)
#   sae-torch          bench/sae/torch_sae.py --device cuda: --impl saelens (SAELens' dense
#                      way) and --impl sparse (sparsify's gathers)
#   sae-pieces         bench/sae/pieces on the GPU: saerun's step with the dense decoder and
#                      with the sparse one (gathers, scatter-adds), at that shape and at the
#                      anchor's (768 → 24,576 latents, k 32, batch 4,096)
# then prints the table (s/epoch, s per model-epoch, first epoch, compile
# s, final losses) and writes results.md, results.json and all.tar.gz (raw records, saerun
# tables, logs; a few MB) to $OUT (the device tool's output folder; default bench/out-gpu).
#
#   bash bench/gpu.sh [--epochs N] [--groups "8 64"] [--only LIST] [--saerun BIN]
#                     [--data-dir DIR] [--python PY] [--cpu-dry]
#
#   --epochs N     epochs of every program (default 6: s/epoch is the median of epochs 2..6;
#                  --cpu-dry: 2)
#   --groups LIST  group sizes (default "8 64"; specs exist for 8 and 64)
#   --only LIST    comma-separated subset of saerun,saerun-group,jax-step,jax-scan,
#                  jax-vmap-scan,torch,quickstart,sae-saerun,sae-torch,sae-pieces (default:
#                  all; the SAE rows alone: --only sae-saerun,sae-torch,sae-pieces)
#   --saerun BIN   the saerun binary (default: unpack .device/saerun.gz; --cpu-dry: build it)
#   --pieces BIN   the bench/sae/pieces binary (default: unpack .device/pieces.gz; --cpu-dry:
#                  build it)
#   --data-dir D   folder holding fashion-mnist/ (default .device/data, else ../shared/datasets)
#   --python PY    the Python with jax and torch (default python3; --cpu-dry: bench/.venv)
#   --cpu-dry      check the script on a machine without a GPU: the same steps on the CPU
#                  (saerun --backend xla, JAX_PLATFORMS=cpu, torch on the CPU, 2 threads),
#                  2048 training / 512 validation samples. Its times mean nothing.
#
# On the device (after building .device/saerun.gz and copying the data, see bench/README.md):
#   run: bash bench/gpu.sh      carry: [".device"]
# (.device/pieces.gz as .device/saerun.gz: go build -trimpath -ldflags "-s -w" -o /tmp/pieces
# ./bench/sae/pieces && gzip -c /tmp/pieces > .device/pieces.gz)
# Every step has a time limit (STEP_TIMEOUT, default 150 s) and the steps together a budget
# (BUDGET, default 420 s: steps that would start after it are skipped, so that the table is
# always written within one device call); a failed step is reported and skipped. XLA_FLAGS
# from the environment reach saerun and JAX alike.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
EPOCHS=""
GROUPS_LIST="8 64"
ONLY="saerun,saerun-group,jax-step,jax-scan,jax-vmap-scan,torch,quickstart,sae-saerun,sae-torch,sae-pieces"
SAERUN=""
PIECES=""
DATA_DIR=""
PY=""
DRY=0
STEP_TIMEOUT="${STEP_TIMEOUT:-150}"
BUDGET="${BUDGET:-420}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) EPOCHS="$2"; shift 2 ;;
    --groups) GROUPS_LIST="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --saerun) SAERUN="$2"; shift 2 ;;
    --pieces) PIECES="$2"; shift 2 ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --cpu-dry) DRY=1; shift ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
EPOCHS="${EPOCHS:-$( ((DRY)) && echo 2 || echo 6)}"
[[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] && (( EPOCHS >= 2 )) || { echo "gpu.sh: --epochs must be an integer >= 2, got $EPOCHS" >&2; exit 2; }
for k in $GROUPS_LIST; do
  [[ "$k" =~ ^[1-9][0-9]*$ && -f "$BENCH/specs/fmnist_l1_sweep$k.yaml" ]] || {
    echo "gpu.sh: --groups: no bench/specs/fmnist_l1_sweep$k.yaml for group size '$k' (there are 8 and 64)" >&2; exit 2; }
done
for n in "$STEP_TIMEOUT" "$BUDGET"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "gpu.sh: STEP_TIMEOUT and BUDGET must be positive integers (seconds), got $n" >&2; exit 2; }
done
for s in ${ONLY//,/ }; do
  case "$s" in saerun|saerun-group|jax-step|jax-scan|jax-vmap-scan|torch|quickstart|sae-saerun|sae-torch|sae-pieces) ;;
    *) echo "gpu.sh: --only: unknown step '$s' (saerun, saerun-group, jax-step, jax-scan, jax-vmap-scan, torch, quickstart, sae-saerun, sae-torch, sae-pieces)" >&2; exit 2 ;;
  esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
# Model (a)'s steps read Fashion-MNIST; the SAE rows use synthetic data.
want_a() { want saerun || want saerun-group || want jax-step || want jax-scan || want jax-vmap-scan || want torch || want quickstart; }

RESULT="${OUT:-$BENCH/out-gpu}"
mkdir -p "$RESULT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/round1"
mkdir -p "$R/raw" "$R/logs" "$WORK/specs"
: > "$R/wall.tsv"

if [[ -z "$DATA_DIR" ]]; then
  DATA_DIR="$ROOT/.device/data"
  [[ -d "$DATA_DIR/fashion-mnist" ]] || DATA_DIR="$ROOT/../shared/datasets"
fi
if want_a; then
  [[ -d "$DATA_DIR/fashion-mnist" ]] || { echo "gpu.sh: no fashion-mnist/ in $DATA_DIR (--data-dir)" >&2; exit 2; }
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  export SAERUN_DATA_DIR="$DATA_DIR"
fi

SAERUN_ARGS=(--data-dir "$DATA_DIR" --set "train.epochs=$EPOCHS")
PY_ARGS=(--epochs "$EPOCHS")
JAX_ARGS=()
if (( DRY )); then
  PY="${PY:-$BENCH/.venv/bin/python}"
  export JAX_PLATFORMS=cpu GOMAXPROCS=2 OMP_WAIT_POLICY=PASSIVE
  BACKEND=xla VARIANT=xla TORCH_DEVICE=cpu THREADS=2
  SAERUN_ARGS+=(--set dataset.max_train_samples=2048 --set dataset.max_validation_samples=512)
  PY_ARGS+=(--max-train 2048 --max-validation 512)
else
  PY="${PY:-python3}"
  PLUGIN="$("$PY" -c 'import jax_plugins.xla_cuda13 as m, os; print(os.path.dirname(m.__file__))')/xla_cuda_plugin.so"
  [[ -f "$PLUGIN" ]] || { echo "gpu.sh: no CUDA PJRT plugin at $PLUGIN (is jax-cuda13-pjrt installed?)" >&2; exit 2; }
  BACKEND="xla:$PLUGIN" VARIANT=cuda TORCH_DEVICE=cuda THREADS=0
  JAX_ARGS+=(--accelerator)
fi

if [[ -z "$SAERUN" ]] && { want saerun || want saerun-group || want quickstart || want sae-saerun; }; then
  SAERUN="$WORK/saerun"
  if [[ -f "$ROOT/.device/saerun.gz" ]]; then
    gunzip -c "$ROOT/.device/saerun.gz" > "$SAERUN"
    chmod +x "$SAERUN"
  elif (( DRY )); then
    (cd "$ROOT" && go build -o "$SAERUN" ./experiments)
  else
    echo "gpu.sh: no saerun binary: pass --saerun BIN or build .device/saerun.gz (bench/README.md)" >&2; exit 2
  fi
fi
if [[ -z "$PIECES" ]] && want sae-pieces; then
  PIECES="$WORK/pieces"
  if [[ -f "$ROOT/.device/pieces.gz" ]]; then
    gunzip -c "$ROOT/.device/pieces.gz" > "$PIECES"
    chmod +x "$PIECES"
  elif (( DRY )); then
    (cd "$ROOT" && go build -o "$PIECES" ./bench/sae/pieces)
  else
    echo "gpu.sh: no pieces binary: pass --pieces BIN or build .device/pieces.gz (see above)" >&2; exit 2
  fi
fi
for k in "" $GROUPS_LIST; do
  f="fmnist_l1${k:+_sweep$k}.yaml"
  sed -E "s/epochs: [0-9]+/epochs: $EPOCHS/" "$BENCH/specs/$f" > "$WORK/specs/$f"
done

# timed NAME CMD...: runs CMD (at most STEP_TIMEOUT s, and not past BUDGET s from here), logs
# to $R/logs/NAME.log, appends its wall seconds and the 1-minute load average before and
# after to $R/wall.tsv.
START=$SECONDS
timed() {
  local name="$1"; shift
  local t0 t1 l0 rc=0 left=$((BUDGET - (SECONDS - START)))
  echo "== $name" >&2
  if (( left < 10 )); then
    echo "   SKIPPED: the budget of $BUDGET s is spent" | tee "$R/logs/$name.log" >&2
    return 0
  fi
  (( left < STEP_TIMEOUT )) || left=$STEP_TIMEOUT
  l0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$EPOCHREALTIME
  timeout "$left" "$@" > "$R/logs/$name.log" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  if (( rc != 0 )); then
    echo "   FAILED (exit $rc$( ((rc == 124)) && echo ", over $left s"); see logs/$name.log):" >&2
    tail -5 "$R/logs/$name.log" >&2
    return 0
  fi
  awk -v n="$name" -v a="$t0" -v b="$t1" -v l0="$l0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s %.3f %s %s\n", n, b - a, l0, l1 }' >> "$R/wall.tsv"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   %.1f s\n", b - a }' >&2
}

# saerun from the repository root (the CPU plugin of --cpu-dry is found in .venv there).
if want saerun; then
  timed "a-saerun-$VARIANT" bash -c 'cd "$0" && exec "$@"' "$ROOT" "$SAERUN" --backend "$BACKEND" \
    "${SAERUN_ARGS[@]}" --group-size 1 --out "$R/saerun-$VARIANT" "$WORK/specs/fmnist_l1.yaml"
fi
if want saerun-group; then
  for k in $GROUPS_LIST; do
    timed "a-saerun-$VARIANT-g$k" bash -c 'cd "$0" && exec "$@"' "$ROOT" "$SAERUN" --backend "$BACKEND" \
      "${SAERUN_ARGS[@]}" --group-size "$k" --out "$R/saerun-$VARIANT" "$WORK/specs/fmnist_l1_sweep$k.yaml"
  done
fi
for fw in jax-step jax-scan; do
  want "$fw" || continue
  timed "a-$fw" "$PY" "$BENCH/jax_bench.py" --framework "$fw" --model a "${PY_ARGS[@]}" "${JAX_ARGS[@]}" --threads "$THREADS" \
    --out "$R/raw/a-$fw.json"
done
if want jax-vmap-scan; then
  for k in $GROUPS_LIST; do
    timed "a-jax-vmap-scan-$k" "$PY" "$BENCH/jax_bench.py" --framework jax-vmap-scan --group-size "$k" --model a \
      "${PY_ARGS[@]}" "${JAX_ARGS[@]}" --threads "$THREADS" --out "$R/raw/a-jax-vmap-scan-$k.json"
  done
fi
if want torch; then
  timed a-torch "$PY" "$BENCH/py_bench.py" --framework torch --device "$TORCH_DEVICE" --model a "${PY_ARGS[@]}" \
    --threads "$THREADS" --out "$R/raw/a-torch.json"
fi
# The SAE rows (issue 24): bench/sae/run.sh's layout under $WORK/sae, summarized by
# bench/sae/summarize.py into results.md's SAE section.
SR="$WORK/sae/round1"
mkdir -p "$SR/raw"
SAE_STEPS=$( ((DRY)) && echo 2 || echo 16 )
SAE_TRAIN=$((SAE_STEPS * 4096)) SAE_VAL=4096
SAE_SAMPLES=$((SAE_STEPS * 5120)); (( SAE_SAMPLES >= 5 * SAE_VAL )) || SAE_SAMPLES=$((5 * SAE_VAL))
if want sae-saerun; then
  timed "sae-saerun-$VARIANT" bash -c 'cd "$0" && exec "$@"' "$ROOT" "$SAERUN" --backend "$BACKEND" \
    --set "train.epochs=$EPOCHS" --set "dataset.synthetic.samples=$SAE_SAMPLES" --set "dataset.max_train_samples=$SAE_TRAIN" \
    --set "dataset.max_validation_samples=$SAE_VAL" --set model.sae.dead_after=10000000 \
    --out "$SR/saerun-$VARIANT" "$BENCH/sae/topk.yaml"
fi
if want sae-torch; then
  for impl in saelens sparse; do
    timed "sae-torch-$impl" bash -c '"$@" > "$0"' "$SR/raw/torch-$impl.json" "$PY" "$BENCH/sae/torch_sae.py" --impl "$impl" \
      --device "$TORCH_DEVICE" --threads 2 --epochs "$EPOCHS" --train-samples "$SAE_TRAIN" \
      --validation-samples "$SAE_VAL" --batch 4096 --dead-after 10000000
  done
fi
if want sae-pieces; then
  # Only the whole-step rows and the sparse pieces (the others are the CPU's story); at the
  # anchor's shape the dense step alone holds ~6 GB of [4096, 24576] temporaries.
  timed sae-pieces "$PIECES" --backend "$BACKEND" --runs "$( ((DRY)) && echo 1 || echo 5 )" --only "step:" \
    $( ((DRY)) && echo "--batch 256" )
  cp "$R/logs/sae-pieces.log" "$WORK/sae/pieces-bench.tsv" 2>/dev/null || true
  timed sae-pieces-anchor "$PIECES" --backend "$BACKEND" --runs "$( ((DRY)) && echo 1 || echo 5 )" --only "step:" \
    --dim 768 --latents 24576 --batch "$( ((DRY)) && echo 64 || echo 4096 )"
  cp "$R/logs/sae-pieces-anchor.log" "$WORK/sae/pieces-anchor.tsv" 2>/dev/null || true
fi

QUICK=""
if want quickstart; then
  # The README's quickstart (digits, 18 runs): its "done in" line, on this backend.
  timed quickstart bash -c 'cd "$0" && exec "$@"' "$ROOT" "$SAERUN" --backend "$BACKEND" \
    --out "$WORK/quickstart" experiments/quickstart.yaml
  QUICK="$(grep -m1 -o 'done in.*' "$R/logs/quickstart.log" || true)"
fi

{
  echo "command: bench/gpu.sh --epochs $EPOCHS --groups \"$GROUPS_LIST\" --only $ONLY$( ((DRY)) && echo " --cpu-dry (CPU, 2048/512 samples: times mean nothing)")"
  echo "date: $(date -u '+%F %T') UTC; host: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'))"
  if command -v nvidia-smi >/dev/null; then
    echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
  fi
  echo "backend: $BACKEND; XLA_FLAGS=${XLA_FLAGS:-(unset)}"
  echo "python: $("$PY" -c 'import sys, importlib.metadata as m
v = []
for p in ("jax", "jaxlib", "jax-cuda13-pjrt", "torch", "numpy"):
    try:
        v.append(p + " " + m.version(p))
    except m.PackageNotFoundError:
        pass
print(sys.version.split()[0] + "; " + ", ".join(v))')"
  [[ -n "$QUICK" ]] && echo "quickstart (experiments/quickstart.yaml, 18 digits runs): $QUICK"
  true
} > "$WORK/machine.txt"
if want_a; then
  "$PY" "$BENCH/summarize.py" "$WORK"
else
  cp "$WORK/machine.txt" "$WORK/results.md"
  echo '{}' > "$WORK/results.json"
fi
if want sae-saerun || want sae-torch; then
  cp "$WORK/machine.txt" "$WORK/sae/machine.txt"
  if "$PY" "$BENCH/sae/summarize.py" "$WORK/sae" > /dev/null; then
    { echo; echo "## SAE (bench/sae/topk.yaml, $SAE_STEPS steps of 4,096 per epoch)"
      grep -v -F -x -f "$WORK/machine.txt" "$WORK/sae/results.md" | cat -s; } >> "$WORK/results.md"
    cp "$WORK/sae/results.json" "$WORK/results-sae.json"
  fi
fi
for f in pieces-bench pieces-anchor; do
  [[ -s "$WORK/sae/$f.tsv" ]] || continue
  { echo; echo "## bench/sae/pieces ($f: ms per call, min and median; CPU ms)"; echo
    echo '```'; cat "$WORK/sae/$f.tsv"; echo '```'; } >> "$WORK/results.md"
done
cp "$WORK/results.md" "$WORK/results.json" "$RESULT/"
[[ -f "$WORK/results-sae.json" ]] && cp "$WORK/results-sae.json" "$RESULT/"
# Not the quickstart's results (40 MB of recordings) nor the binary: a file that comes back
# from the device machine may have at most 16 MiB.
tar -czf "$RESULT/all.tar.gz" -C "$WORK" --exclude=saerun --exclude=pieces machine.txt results.md results.json specs round1 sae
echo "gpu.sh: wrote $RESULT/results.md, results.json, all.tar.gz" >&2
