#!/usr/bin/env bash
# locks_vs_peers.sh: overhead of lock-contention tracing on a lock-heavy program, scorch side by
# side with the peers that do the same job on this machine (issue 13, acceptance 5).
#
#   bash tests/bench/locks_vs_peers.sh [BUILD_DIR]        (from the repo root, as root)
#
# The load is tests/bench/lockloop.c (built here with cc -O2 -pthread), in three variants:
#   contended     BENCH_THREADS threads lock/unlock one shared pthread mutex (work inside and
#                 outside the lock): glibc sleeps in futex(FUTEX_WAIT) when it loses the race
#   uncontended   the same with one mutex per thread: no futex call at all (no probe fires)
#   mmap          the threads mmap + touch + munmap 64 KiB: contention on the kernel's mmap_lock
# lockloop creates its threads, prints "ready <pid>" and waits for a byte on stdin; the script
# attaches the tracer to that pid, waits until it is attached, lets it settle, and only then lets
# the loop start. lockloop times only its loop (elapsed_s=), so no tracer's start-up is counted.
#
# Modes (interleaved: each round runs every variant x mode once, in a rotated order, because this
# VM's speed drifts by up to 2x over minutes):
#   contended and uncontended:
#     bare          no tracer (an idle scorchd is running: it attaches nothing while no session runs)
#     scorch -p     scorch locks -p <pid>: futex tracepoints, user stacks from .eh_frame tables
#     bpftrace      the classic futex one-liner with ustack, filtered to the pid: at
#                   sys_enter_futex save nsecs and ustack per tid; at sys_exit_futex sum the
#                   microseconds into @us[ustack] (script below; every futex call, as the
#                   one-liner does: it does not tell waits from wakes)
#   mmap:
#     bare          as above
#     scorch -K -p  scorch locks --kernel -p <pid>: lock:contention_begin/end, kernel + user stacks
#     perf lock     perf lock record -p <pid> (the same tracepoints, into perf.data)
#
# Output: a markdown table per variant (median elapsed, spread min-max, slowdown = median under the
# tracer / median bare, added time = the difference of the medians, and the median of the
# per-round ratios tracer / bare of the same round), the raw per-run numbers, what each tracer
# recorded (waits and wait time; as a sanity check that it traced something), the exact
# commands, the load before and after, and the targets: scorch's added time <= half of
# bpftrace's on the contended variant, <= 1% of bare on the uncontended one.
#
# Environment knobs:
#   BENCH_RUNS=5           timed runs per mode (plus one untimed warm-up run of each variant)
#   BENCH_THREADS=4        lockloop threads
#   BENCH_ITERS=3000000    lock/unlock per thread (contended variant)
#   BENCH_UNC_ITERS=6000000  the same for the uncontended variant (its loop is faster)
#   BENCH_MMAP_ITERS=5000  mmap + touch + munmap per thread (mmap variant)
#   BENCH_VARIANTS="contended uncontended mmap"   which variants to run
#   BENCH_SETTLE_MS=300    pause between "tracer attached" and the start of the loop
#   BENCH_NO_BPFTRACE=1    skip bpftrace; BENCH_NO_INSTALL=1: never apt-get bpftrace
#   BENCH_NO_PERF=1        skip perf lock
#   BENCH_KEEP=1           keep the work directory (folded files, tracer logs, perf.data)
#
# Everything the script starts (scorchd, scorch, bpftrace, perf, lockloop) is ended on exit;
# tracefs is mounted only if it is not, and unmounted again.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=locks_vs_peers
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_settings "${1:-}"
THREADS=${BENCH_THREADS:-4}
ITERS=${BENCH_ITERS:-3000000}
UNC_ITERS=${BENCH_UNC_ITERS:-6000000}
MMAP_ITERS=${BENCH_MMAP_ITERS:-5000}
read -r -a VARIANTS <<<"${BENCH_VARIANTS:-contended uncontended mmap}"
LL_SRC=$ROOT/tests/bench/lockloop.c

# /tmp/bench-running tells other users of the machine that timed runs are under way
RUNNING_FLAG=""
on_exit() {
  if [[ -n $RUNNING_FLAG ]]; then rm -f "$RUNNING_FLAG"; fi
  cleanup
}
trap on_exit EXIT
trap 'exit 130' INT TERM
# ---------------------------------------------------------------------------------------------
# prerequisites

check_prereqs

find_bpftrace

WORK=$(mktemp -d /tmp/locks_vs_peers.XXXXXX)
SOCK=$WORK/scorchd.sock

# the tracepoints (bpftrace, perf lock) need tracefs
mount_if_absent tracefs /sys/kernel/tracing

