#!/usr/bin/env bash
# Set up everything the notebooks and the Python tests need, pinned:
#   - .venv/        Python venv with scripts/requirements.txt (Jupyter, nbconvert, pandas, ...)
#   - .tools/bin/   Go tools pinned in tools/go.mod: gonb, goimports, gopls
#   - GoNB Jupyter kernel "gonb", installed inside .venv (self-contained)
#   - optionally the XLA plugin, via scripts/install-xla-plugin.sh (if present)
#   - Debian's chromium (apt, when missing and run as root): the report page's test
#   - .venv-mlflow/ the MLflow tracking server (scripts/requirements-mlflow.txt) for tests/test_mlflow.py
#
# Idempotent: a second run only checks stamps and exits in a few seconds.
# Only package registries are used (PyPI through pip, the Go module proxy, Debian's apt).
#
# Environment:
#   SETUP_SKIP_PYTHON=1   skip the venv / pip part
#   SETUP_SKIP_GONB=1     skip the Go tools and the GoNB kernel
#   SETUP_SKIP_XLA=1      skip the XLA plugin even if its installer exists
#   SETUP_SKIP_CHROMIUM=1 skip installing chromium
#   SETUP_SKIP_MLFLOW=1   skip the MLflow server's venv (.venv-mlflow; tests/test_mlflow.py is then skipped, or fails in CI)
#   PYTHON=python3.11     interpreter used to create .venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
TOOLS_DIR="$ROOT/.tools"
TOOLS_BIN="$TOOLS_DIR/bin"
REQS="$ROOT/scripts/requirements.txt"
PYTHON="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

START=$SECONDS

# ---------------------------------------------------------------- Python venv
if [[ "${SETUP_SKIP_PYTHON:-0}" != "1" ]]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$VENV"
  fi
  # Stamp = hash of the requirements + the interpreter version.
  want="$( { cat "$REQS"; "$VENV/bin/python" --version 2>&1; } | sha256sum | cut -d' ' -f1)"
  stamp="$VENV/.requirements.sha256"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "python requirements up to date (stamp matches)"
  else
    log "pip install -r scripts/requirements.txt (first time: ~1 min)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    echo "$want" > "$stamp"
  fi
  # The MLflow tracking server (tests/test_mlflow.py), in a venv of its own: its
  # pyarrow<26 conflicts with .venv's pins.
  if [[ "${SETUP_SKIP_MLFLOW:-0}" != "1" ]]; then
    MLFLOW_VENV="$ROOT/.venv-mlflow"
    MLFLOW_REQS="$ROOT/scripts/requirements-mlflow.txt"
    [[ -x "$MLFLOW_VENV/bin/python" ]] || "$PYTHON" -m venv "$MLFLOW_VENV"
    want="$( { cat "$MLFLOW_REQS"; "$MLFLOW_VENV/bin/python" --version 2>&1; } | sha256sum | cut -d' ' -f1)"
    stamp="$MLFLOW_VENV/.requirements.sha256"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
      log "mlflow requirements up to date (stamp matches)"
    else
      log "pip install -r scripts/requirements-mlflow.txt into .venv-mlflow (first time: ~2 min)"
      "$MLFLOW_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$MLFLOW_REQS"
      echo "$want" > "$stamp"
    fi
  fi
else
  log "SETUP_SKIP_PYTHON=1: skipping the Python venv"
fi

# ------------------------------------------------------- Go tools + GoNB kernel
if [[ "${SETUP_SKIP_GONB:-0}" != "1" ]]; then
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || die "go not found on PATH"
  GO_BIN_DIR="$(dirname "$(command -v go)")"
  mkdir -p "$TOOLS_BIN"
  log "go install tool (tools/go.mod: gonb, goimports, gopls; first time: ~1.5 min)"
  # GOWORK=off: a go.work at the repo root must not leak into the tools module.
  (cd "$ROOT/tools" && GOWORK=off GOBIN="$TOOLS_BIN" GOFLAGS="${GOFLAGS:-} -mod=readonly" go install tool)
  export PATH="$TOOLS_BIN:$PATH"
  for t in gonb goimports gopls; do
    [[ -x "$TOOLS_BIN/$t" ]] || die "$t was not installed into $TOOLS_BIN"
  done

  KERNEL_PENDING=1
else
  log "SETUP_SKIP_GONB=1: skipping Go tools and the GoNB kernel"
fi

# ------------------------------------------------------------ XLA plugin (opt)
XLA_INSTALLER="$ROOT/scripts/install-xla-plugin.sh"
# Optional for users (the go backend always works); required where SAERUN_REQUIRE_XLA=1
# (.ci/run sets it): then a skipped or failed plugin install fails setup.
xla_failed() {
  if [[ "${SAERUN_REQUIRE_XLA:-0}" == "1" ]]; then
    die "$1 (SAERUN_REQUIRE_XLA=1: the XLA plugin is required)"
  fi
  log "WARNING: $1; continuing without the XLA plugin"
}
if [[ "${SAERUN_REQUIRE_XLA:-0}" == "1" && ( "${SETUP_SKIP_XLA:-0}" == "1" || ! -f "$XLA_INSTALLER" ) ]]; then
  die "SAERUN_REQUIRE_XLA=1 but the XLA plugin install is skipped (SETUP_SKIP_XLA=1) or scripts/install-xla-plugin.sh is missing"
