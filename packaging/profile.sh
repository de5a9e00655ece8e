#!/usr/bin/env bash
# The main job in one command: install, build, start scorchd if none is running, profile the whole
# system (or the PIDs given with -p) for 10 s, write flamegraph.svg, and stop the daemon it started.
#   sudo bash packaging/profile.sh [-p PID] [-d SECONDS] [-o FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
bash packaging/build.sh >/dev/null

socket=${SCORCH_SOCKET:-/run/scorch/scorchd.sock}
args=(-d 10 -o flamegraph.svg)
[ "$#" -gt 0 ] && args=(-d 10 -o flamegraph.svg "$@")

started=""
stop_daemon() {
  if [ -n "$started" ]; then
    kill -TERM "$started" 2>/dev/null || true
    wait "$started" 2>/dev/null || true
  fi
}
trap stop_daemon EXIT

if ! build/bin/scorch --socket "$socket" status >/dev/null 2>&1; then
  build/bin/scorchd --socket "$socket" 2>scorchd.log &
  started=$!
  for _ in $(seq 100); do
    build/bin/scorch --socket "$socket" status >/dev/null 2>&1 && break
    if ! kill -0 "$started" 2>/dev/null; then
      cat scorchd.log >&2
      echo "scorch: failed to start scorchd: see scorchd.log" >&2
      started=""
      exit 1
    fi
    sleep 0.1
  done
fi
build/bin/scorch --socket "$socket" profile "${args[@]}"
