#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit + integration with real BPF; root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh --test
bash packaging/build.sh
cd build
ctest --output-on-failure
