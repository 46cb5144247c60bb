#!/usr/bin/env bash
# The project's test command (README, CI): installs what is missing (scripts/setup.sh,
# idempotent), then runs
#   1. go vet and the Go tests (they read ../shared/datasets where present),
#   2. the quickstart sweep into a temporary folder, on the default backend,
#   3. the Python tests, which read those results back with pandas.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

echo "== go vet / go test =="
go vet ./...
go test -count=1 ./... 2>&1 | tee /tmp/saerun-go-test.log
grep -q '^FAIL' /tmp/saerun-go-test.log && exit 1

echo "== quickstart sweep =="
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
start=$SECONDS
go run ./experiments --out "$OUT" experiments/quickstart.yaml 2> "$OUT/quickstart.log" || { tail -30 "$OUT/quickstart.log"; exit 1; }
tail -1 "$OUT/quickstart.log"
echo "quickstart wall time (incl. build): $((SECONDS - start))s"

echo "== python tests =="
SAERUN_QUICKSTART_RESULTS="$OUT/quickstart-kl" .venv/bin/python -m pytest -q tests
