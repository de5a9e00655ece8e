#!/usr/bin/env bash
# malloc_vs_peers.sh: what tracing malloc costs a malloc/free-heavy loop, scorch side by side with
# the floor (an empty uprobe) and the peers that do the same job on this machine.
#
#   bash tests/bench/malloc_vs_peers.sh [BUILD_DIR]        (from the repo root, as root)
#
# The load is tests/bench/mallocloop.c: malloc of one of eight sizes (16..512 bytes), a write,
# free, for BENCH_SECS seconds, pinned to one CPU; it prints the pairs done and ns per pair. It
# waits for a byte on stdin after "ready <pid>", so every tracer is attached before the loop
# starts (and the loop's time never includes a tracer's start-up).
#
# Modes (interleaved: each round runs every mode once, in a rotated order):
#   bare          no tracer (an idle scorchd is running)
#   floor         bpftrace -p PID 'uprobe:LIBC:malloc { }': an empty program on malloc, the cost of
#                 the trap itself (malloc's first instruction is a push, which the kernel emulates)
#   count         scorch malloc -p PID: calls and bytes by stack (probes on the allocating
#                 functions only; free is not probed)
#   outstanding   scorch malloc -p PID --outstanding: also return probes and free
#   sampled       scorch malloc -p PID --sample-bytes 512KiB
#   duty          scorch malloc -p PID --duty 1%
#   bpftrace      the one-liner uprobe:LIBC:malloc /pid == PID/ { @[ustack] = count(); }
#   memleak       memleak-bpfcc -p PID (BCC; kernel headers prepared as oncpu_vs_bcc.sh does)
#
# Output: a markdown table (median ns per pair, slowdown against bare, cost per call above bare,
# that cost against the floor's), the raw numbers, the exact commands, and the issue's targets.
#
# Environment knobs:
#   BENCH_RUNS=5        timed runs per mode (plus one untimed warm-up run of the bare mode)
#   BENCH_SECS=4        seconds of loop per run
#   BENCH_CPU=1         CPU the loop is pinned to
#   BENCH_SETTLE_MS=300 pause between "tracer attached" and the start of the loop
#   BENCH_NO_INSTALL=1  never apt-get (bpftrace, bpfcc-tools, kernel headers for BCC)
#   BENCH_KEEP=1        keep the work directory
#   BENCH_MODES="..."   run only these modes (and bare), e.g. "duty floor"; targets without
#                       their modes say "not measured"
#
# Everything the script starts is ended on exit; tracefs/debugfs are mounted only if they are not.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=malloc_vs_peers
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_settings "${1:-}"
SECS=${BENCH_SECS:-4}
CPU=${BENCH_CPU:-1}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_prereqs
command -v taskset >/dev/null || die "no taskset (apt-get install util-linux)"

WORK=$(mktemp -d /tmp/malloc_vs_peers.XXXXXX)
SOCK=$WORK/scorchd.sock
cc -O2 -o "$WORK/mallocloop" "$ROOT/tests/bench/mallocloop.c" || die "cannot compile mallocloop.c"
LIBC=$(ldd "$WORK/mallocloop" | awk '/libc\.so/ { print $3 }')
[[ -n $LIBC ]] || die "cannot find the libc mallocloop uses"

install_pkg() { # install_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  [[ ${BENCH_NO_INSTALL:-0} == 1 ]] && return 1
  say "installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >"$WORK/apt-$2.log" 2>&1 ||
    { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >>"$WORK/apt-$2.log" 2>&1; } || true
  command -v "$1" >/dev/null
}
SKIPPED=()
BPFTRACE_OK=1
install_pkg bpftrace bpftrace || { BPFTRACE_OK=0; SKIPPED+=("floor and bpftrace: bpftrace is not installed"); }
MEMLEAK_OK=1
BCC_SKIP=""
if ! install_pkg memleak-bpfcc bpfcc-tools; then
  MEMLEAK_OK=0
  SKIPPED+=("memleak: memleak-bpfcc is not installed (apt-get install bpfcc-tools)")
elif ! bcc_kernel_headers; then
  MEMLEAK_OK=0
  SKIPPED+=("memleak: $BCC_SKIP")
fi
mount_if_absent debugfs /sys/kernel/debug

start_scorchd

