#!/usr/bin/env bash
# locks_bpf_cost.sh: the CPU time the futex tracers' BPF programs take on one contended load,
# scorch locks -p (with and without --holders) against the bpftrace futex one-liner with ustack.
#
#   bash tests/bench/locks_bpf_cost.sh [BUILD_DIR] [ROUNDS]     (from the repo root, as root)
#
# The contended lockloop (tests/bench/lockloop.c, 4 threads x 3,000,000 lock/unlock of one mutex)
# swings between two speeds on this VM with or without a tracer, so its elapsed time cannot show a
# tracer's cost; the kernel's own BPF statistics can (kernel.bpf_stats_enabled=1, restored after):
# the run time and run count of the tracer's programs over the timed loop. Modes interleave per
# round. Prints one line per run: elapsed, BPF ms, runs, ns per run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${2:-3}
[[ $(id -u) == 0 ]] || { echo "locks_bpf_cost.sh: run as root" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "locks_bpf_cost.sh: no bpftool" >&2; exit 1; }
WORK=$(mktemp -d /tmp/locks_bpf_cost.XXXXXX)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$old_stats"
  [[ -n ${DPID:-} ]] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cc -O2 -pthread -o "$WORK/lockloop" "$ROOT/tests/bench/lockloop.c"
"$BUILD/bin/scorchd" --socket "$WORK/sock" >"$WORK/scorchd.log" 2>&1 &
DPID=$!
sleep 2
sysctl -qw kernel.bpf_stats_enabled=1
HAVE_BPFTRACE=1
command -v bpftrace >/dev/null || HAVE_BPFTRACE=0
cat >"$WORK/futex.bt" <<'BT'
tracepoint:syscalls:sys_enter_futex /pid == $1/ { @start[tid] = nsecs; @st[tid] = ustack; }
tracepoint:syscalls:sys_exit_futex /@start[tid]/ { @us[@st[tid]] = sum((nsecs - @start[tid]) / 1000); delete(@start[tid]); delete(@st[tid]); }
END { clear(@start); clear(@st); }
BT
# Sums run_time_ns and run_cnt of the programs whose names match $1 (%.0f: mawk's %d stops at 2^31).
sum() {
  bpftool prog show | grep -E "name ($1)" |
    awk '{for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") t += $(i + 1); if ($i == "run_cnt") c += $(i + 1) } }
         END { printf "%.0f %.0f\n", t, c }'
}
modes=(scorch holders)
((HAVE_BPFTRACE)) && modes+=(bpftrace)
for ((round = 1; round <= ROUNDS; round++)); do
  for mode in "${modes[@]}"; do
    rm -f "$WORK/in"
    mkfifo "$WORK/in"
    "$WORK/lockloop" contended 4 3000000 <"$WORK/in" >"$WORK/out" &
    P=$!
    exec 4>"$WORK/in"
    sleep 0.2
    case $mode in
      scorch) "$BUILD/bin/scorch" --socket "$WORK/sock" locks -p "$P" -o "$WORK/x.folded" 2>/dev/null & ;;
      holders) "$BUILD/bin/scorch" --socket "$WORK/sock" locks -p "$P" --holders -o "$WORK/x.folded" 2>/dev/null & ;;
      bpftrace) bpftrace "$WORK/futex.bt" "$P" >/dev/null 2>&1 & ;;
    esac
    T=$!
    case $mode in bpftrace) pat='sys_enter_futex|sys_exit_futex' ;; *) pat='scorch_futex_en|scorch_futex_ex' ;; esac
    sleep 2
    read -r t0 c0 < <(sum "$pat")
    echo go >&4
    exec 4>&-
    wait "$P"
    read -r t1 c1 < <(sum "$pat")
    kill -INT "$T" 2>/dev/null || true
    wait "$T" 2>/dev/null || true
    el=$(sed -n 's/^elapsed_s=//p' "$WORK/out")
    runs=$((c1 - c0))
    echo "$mode round $round: elapsed ${el} s; BPF $(((t1 - t0) / 1000000)) ms in $runs runs: $(((t1 - t0) / (runs > 0 ? runs : 1))) ns/run"
  done
done
((HAVE_BPFTRACE)) || echo "bpftrace is not installed: only scorch measured"
