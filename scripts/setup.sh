#!/usr/bin/env bash
# Installs the Debian 12 packages MLXR builds with, then configures and builds it (Release,
# Ninja, ccache). Idempotent: a second run only rebuilds what changed.
#   MLXR_BUILD_DIR  build directory (default: build)
#   MLXR_NO_APT=1   skip apt-get (packages already present)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build ccache pkg-config git
          libgtest-dev libgmock-dev nlohmann-json3-dev
          libboost-dev libyaml-cpp-dev libsqlite3-dev libssl-dev
          curl ca-certificates sqlite3)
# Tools that may already come from elsewhere (e.g. NodeSource's node bundles npm): install the
# Debian package only when the command is missing.
declare -A COMMAND_PACKAGES=([node]=nodejs [npm]=npm [python3]=python3)

if [[ "${MLXR_NO_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}" ${MLXR_EXTRA_PACKAGES:-}; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  for c in "${!COMMAND_PACKAGES[@]}"; do
    command -v "$c" >/dev/null 2>&1 || missing+=("${COMMAND_PACKAGES[$c]}")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

BUILD="${MLXR_BUILD_DIR:-build}"
# A CUDA toolkit in its default place (not on PATH) still builds the CUDA backend; its tests
# skip without a GPU.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${MLXR_CMAKE_ARGS:-} >/dev/null
ninja -C "$BUILD" ${MLXR_NINJA_TARGETS:-}
