#!/usr/bin/env bash
# Execute the notebooks headless, as CI does, and keep what they produced:
#   results/notebooks/<name>.ipynb   the executed copy (outputs, figures as image/png)
#   results/notebooks/<name>.html    the same as a page (no scripts from a CDN)
#   results/notebooks/times.tsv      seconds per notebook
# The sources in notebooks/ are left untouched (they are committed without outputs).
#
#   bash scripts/notebooks.sh                          # every notebooks/*.ipynb and notebooks/seeds/*.ipynb
#   bash scripts/notebooks.sh notebooks/01-quickstart.ipynb
#
# Each notebook runs in the kernel its metadata names: "gonb" (GoNB) or "python3", both
# installed into .venv by scripts/setup.sh (run it first; this script does not install).
# Every notebook is run even if one fails; the exit status is non-zero if any cell of any
# notebook raised an error.
#
# Environment:
#   SAERUN_NOTEBOOKS_OUT   output folder (default results/notebooks)
#   SAERUN_RESULTS         quickstart sweep folder for 03-pandas-analysis (default
#                          results/quickstart-kl, run there when missing)
#   NOTEBOOK_TIMEOUT       seconds per cell (default 900; a cold Go build cache makes the
#                          first GoNB cells slow)
#   SAERUN_SEEDS_QUICK     the seed notebooks' switch (pkg/nb): 1 (the default here, as
#                          CI runs them) trains every seed spec for 2 epochs on 2048/1000
#                          samples; 0 runs them as written (scripts/reproduce.sh)
#   SAERUN_SEEDS_RESULTS   where the seed notebooks' runs go (default: with the switch at 1,
#                          $SAERUN_NOTEBOOKS_OUT/seeds-quick; at 0, results/seeds)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

JUPYTER="$ROOT/.venv/bin/jupyter"
PY="$ROOT/.venv/bin/python"
OUT="${SAERUN_NOTEBOOKS_OUT:-$ROOT/results/notebooks}"
TIMEOUT="${NOTEBOOK_TIMEOUT:-900}"

die() { printf '[notebooks] ERROR: %s\n' "$*" >&2; exit 2; }
[[ -x "$JUPYTER" ]] || die "$JUPYTER not found: run scripts/setup.sh"
# (Captured first: with pipefail, `jupyter ... | grep -q` fails when grep's early exit
# makes jupyter die of SIGPIPE.)
kernels="$("$JUPYTER" kernelspec list 2>/dev/null || true)"
grep -q '^ *gonb ' <<<"$kernels" || die "no GoNB kernel in .venv: run scripts/setup.sh"
# The pandas notebook runs `go run ./experiments` when its results are missing.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || die "go not found on PATH"
export PATH MPLBACKEND=Agg
export SAERUN_SEEDS_QUICK="${SAERUN_SEEDS_QUICK:-1}"
if [[ "$SAERUN_SEEDS_QUICK" == 1 && -z "${SAERUN_SEEDS_RESULTS:-}" ]]; then
  export SAERUN_SEEDS_RESULTS="$OUT/seeds-quick"
fi

if (($#)); then
  notebooks=("$@")
else
  notebooks=("$ROOT"/notebooks/*.ipynb "$ROOT"/notebooks/seeds/*.ipynb)
fi
mkdir -p "$OUT"
TEMPLATE="$OUT/.offline.html.j2"
cat > "$TEMPLATE" <<'EOF'
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
EOF
printf 'notebook\tkernel\tseconds\tstatus\n' > "$OUT/times.tsv"

failed=()
for nb in "${notebooks[@]}"; do
  [[ -f "$nb" ]] || die "$nb: no such notebook"
  name="$(basename "$nb" .ipynb)"
  kernel="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["metadata"]["kernelspec"]["name"])' "$nb")"
  printf '[notebooks] %s (kernel %s) ...\n' "$name" "$kernel" >&2
  rm -f "$OUT/$name.ipynb" "$OUT/$name.html" # no stale copy if this run fails
  start=$SECONDS
  status=ok
  # GoNB logs every cell to stderr (and a harmless "killing gopls" stack at shutdown):
  # keep that in a log file, show its tail only on failure.
  if ! "$JUPYTER" nbconvert --to notebook --execute \
      --ExecutePreprocessor.kernel_name="$kernel" \
      --ExecutePreprocessor.timeout="$TIMEOUT" \
      --output-dir "$OUT" --output "$name" "$nb" > "$OUT/$name.log" 2>&1; then
    status=failed
    failed+=("$name")
    grep -v '^[IW][0-9]\{4\} ' "$OUT/$name.log" | tail -40 >&2
  fi
  secs=$((SECONDS - start))
  printf '%s\t%s\t%d\t%s\n' "$name" "$kernel" "$secs" "$status" >> "$OUT/times.tsv"
  printf '[notebooks] %s: %s in %ds\n' "$name" "$status" "$secs" >&2
  # The HTML page of the executed copy, without the scripts (require.js, MathJax, Mermaid)
  # that nbconvert's page would load from a CDN when viewed: the notebooks need none.
  if [[ "$status" == ok ]]; then
    "$JUPYTER" nbconvert --to html --template-file "$TEMPLATE" \
      --output-dir "$OUT" --output "$name" "$OUT/$name.ipynb" >> "$OUT/$name.log" 2>&1 ||
      printf '[notebooks] %s: HTML export failed (see %s)\n' "$name" "$OUT/$name.log" >&2
  fi
done

column -t -s $'\t' "$OUT/times.tsv" >&2 || cat "$OUT/times.tsv" >&2
if ((${#failed[@]})); then
  printf '[notebooks] FAILED: %s (logs in %s)\n' "${failed[*]}" "$OUT" >&2
  exit 1
fi
printf '[notebooks] all %d notebooks ran; executed copies and HTML in %s\n' "${#notebooks[@]}" "$OUT" >&2