MODES=(bare count outstanding sampled duty)
((BPFTRACE_OK)) && MODES+=(floor bpftrace)
((MEMLEAK_OK)) && MODES+=(memleak)
if [[ -n ${BENCH_MODES:-} ]]; then # a subset, e.g. BENCH_MODES="bare duty" (bare is always kept)
  read -ra MODES <<<"bare ${BENCH_MODES/bare/}"
fi
declare -A PAIR_NS CMD NOTE
CMD[bare]="(no tracer)"
CMD[floor]="bpftrace -p PID -e 'uprobe:$LIBC:malloc { }'"
CMD[count]="scorch malloc -p PID -o OUT"
CMD[outstanding]="scorch malloc -p PID --outstanding -o OUT"
CMD[sampled]="scorch malloc -p PID --sample-bytes 512KiB -o OUT"
CMD[duty]="scorch malloc -p PID --duty 1% -o OUT"
CMD[bpftrace]="bpftrace -e 'uprobe:$LIBC:malloc /pid == PID/ { @[ustack] = count(); }'"
CMD[memleak]="memleak-bpfcc -p PID"

# run_one MODE TAG: one mallocloop run under MODE; appends its ns per pair to PAIR_NS[MODE]
run_one() {
  local mode=$1 tag=$2 out=$WORK/loop.$2.out pid tracer="" t_out=$WORK/$2.out t_err=$WORK/$2.err
  start_load mallocloop "$WORK/go.$tag" "$out" taskset -c "$CPU" "$WORK/mallocloop" "$SECS"
  pid=$READY_PID
  case $mode in
    bare) ;;
    count | outstanding | sampled | duty)
      local extra=()
      [[ $mode == outstanding ]] && extra=(--outstanding)
      [[ $mode == sampled ]] && extra=(--sample-bytes 512KiB)
      [[ $mode == duty ]] && extra=(--duty 1%)
      start_scorch "$t_err" malloc -p "$pid" "${extra[@]}" -o "$t_out"
      tracer=$TRACER_PID
      ;;
    floor)
      start_bpftrace "$t_out" "$t_err" -p "$pid" -e "uprobe:$LIBC:malloc { }"
      tracer=$TRACER_PID
      ;;
    bpftrace)
      start_bpftrace "$t_out" "$t_err" -e "uprobe:$LIBC:malloc /pid == $pid/ { @[ustack] = count(); }"
      tracer=$TRACER_PID
      ;;
    memleak)
      start_tracer "$t_out" "$t_err" memleak-bpfcc -p "$pid" 3600
      tracer=$TRACER_PID
      wait_for 120 has "Attaching to pid" "$t_out" "$t_err" || die "memleak-bpfcc did not attach: $(tail -3 "$t_err")"
      sleep 1 # it prints before its probes are attached
      ;;
  esac
  release_load mallocloop "$mode"
  local ns pairs
  ns=$(sed -n 's/.*ns_per_pair=\([0-9.]*\).*/\1/p' "$out")
  pairs=$(sed -n 's/.*pairs=\([0-9]*\).*/\1/p' "$out")
  [[ -n $ns ]] || die "no ns_per_pair from mallocloop ($mode)"
  PAIR_NS[$mode]+="$ns "
  stop_tracer "$tracer"
  local note=""
  case $mode in
    count | outstanding | sampled | duty)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      note="$(grep -o '[0-9]* allocator calls' "$t_err" | head -1) of $pairs pairs"
      [[ $mode == duty ]] && note+="; $(grep -o 'duty cycle of PID [^;]*' "$t_err" | head -1)"
      ;;
    bpftrace) note="$(awk '/^@\[/{ n++ } END { print n + 0 }' "$t_out") stacks" ;;
  esac
  [[ -n $note && -z ${NOTE[$mode]:-} ]] && NOTE[$mode]=$note
  say "$(printf '%-12s run %-14s %8s ns/pair  %s' "$mode" "$tag" "$ns" "$note")"
}

say "work directory $WORK; $RUNS runs per mode of $SECS s, pinned to CPU $CPU; libc $LIBC"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(now_us)
run_one bare warmup >/dev/null 2>&1
PAIR_NS[bare]=""
run_rounds run_one "${MODES[@]}"
T1=$(now_us)