PERF_SKIP=""
PERF_VERSION=none
if [[ ${BENCH_NO_PERF:-0} == 1 ]]; then
  PERF_SKIP="skipped (BENCH_NO_PERF=1)"
elif ! command -v perf >/dev/null; then
  PERF_SKIP="perf is not installed (apt-get install linux-perf)"
else
  PERF_VERSION=$(perf version 2>/dev/null || echo "?")
  # perf lock record needs the lock:contention_begin/end tracepoints (or lockdep's, which this
  # kernel has not): a 0.2 s probe run on sleep
  if ! perf lock record -o "$WORK/perf-probe.data" -- sleep 0.2 >"$WORK/perf-probe.log" 2>&1; then
    PERF_SKIP="perf lock record fails: $(grep -iE 'error|not|fail' "$WORK/perf-probe.log" | head -1)"
  fi
fi

cc -O2 -pthread -o "$WORK/lockloop" "$LL_SRC" || die "cc -O2 -pthread -o $WORK/lockloop $LL_SRC failed"

# The futex one-liner with ustack, as a script file: $1 is the pid (tgid) to trace.
cat >"$WORK/futex.bt" <<'EOF'
tracepoint:syscalls:sys_enter_futex /pid == $1/
{
  @start[tid] = nsecs;
  @st[tid] = ustack;
}
tracepoint:syscalls:sys_exit_futex /@start[tid]/
{
  @us[@st[tid]] = sum((nsecs - @start[tid]) / 1000);
  delete(@start[tid]);
  delete(@st[tid]);
}
END { clear(@start); clear(@st); }
EOF

# ---------------------------------------------------------------------------------------------
# the machine, before

say "work directory $WORK; $RUNS runs per mode; $THREADS threads; variants: ${VARIANTS[*]}"
machine_before

# ---------------------------------------------------------------------------------------------
# scorchd, private to this run

start_scorchd

declare -A MODES_OF ARGS_OF
USER_MODES=(bare scorch)
[[ -z $BPFTRACE_SKIP ]] && USER_MODES+=(bpftrace)
KERNEL_MODES=(bare scorch_k)
[[ -z $PERF_SKIP ]] && KERNEL_MODES+=(perf)
MODES_OF[contended]="${USER_MODES[*]}"
MODES_OF[uncontended]="${USER_MODES[*]}"
MODES_OF[mmap]="${KERNEL_MODES[*]}"
ARGS_OF[contended]="contended $THREADS $ITERS"
ARGS_OF[uncontended]="uncontended $THREADS $UNC_ITERS"
ARGS_OF[mmap]="mmap $THREADS $MMAP_ITERS"

declare -A ELAPSED NOTE_RUN CMD LABEL EXTRA
BPFTRACE_MEMLOCK=""
LABEL[bare]="bare"
LABEL[scorch]="scorch locks -p"
LABEL[bpftrace]="bpftrace futex one-liner, ustack, pid == N"
LABEL[scorch_k]="scorch locks --kernel -p"
LABEL[perf]="perf lock record -p"

