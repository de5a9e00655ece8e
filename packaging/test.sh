#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit + integration with real BPF; root),
# then the unit and integration suites again in the ASan + UBSan build (build-asan/).
#   bash packaging/test.sh                  both, the normal build first (what CI runs)
#   bash packaging/test.sh --no-sanitize    the normal build only
#   bash packaging/test.sh --sanitize       the sanitized build only
set -euo pipefail
cd "$(dirname "$0")/.."
normal=1
sanitized=1
case ${1:-} in
  "") ;;
  --no-sanitize) sanitized=0 ;;
  --sanitize) normal=0 ;;
  *) echo "usage: bash packaging/test.sh [--sanitize|--no-sanitize]" >&2; exit 2 ;;
esac
bash packaging/install-deps.sh --test
if ((normal)); then
  bash packaging/build.sh
  (cd build && ctest --output-on-failure)
fi
if ((sanitized)); then
  start=$SECONDS
  bash packaging/build.sh --sanitize
  (cd build-asan && ctest --output-on-failure)
  echo "sanitized build and suites: $((SECONDS - start)) s"
fi
