#!/usr/bin/env bash
# The project's test command (README, CI): installs what is missing (scripts/setup.sh,
# idempotent), then runs
#   1. go vet and the Go tests (they read ../shared/datasets where present),
#   2. go test -race over the packages that run goroutines,
#   3. the quickstart sweep into a temporary folder, on the default backend (xla when
#      SAERUN_REQUIRE_XLA=1, as .ci/run sets: then no XLA test may skip either),
#   4. the Python tests, which read those results back with pandas.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
# SAELens in its own venv, for tests/test_saelens_export.py (CI must run it; elsewhere
# the test skips until scripts/setup-saelens.sh has run).
[[ "${SAERUN_REQUIRE_XLA:-0}" == "1" ]] && bash scripts/setup-saelens.sh

echo "== go vet / go test =="
go vet ./...
go test -count=1 ./... 2>&1 | tee /tmp/saerun-go-test.log
grep -q '^FAIL' /tmp/saerun-go-test.log && exit 1

# The race detector over the packages whose code or tests run goroutines (dataset
# loading, the runner and its multi-process tests, the command's signal handling).
# checkptr, which -race turns on, is off for gomlx/compute only: its pure-Go matmul
# does pointer arithmetic that checkptr rejects ("pointer arithmetic result points to
# invalid allocation"), in a library we do not patch. The seeds reproductions, the
# 20-kill crash test, the 20 AuxK runs and the kill-and-resume tests of streamed sweeps
# and of hostile checkpoints ran above; under -race they only cost minutes (the
# streamed SIGKILL test alone 95 s: its children are the race-built test binary).
# TestSIGKILLedSweepResumesFromCheckpointsBitIdentically stays: a kill-and-resume under
# the race detector.
echo "== go test -race =="
start=$SECONDS
go test -race -count=1 -gcflags='github.com/gomlx/compute/...=-d=checkptr=0' \
  -skip 'TestSeedsSpecsRunShortened|TestSweepSurvivesRepeatedSIGKILLAndResumes|TestAuxKRunsDoNotHangTheGoBackendOnTwoCores|TestSIGKILLedStreamedSweepResumesFromCheckpointsBitIdentically|TestSIGKILLedOneEpochStreamedSweepResumesInsideTheEpochBitIdentically|TestHostileCheckpointsAreRefusedByNameAndTheRunRestartsFromAGoodOne' \
  ./pkg/data ./pkg/backend ./pkg/runner ./experiments
echo "go test -race wall time (incl. build): $((SECONDS - start))s"

echo "== quickstart sweep =="
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
start=$SECONDS
BACKEND=()
[[ "${SAERUN_REQUIRE_XLA:-0}" == "1" ]] && BACKEND=(--backend xla)
go run ./experiments --out "$OUT" "${BACKEND[@]}" experiments/quickstart.yaml 2> "$OUT/quickstart.log" || { tail -30 "$OUT/quickstart.log"; exit 1; }
tail -1 "$OUT/quickstart.log"
echo "quickstart wall time (incl. build): $((SECONDS - start))s"

echo "== python tests =="
SAERUN_QUICKSTART_RESULTS="$OUT/quickstart-kl" .venv/bin/python -m pytest -q --durations=12 tests
echo "scripts/test.sh wall time: ${SECONDS}s"