# run_one VARIANT MODE TAG: one lockloop run under MODE; appends the elapsed time to
# ELAPSED[VARIANT.MODE] and what the tracer recorded to NOTE_RUN[VARIANT.MODE]
run_one() {
  local variant=$1 mode=$2 tag=$3 key=$1.$2 out=$WORK/ll.$3.out pid tracer="" t_out t_err
  local -a args
  read -r -a args <<<"${ARGS_OF[$variant]}"
  start_load lockloop "$WORK/go.$tag" "$out" "$WORK/lockloop" "${args[@]}" stdin
  pid=$READY_PID
  t_out=$WORK/$tag.out
  t_err=$WORK/$tag.err
  case $mode in
    bare) ;;
    scorch | scorch_k)
      local kopt=()
      [[ $mode == scorch_k ]] && kopt=(--kernel)
      t_out=$WORK/$tag.folded
      CMD[$mode]="$SCORCH --socket $SOCK locks ${kopt[*]:+${kopt[*]} }-p PID -o OUT.folded   (SIGINT after the loop)"
      start_scorch "$t_err" locks "${kopt[@]}" -p "$pid" -o "$t_out"
      tracer=$TRACER_PID
      ;;
    bpftrace)
      CMD[$mode]="bpftrace $WORK/futex.bt PID   (script below; SIGINT after the loop)"
      start_bpftrace "$t_out" "$t_err" "$WORK/futex.bt" "$pid"
      tracer=$TRACER_PID
      ;;
    perf)
      CMD[$mode]="perf lock record -p PID -o OUT.data   (ends with the process; SIGINT otherwise)"
      start_perf "$t_out" "$t_err" lock record -p "$pid" -o "$WORK/$tag.data"
      tracer=$TRACER_PID
      ;;
  esac
  release_load lockloop "$key"
  load_elapsed lockloop "$key"
  local e=$LOAD_ELAPSED
  ELAPSED[$key]+="$e "
  local coll
  coll=$(awk -F= '/^collisions=/{ print $2 }' "$out")

  local note=""
  stop_tracer "$tracer"
  case $mode in
    bare) if [[ -n $coll ]]; then note="collisions=$coll"; fi ;;
    scorch | scorch_k)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      local waits lines sum
      waits=$(grep -oE '\([0-9]+ waits\)' "$t_err" | tr -dc '0-9' || true)
      lines=$(wc -l <"$t_out" 2>/dev/null || echo 0)
      sum=$(awk '{ s += $NF } END { printf "%.0f", s }' "$t_out" 2>/dev/null || echo 0)
      note="waits=${waits:-?} stacks=$lines waited_us=$sum${coll:+ collisions=$coll}"
      # scorch's notes list frames "0 lost" per file and end with "drops: none": only nonzero
      # losses, drops and errors
      local pat='drops: [^n]|[1-9][0-9]* lost|error|warn'
      if grep -qiE "$pat" "$t_err"; then
        EXTRA[$key]+="$tag: $(grep -iE "$pat" "$t_err" | grep -v 'drop counters are system-wide' | head -2 | sed 's/^.*drops:/drops:/' | tr '\n' ' ')"$'\n'
      fi
      ;;
    bpftrace)
      # @us[<stack lines>]: VALUE, one entry per distinct user stack
      local stacks sum
      stacks=$(grep -c '^@us\[' "$t_out" || true)
      sum=$(awk '/^@us\[/ { in_us = 1 } in_us && /^\]: [0-9]+$/ { s += $2; in_us = 0 } END { printf "%.0f", s }' "$t_out")
      note="stacks=$stacks futex_us=$sum${coll:+ collisions=$coll}"
      # bpftrace 0.17 always says it could not set RLIMIT_MEMLOCK (harmless: the kernel
      # charges BPF memory to the cgroup); that line is noted once below, not per run
      if grep -iE 'lost|error|warn' "$t_err" | grep -qv RLIMIT_MEMLOCK; then
        EXTRA[$key]+="$tag: $(grep -iE 'lost|error|warn' "$t_err" | grep -v RLIMIT_MEMLOCK | head -2 | tr '\n' ' ')"$'\n'
      fi
      if grep -q RLIMIT_MEMLOCK "$t_err"; then BPFTRACE_MEMLOCK=$(grep -m1 RLIMIT_MEMLOCK "$t_err"); fi
      ;;
    perf)
      # post-processing, not timed: the contentions perf recorded
      local n wait
      read -r n wait < <(perf lock contention -i "$WORK/$tag.data" 2>&1 |
        awk '$1 ~ /^[0-9]+$/ { n += $1; v = $2; u = $3; f = (u == "s") ? 1e6 : (u == "ms") ? 1e3 : (u == "us") ? 1 : (u == "ns") ? 1e-3 : 0; w += v * f } END { printf "%d %.0f\n", n, w }') || true
      note="contentions=${n:-?} waited_us=${wait:-?} perf.data $(stat -c %s "$WORK/$tag.data" 2>/dev/null || echo 0) bytes"
      if grep -qiE 'lost|error' "$t_err"; then
        EXTRA[$key]+="$tag: $(grep -iE 'lost|error' "$t_err" | head -2 | tr '\n' ' ')"$'\n'
      fi
      ;;
  esac
  if [[ -n $note ]]; then NOTE_RUN[$key]+="$note; "; fi
  say "$(printf '%-12s %-9s run %-22s %ss  %s' "$variant" "$mode" "$tag" "$e" "$note")"
}

# ---------------------------------------------------------------------------------------------
# the runs, interleaved

# forget_warmup VARIANT: the warm-up run is not counted
forget_warmup() {
  ELAPSED[$1.bare]=""
  NOTE_RUN[$1.bare]=""
}
interleaved_runs forget_warmup "${VARIANTS[@]}"

# ---------------------------------------------------------------------------------------------
# report

machine_after

