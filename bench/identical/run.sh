#!/usr/bin/env bash
# Trains the quickstart with the code of two commits and compares every table run by
# run (bench/identical/compare.py): the check behind "bit-identical before and after" in
# a note. Backend: $BACKEND (go, default, or xla).
#   bash bench/identical/run.sh a6f35db HEAD
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BEFORE=${1:?usage: run.sh COMMIT_BEFORE COMMIT_AFTER}; AFTER=${2:-HEAD}; BACKEND=${BACKEND:-go}
TMP="$(mktemp -d)"; trap 'git worktree remove --force "$TMP/src" 2>/dev/null; rm -rf "$TMP"' EXIT
for c in "$BEFORE" "$AFTER"; do
  git worktree add -q --detach "$TMP/src" "$c"
  (cd "$TMP/src" && go build -o "$TMP/bin-$c" ./experiments)
  git worktree remove --force "$TMP/src"
  "$TMP/bin-$c" --out "$TMP/out-$c" --backend "$BACKEND" experiments/quickstart.yaml >/dev/null 2>"$TMP/log-$c" || { tail "$TMP/log-$c"; exit 1; }
done
.venv/bin/python bench/identical/compare.py "$TMP/out-$BEFORE/quickstart-kl" "$TMP/out-$AFTER/quickstart-kl"
