#!/usr/bin/env bash
# Configures and builds scorch into build/ (binaries in build/bin/). Extra arguments go to cmake.
#   bash packaging/build.sh [--sanitize] [CMAKE_ARGS...]
# --sanitize: the ASan + UBSan build, in build-asan/ (-DSCORCH_SANITIZE=ON; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
if [[ ${1:-} == --sanitize ]]; then
  shift
  dir=build-asan
  set -- -DSCORCH_SANITIZE=ON "$@"
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$dir"
