#!/usr/bin/env bash
# daemon_footprint.sh: scorchd's start-up time and memory (issue "One shape for every measure",
# acceptance 5).
#
#   bash tests/bench/daemon_footprint.sh [BUILD_DIR] [RUNS]    (from the repo root, as root)
#
# Start-up: from exec to the control socket accepting a status request (`scorch status` exits 0),
# which is after every measure of the registry was loaded (BPF programs verified and loaded,
# maps created) and kernel symbols read. Each run starts a fresh daemon on its own socket and
# stops it with SIGTERM. Memory: VmRSS and VmHWM of that daemon, idle after start, then during
# and after a 3 s on-CPU profile of a busy child (-p, so unwind tables are built and loaded).
# Prints medians and the spread (min..max) over RUNS (default 7).
set -euo pipefail
BENCH_NAME=daemon_footprint
source "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
RUNS=${2:-7}
SCORCHD=$BUILD/bin/scorchd
SCORCH=$BUILD/bin/scorch
[[ -x $SCORCHD && -x $SCORCH ]] || die "build $BUILD first (scorchd and scorch)"
[[ $(id -u) == 0 ]] || die "run as root"
WORK=$(mktemp -d /tmp/scorch-footprint.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

kib() { awk -v k="$1" '/^'"$1"':/ { print $2 }' "/proc/$2/status"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo ".." hi }'; }

start_ms=() idle_rss=() busy_rss=() busy_hwm=() after_rss=()
for ((i = 1; i <= RUNS; i++)); do
  sock=$WORK/s$i.sock
  t0=$(now_us)
  "$SCORCHD" --socket "$sock" >"$WORK/d$i.log" 2>&1 &
  dpid=$!
  until "$SCORCH" --socket "$sock" status >/dev/null 2>&1; do
    kill -0 "$dpid" 2>/dev/null || die "scorchd exited: $(tail -3 "$WORK/d$i.log")"
    sleep 0.005
  done
  t1=$(now_us)
  start_ms+=($(((t1 - t0) / 1000)))
  sleep 0.5
  idle_rss+=($(kib VmRSS "$dpid"))
  # A busy child, profiled for 3 s with -p: tables built and loaded, samples symbolized.
  (while :; do :; done) &
  busy=$!
  "$SCORCH" --socket "$sock" profile -p "$busy" -d 3 -o "$WORK/p$i.folded" >/dev/null 2>&1 &
  cli=$!
  sleep 2
  busy_rss+=($(kib VmRSS "$dpid"))
  wait "$cli" || true
  kill "$busy"
  wait "$busy" 2>/dev/null || true
  busy_hwm+=($(kib VmHWM "$dpid"))
  after_rss+=($(kib VmRSS "$dpid"))
  kill -TERM "$dpid"
  wait "$dpid" || true
done

row() { printf '| %s | %s | %s |\n' "$1" "$(printf '%s\n' "${@:2}" | median)" "$(printf '%s\n' "${@:2}" | spread)"; }
echo "scorchd $("$SCORCHD" --version | awk '{ print $2 }'), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $RUNS runs, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| | median | spread |"
echo "|---|---|---|"
row "start-up to first status reply (ms)" "${start_ms[@]}"
row "RSS idle after start (KiB)" "${idle_rss[@]}"
row "RSS during a 3 s -p profile (KiB)" "${busy_rss[@]}"
row "peak RSS, VmHWM (KiB)" "${busy_hwm[@]}"
row "RSS after the profile (KiB)" "${after_rss[@]}"