fmt() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
BARE=$(median ${PAIR_NS[bare]})
FLOOR=""
[[ -n ${PAIR_NS[floor]:-} ]] && FLOOR=$(median ${PAIR_NS[floor]})
FLOOR_COST=""
[[ -n $FLOOR ]] && FLOOR_COST=$(awk -v f="$FLOOR" -v b="$BARE" 'BEGIN { print f - b }')
echo
echo "## Malloc tracing overhead: mallocloop, malloc+free pairs for $SECS s, pinned to CPU $CPU"
echo
echo "$(uname -r), $(nproc) CPUs, $(ldd --version | head -1); medians of $RUNS runs per mode, interleaved;"
echo "$(awk -v t=$((T1 - T0)) 'BEGIN { printf "%.0f", t / 1e6 }') s in all; loadavg before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| mode | ns per malloc+free pair | slowdown vs bare | cost per pair above bare (ns) | cost vs the floor's | note |"
echo "|---|---|---|---|---|---|"
for m in bare floor count sampled duty outstanding bpftrace memleak; do
  [[ -n ${PAIR_NS[$m]:-} ]] || continue
  med=$(median ${PAIR_NS[$m]})
  cost=$(awk -v a="$med" -v b="$BARE" 'BEGIN { printf "%.0f", a - b }')
  vs_floor="—"
  [[ -n $FLOOR_COST && $m != bare ]] && vs_floor="$(ratio "$cost" "$FLOOR_COST")x"
  echo "| $m | $(fmt "$med") | $(ratio "$med" "$BARE")x | $cost | $vs_floor | ${NOTE[$m]:-} |"
done
echo
echo "Raw ns per pair:"
for m in "${MODES[@]}"; do echo "- $m: ${PAIR_NS[$m]}"; done
echo
echo "Commands (PID: the loop's pid; OUT: a file; scorch and bpftrace ended with SIGINT after the loop):"
for m in "${MODES[@]}"; do echo "- $m: \`${CMD[$m]}\`"; done
for s in "${SKIPPED[@]}"; do echo "- not measured: $s"; done
echo
echo "Targets (issue \"Malloc call stacks\", acceptance 6):"
target() { # target LABEL VALUE LIMIT
  local verdict
  verdict=$(awk -v v="$2" -v l="$3" 'BEGIN { if (v == "" || v == "nan") print "not measured"; else if (v + 0 <= l + 0) print "met"; else print "NOT met" }')
  echo "- $1: $2 (target <= $3): $verdict"
}
cost_of() { [[ -n ${PAIR_NS[$1]:-} ]] && awk -v a="$(median ${PAIR_NS[$1]})" -v b="$BARE" 'BEGIN { print a - b }' || echo ""; }
if [[ -n $FLOOR_COST ]]; then
  target "count mode's cost per call / the floor's" "$(ratio "$(cost_of count)" "$FLOOR_COST")" 1.5
  target "--sample-bytes 512KiB's cost per call / the floor's" "$(ratio "$(cost_of sampled)" "$FLOOR_COST")" 1.1
fi
[[ -n ${PAIR_NS[bpftrace]:-} ]] && target "count mode's cost / the bpftrace one-liner's" "$(ratio "$(cost_of count)" "$(cost_of bpftrace)")" 1.0
[[ -n ${PAIR_NS[memleak]:-} ]] && target "outstanding mode's cost per pair / memleak-bpfcc's" "$(ratio "$(cost_of outstanding)" "$(cost_of memleak)")" 0.2
# The bare loop's speed drifts between runs (the VM): duty against the bare run of the same round
# too, which shares most of the drift.
read -ra BARES <<<"${PAIR_NS[bare]}"
read -ra DUTIES <<<"${PAIR_NS[duty]}"
PAIRED=()
for ((r = 0; r < ${#DUTIES[@]} && r < ${#BARES[@]}; r++)); do PAIRED+=("$(ratio "${DUTIES[$r]}" "${BARES[$r]}")"); done
target "--duty 1% slowdown vs bare (medians)" "$(ratio "$(median ${PAIR_NS[duty]})" "$BARE")" 1.05
target "--duty 1% slowdown vs bare (median of per-round ratios: ${PAIRED[*]})" "$(median "${PAIRED[@]}")" 1.05