fi
if [[ "${SETUP_SKIP_XLA:-0}" != "1" && -f "$XLA_INSTALLER" ]]; then
  mkdir -p "$TOOLS_DIR"
  rm -f "$TOOLS_DIR/xla-plugin.path"
  log "installing the XLA plugin via scripts/install-xla-plugin.sh"
  if out="$(bash "$XLA_INSTALLER" "$VENV")"; then
    so="$(printf '%s\n' "$out" | awk 'NF' | tail -n1)"
    if [[ -n "$so" && -e "$so" ]]; then
      printf '%s\n' "$so" > "$TOOLS_DIR/xla-plugin.path"
      log "XLA plugin: $so (written to .tools/xla-plugin.path)"
    else
      xla_failed "install-xla-plugin.sh printed no existing path ('$so'); .tools/xla-plugin.path not written"
    fi
  else
    xla_failed "install-xla-plugin.sh failed"
  fi
fi

# ------------------------------------------------------------------ chromium
# tests/test_report.py opens the report page in headless Chromium. Debian's package,
# at the version this was tested with when the archive still has it, else the
# archive's current one (Debian's security archive keeps only the latest).
CHROMIUM_VERSION="156.0.8078.114-1~deb12u1"
if [[ "${SETUP_SKIP_CHROMIUM:-0}" != "1" ]] && ! command -v chromium >/dev/null; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    log "apt-get install chromium (first time: ~1 min)"
    apt-get update -qq >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "chromium=$CHROMIUM_VERSION" >&2; then
      log "chromium $CHROMIUM_VERSION is no longer in the archive: installing its current version"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
    fi
  else
    log "chromium missing and not root: tests/test_report.py will be skipped (install Debian's chromium)"
  fi
fi

# ------------------------------------------------------------- GoNB kernel
if [[ "${KERNEL_PENDING:-0}" == "1" ]]; then
  if [[ -x "$VENV/bin/python" ]]; then
    KDIR="$VENV/share/jupyter/kernels/gonb"
    # gonb writes kernels/gonb/{kernel.json,logo-svg.svg} under $JUPYTER_DATA_DIR.
    JUPYTER_DATA_DIR="$VENV/share/jupyter" "$TOOLS_BIN/gonb" --install >/dev/null 2>&1 \
      || JUPYTER_DATA_DIR="$VENV/share/jupyter" "$TOOLS_BIN/gonb" --install  # rerun to show the error
    # Rewrite kernel.json: absolute gonb path, and PATH so that gonb finds
    # goimports/gopls (.tools/bin) and go at run time, whatever PATH Jupyter has.
    # If the XLA plugin is installed, point GoMLX at it too (no auto-download).
    "$VENV/bin/python" - "$KDIR/kernel.json" "$TOOLS_BIN" "$GO_BIN_DIR" "$TOOLS_DIR/xla-plugin.path" <<'PY'
import json, os, sys
path, tools_bin, go_bin, xla_file = sys.argv[1:5]
with open(path) as f:
    spec = json.load(f)
argv = spec.get("argv") or []
if not argv or not argv[0].startswith("/"):
    argv = [tools_bin + "/gonb", "--kernel", "{connection_file}"]
spec["argv"] = argv
spec["display_name"] = "Go (gonb)"
spec["language"] = "go"
env = spec.get("env") or {}
# ${PATH} is substituted by jupyter_client from the launching environment.
env["PATH"] = f"{tools_bin}:{go_bin}:${{PATH}}"
# Repo root, for notebooks outside a git checkout (see docs/gonb-setup.md).
env["SAERUN_ROOT"] = os.path.dirname(os.path.dirname(tools_bin))
for k in ("PJRT_PLUGIN_LIBRARY_PATH", "GOMLX_NO_AUTO_INSTALL"):
    env.pop(k, None)
if os.path.isfile(xla_file):
    so = open(xla_file).read().strip()
    if so and os.path.exists(so):
        env["PJRT_PLUGIN_LIBRARY_PATH"] = os.path.dirname(so)
        env["GOMLX_NO_AUTO_INSTALL"] = "1"
spec["env"] = env
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")
PY
    log "GoNB kernel 'gonb' installed in $KDIR"
  else
    log "no $VENV (SETUP_SKIP_PYTHON=1?): GoNB kernel not installed"
  fi
fi

# ------------------------------------------------------------------- summary
echo "== setup summary ($((SECONDS - START))s) =="
if [[ -x "$VENV/bin/python" ]]; then
  echo "venv python : $VENV/bin/python ($("$VENV/bin/python" --version 2>&1))"
  if [[ -x "$VENV/bin/jupyter" ]]; then
    echo "jupyter     : $("$VENV/bin/python" -c 'import jupyter_core, jupyter_client, nbconvert; print(f"jupyter_core {jupyter_core.__version__}, jupyter_client {jupyter_client.__version__}, nbconvert {nbconvert.__version__}")' 2>/dev/null || echo '?')"
  fi
fi
if [[ -x "$TOOLS_BIN/gonb" ]]; then
  # (gonb -V of v0.11.4 still self-reports v0.11.1; the module version is exact.)
  echo "gonb        : $TOOLS_BIN/gonb ($(go version -m "$TOOLS_BIN/gonb" 2>/dev/null | awk '$1=="mod"{print $2" "$3}'))"
  echo "gopls       : $("$TOOLS_BIN/gopls" version 2>/dev/null | head -n1)"
fi
if [[ -f "$TOOLS_DIR/xla-plugin.path" ]]; then
  echo "xla plugin  : $(cat "$TOOLS_DIR/xla-plugin.path")"
fi
if [[ -x "$VENV/bin/jupyter" ]]; then
  echo "kernels     :"
  "$VENV/bin/jupyter" kernelspec list 2>/dev/null | sed 's/^/  /'
fi
