#!/usr/bin/env bash
# Reproduces every experiment of the reference notebooks (experiments/seeds/*.yaml) in
# full, then prints a summary table read back from results/seeds/<name>/{runs,metrics}.
#
#   bash scripts/reproduce.sh                 # XLA CPU backend (scripts/setup.sh installs it)
#   BACKEND=go bash scripts/reproduce.sh      # pure-Go backend (~20x slower on MNIST models)
#   OUT=/tmp/seeds bash scripts/reproduce.sh  # another results root
#   bash scripts/reproduce.sh experiments/seeds/mnist-vae.yaml   # only some specs
#
# Runs use --resume: an interrupted reproduction continues where it stopped, and specs
# already complete are skipped (delete $OUT/<name> to re-run one).
#
# Then the table (experiments/seeds/report.py --check: it fails when a run does not beat
# predicting the mean training image), then, when every spec was run (no arguments), the
# seed notebooks (notebooks/seeds/) at full length over the same results, which they only
# read: executed copies and HTML pages in $OUT/notebooks/ (SKIP_NOTEBOOKS=1 to skip).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${BACKEND:-xla}
OUT=${OUT:-results/seeds}
PYTHON=${PYTHON:-.venv/bin/python}

if [ "$#" -gt 0 ]; then specs=("$@"); else specs=(experiments/seeds/*.yaml); fi

go build -o "${TMPDIR:-/tmp}/saerun-reproduce.$$" ./experiments
bin="${TMPDIR:-/tmp}/saerun-reproduce.$$"
trap 'rm -f "$bin"' EXIT

start=$(date +%s)
status=0
for spec in "${specs[@]}"; do
  echo "== $spec (backend $BACKEND)" >&2
  t0=$(date +%s)
  if ! "$bin" --backend "$BACKEND" --out "$OUT" --resume "$spec"; then
    echo "!! $spec did not complete every run (see above)" >&2
    status=1
  fi
  echo "== $spec: $(( $(date +%s) - t0 )) s" >&2
done
echo "== all specs: $(( $(date +%s) - start )) s wall on $(nproc) cores" >&2

names=()
for spec in "${specs[@]}"; do names+=("$(basename "$spec" .yaml)"); done
"$PYTHON" experiments/seeds/report.py --check --results "$OUT" "${names[@]}" || status=1

if [ "$#" -eq 0 ] && [ "${SKIP_NOTEBOOKS:-0}" != 1 ]; then
  echo "== seed notebooks at full length (HTML in $OUT/notebooks)" >&2
  SAERUN_SEEDS_QUICK=0 SAERUN_SEEDS_RESULTS="$(cd "$OUT" && pwd)" SAERUN_NOTEBOOKS_OUT="$OUT/notebooks" \
    bash scripts/notebooks.sh notebooks/seeds/*.ipynb || status=1
fi
exit $status