declare -A MED ADDED
echo
echo "## Lock tracing overhead: lockloop, $THREADS threads"
echo
echo "$(uname -r), $(nproc) CPUs; medians of $RUNS runs per mode, interleaved; $(awk -v t=$((T1 - T0)) 'BEGIN { printf "%.0f", t / 1e6 }') s in all."
echo "loadavg before: $LOAD_BEFORE, after: $LOAD_AFTER; CPUs busy during the runs (this benchmark included): ${BUSY_PCT}%"
echo "processes using >= 5% CPU before: ${BUSY_BEFORE:-none}; after: ${BUSY_AFTER:-none}"
for v in "${VARIANTS[@]}"; do
  echo
  echo "### $v (lockloop ${ARGS_OF[$v]})"
  echo
  echo "| mode | median elapsed (s) | spread (s) | slowdown | added (s) | per-round ratio (median) | recorded (run 1) |"
  echo "|---|---|---|---|---|---|---|"
  # shellcheck disable=SC2086 # the runs are a space-separated list
  bare=$(median ${ELAPSED[$v.bare]})
  for m in ${MODES_OF[$v]}; do
    k=$v.$m
    # shellcheck disable=SC2086
    med=$(median ${ELAPSED[$k]})
    MED[$k]=$med
    ADDED[$k]=$(awk -v a="$med" -v b="$bare" 'BEGIN { printf "%+.3f", a - b }')
    if [[ $m == bare ]]; then pr="-"; else pr="$(paired "${ELAPSED[$k]}" "${ELAPSED[$v.bare]}")x"; fi
    # shellcheck disable=SC2086
    echo "| ${LABEL[$m]} | $med | $(spread ${ELAPSED[$k]}) | $(ratio "$med" "$bare")x | ${ADDED[$k]} | $pr | $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$k]:-}") |"
  done
done
[[ -z $BPFTRACE_SKIP ]] || echo "- bpftrace: $BPFTRACE_SKIP"
[[ -z $PERF_SKIP ]] || echo "- perf lock: $PERF_SKIP"

echo
echo "### targets"
if [[ -n ${MED[contended.scorch]:-} && -n ${MED[contended.bpftrace]:-} ]]; then
  awk -v s="${ADDED[contended.scorch]}" -v b="${ADDED[contended.bpftrace]}" 'BEGIN {
    q = (b > 0) ? s / b : 0
    printf "- contended: scorch adds %+.3f s, bpftrace %+.3f s: %.0f%% of bpftrace'"'"'s (target <= 50%%): %s\n", s, b, 100 * q, (b > 0 && q <= 0.5) ? "met" : "not met" }'
fi
if [[ -n ${MED[uncontended.scorch]:-} ]]; then
  awk -v s="${ADDED[uncontended.scorch]}" -v b="${MED[uncontended.bare]}" 'BEGIN {
    q = 100 * s / b
    printf "- uncontended: scorch adds %+.3f s, %+.1f%% of bare (target <= 1%%): %s\n", s, q, (q <= 1) ? "met" : "not met" }'
fi
if [[ -n ${MED[mmap.scorch_k]:-} && -n ${MED[mmap.perf]:-} ]]; then
  echo "- mmap (--kernel, no target): scorch adds ${ADDED[mmap.scorch_k]} s, perf lock record ${ADDED[mmap.perf]} s"
fi

echo
echo "### raw runs (elapsed s, in run order; what the tracer recorded)"
for j in "${JOBS[@]}"; do
  echo "- ${j%%.*}, ${LABEL[${j#*.}]}: ${ELAPSED[$j]}"
  if [[ -n ${NOTE_RUN[$j]:-} ]]; then echo "  - ${NOTE_RUN[$j]%; }"; fi
  if [[ -n ${EXTRA[$j]:-} ]]; then echo "  - tracer messages: ${EXTRA[$j]//$'\n'/ }"; fi
done

echo
echo "### commands"
echo "- load: $WORK/lockloop VARIANT THREADS ITERS stdin   (built with cc -O2 -pthread -o lockloop tests/bench/lockloop.c); timed: its loop only"
for v in "${VARIANTS[@]}"; do echo "  - $v: lockloop ${ARGS_OF[$v]}"; done
echo "- scorchd: $SCORCHD --socket $SOCK"
for m in scorch bpftrace scorch_k perf; do if [[ -n ${CMD[$m]:-} ]]; then echo "- ${LABEL[$m]}: ${CMD[$m]}"; fi; done
echo "- tracer attached (scorch: session listed by scorch status; bpftrace: printed Attaching; perf: 1 s), then ${SETTLE_MS} ms, then the loop starts"
echo "- perf: $PERF_VERSION; bpftrace: $(bpftrace --version 2>/dev/null || echo none)"
if [[ -n $BPFTRACE_MEMLOCK ]]; then echo "- bpftrace printed on every run (and went on): $BPFTRACE_MEMLOCK"; fi
if [[ -z $BPFTRACE_SKIP ]]; then
  echo
  echo '```'
  cat "$WORK/futex.bt"
  echo '```'
fi
