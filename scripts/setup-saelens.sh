#!/usr/bin/env bash
# Makes .venv-saelens: a venv of its own holding SAELens (and the torch it pulls), pinned
# in scripts/requirements-saelens.txt, for tests/test_saelens_export.py, which loads the
# folders `go run ./experiments export --format saelens` writes with SAELens itself.
# Kept apart from .venv: torch and SAELens' dependencies are large, and the notebooks
# and the other Python tests need none of them.
#
# Only PyPI is reached (PyTorch's own CPU-wheel index is not), so torch is PyPI's Linux
# wheel, which declares its CUDA libraries (nvidia-* packages) as dependencies: they are
# installed too, and unused on a CPU. SAELens is installed with its real dependencies
# (its package imports transformer_lens, transformers and datasets at import time).
#
# Idempotent: a second run checks a stamp and exits in a second.
# scripts/test.sh runs it when SAERUN_REQUIRE_XLA=1 (CI); elsewhere run it by hand.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-saelens"
REQS="$ROOT/scripts/requirements-saelens.txt"
PYTHON="${PYTHON:-python3}"
log() { printf '[setup-saelens] %s\n' "$*" >&2; }

start=$SECONDS
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi
want="$( { cat "$REQS"; "$VENV/bin/python" --version 2>&1; } | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "SAELens venv up to date (stamp matches)"
else
  log "pip install -r scripts/requirements-saelens.txt (first time: ~15 min, a 6.3 GB venv, most of it torch's CUDA libraries)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  "$VENV/bin/python" -c 'import sae_lens, torch; print("sae_lens", sae_lens.__version__, "torch", torch.__version__)' >&2
  echo "$want" > "$stamp"
fi
log "done in $((SECONDS - start))s"
