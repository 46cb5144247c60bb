#!/usr/bin/env bash
# Installs the XLA PJRT CPU plugin (pinned by hash in scripts/requirements-xla.txt) into a
# Python virtual environment and prints the absolute path of the plugin .so on stdout.
#
# Usage: scripts/install-xla-plugin.sh [VENV]   (default: .venv, relative to the current directory)
#
# Only stdout line: the absolute path of pjrt_c_api_cpu_plugin.so. Everything else goes to stderr.
# Downloads only from PyPI (https://pypi.org/simple); local find-links / extra indexes are ignored.
# Idempotent: if the pinned version is installed and the .so is present, pip is not run again.
#
# Use the path with GoMLX as GOMLX_BACKEND="xla:<path>", or put its directory in
# PJRT_PLUGIN_LIBRARY_PATH and use "xla:cpu". Set GOMLX_NO_AUTO_INSTALL=1 as well.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="${SCRIPT_DIR}/requirements-xla.txt"
VENV="${1:-.venv}"

PKG_NAME="lammps-jax-pjrt-cpu"
PKG_VERSION="0.11.2"
PKG_DIR="lammps_jax_pjrt_cpu"
SO_NAME="pjrt_c_api_cpu_plugin.so"

log() { echo "install-xla-plugin: $*" >&2; }

if [[ ! -f "${REQ}" ]]; then
  log "missing ${REQ}"
  exit 1
fi
if ! grep -q "^${PKG_NAME}==${PKG_VERSION} " "${REQ}"; then
  log "${REQ} does not pin ${PKG_NAME}==${PKG_VERSION}; update this script and the requirements together"
  exit 1
fi

# Create the venv if needed.
if [[ ! -x "${VENV}/bin/python" ]]; then
  log "creating virtual environment ${VENV}"
  python3 -m venv "${VENV}" >&2
fi
VENV="$(cd "${VENV}" && pwd)"
PY="${VENV}/bin/python"

# Locate the package directory without importing (executing) the package.
find_so() {
  "${PY}" - "${PKG_DIR}" "${SO_NAME}" <<'PYEOF'
import os, sys, sysconfig
pkg, so = sys.argv[1], sys.argv[2]
seen = []
for key in ("purelib", "platlib"):
    d = sysconfig.get_paths()[key]
    if d in seen:
        continue
    seen.append(d)
    p = os.path.join(d, pkg, so)
    if os.path.isfile(p):
        print(os.path.realpath(p))
        break
PYEOF
}

installed_version() {
  "${PY}" - "${PKG_NAME}" <<'PYEOF' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PYEOF
}

SO_PATH="$(find_so)"
if [[ "$(installed_version)" != "${PKG_VERSION}" || -z "${SO_PATH}" ]]; then
  log "installing ${PKG_NAME}==${PKG_VERSION} into ${VENV}"
  # PyPI only: ignore any configured find-links / extra index (e.g. PIP_FIND_LINKS).
  # (The sha256 pin means only the exact PyPI wheel can be installed in any case.)
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_NO_INDEX -u PIP_INDEX_URL \
    "${PY}" -m pip install \
      --disable-pip-version-check \
      --index-url https://pypi.org/simple \
      --require-hashes --no-deps --only-binary=:all: \
      -r "${REQ}" >&2
  SO_PATH="$(find_so)"
else
  log "${PKG_NAME}==${PKG_VERSION} already installed in ${VENV}"
fi

if [[ -z "${SO_PATH}" || ! -f "${SO_PATH}" ]]; then
  log "plugin ${PKG_DIR}/${SO_NAME} not found in ${VENV} after install"
  exit 1
fi
echo "${SO_PATH}"
