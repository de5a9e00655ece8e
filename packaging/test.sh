#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit + integration with real BPF; root),
# then the unit and integration suites again in the ASan + UBSan build (build-asan/). Both builds
# are configured with -DSCORCH_WERROR=ON: CI fails on a warning, a user's build (build.sh) does not.
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
# Without root every integration test would skip, and a run that tested nothing would pass.
if [ "$(id -u)" -ne 0 ]; then
  echo "scorch: failed to run the tests: they need root (real BPF programs)" >&2
  echo "HINT: sudo bash packaging/test.sh${*:+ $*}" >&2
  exit 1
fi
bash packaging/install-deps.sh --test
if ((normal)); then
  bash packaging/build.sh -DSCORCH_WERROR=ON
  (cd build && ctest --output-on-failure)
fi
if ((sanitized)); then
  start=$SECONDS
  bash packaging/build.sh --sanitize -DSCORCH_WERROR=ON
  (cd build-asan && ctest --output-on-failure)
  echo "sanitized build and suites: $((SECONDS - start)) s"
fi
