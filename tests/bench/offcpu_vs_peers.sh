#!/usr/bin/env bash
# offcpu_vs_peers.sh: overhead of off-CPU tracing on a context-switch storm, scorch side by side
# with the peers that can (or cannot) do the same job on this machine.
#
#   bash tests/bench/offcpu_vs_peers.sh [BUILD_DIR]        (from the repo root, as root)
#
# The load is tests/bench/pingpong.c: two processes bouncing one byte over two pipes (default
# 200000 round trips), both pinned to one CPU by default, so every round trip is two context
# switches on that CPU and the run time is dominated by the switches. pingpong prints
# "ready <parent pid> <child pid>" after its fork and waits for a byte on stdin; the script attaches
# the tracer to the existing pid, waits until it is attached, lets it settle, and only then lets
# the loop start. pingpong times only its loop (elapsed_s=), so no tracer's start-up is counted.
#
# Modes (interleaved: each round runs every mode once, in a rotated order):
#   bare          no tracer (an idle scorchd is running: it attaches nothing while no session runs)
#   scorch -p     scorch offcpu -p <parent pid>: only the parent process is traced (the child is
#                 another process, so -p does not cover it); user stacks from .eh_frame tables
#   scorch all    scorch offcpu without -p: the whole system (user stacks by frame pointers)
#   bpftrace -p   the classic offcputime idea on tracepoint:sched:sched_switch, filtered to the
#                 parent pid: at switch-out save kstack, ustack and a timestamp per tid; at
#                 switch-in sum the blocked time into @us[kstack, ustack]
#   bpftrace all  the same script without the pid filter (every non-idle thread)
#   perf          perf record --off-cpu -p <parent pid>, only if this perf supports --off-cpu
# and two checks that are not timed:
#   offcputime-bpfcc (BCC): run once; it attaches kprobes, so it fails where the kernel has none;
#                  its error is shown
#   perf record --off-cpu: whether this perf has it (Debian's perf is built without BPF skeletons)
#
# Output: a markdown table (median elapsed, slowdown = median under the tracer / median bare),
# the raw per-run numbers, what each tracer recorded (blocks and blocked time, as a sanity check
# that it traced something), the exact commands, and the peers' error messages.
#
# Environment knobs:
#   BENCH_RUNS=5         timed runs per mode (plus one untimed warm-up run of the bare mode)
#   BENCH_TRIPS=200000   round trips per pingpong run
#   BENCH_CPU=1          CPU both pingpong processes are pinned to; "none" to leave them unpinned
#                        (then the run time is dominated by cross-CPU wake-ups, not by switches)
#   BENCH_SETTLE_MS=300  pause between "tracer attached" and the start of the loop
#   BENCH_NO_BPFTRACE=1  skip the bpftrace modes; BENCH_NO_INSTALL=1: never apt-get bpftrace
#   BENCH_KEEP=1         keep the work directory (folded files, tracer logs)
#   BCC_KERNEL_SOURCE    kernel headers for BCC; else /lib/modules/$(uname -r)/build, else the
#                        tree oncpu_vs_bcc.sh caches under /var/cache/scorch-bench (without headers
#                        offcputime-bpfcc already fails at compiling, before it reaches its kprobes)
#
# Everything the script starts (scorchd, scorch, bpftrace, pingpong, BCC, perf) is ended on exit;
# debugfs and tracefs are mounted only if they are not, and unmounted again.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=offcpu_vs_peers
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_settings "${1:-}"
TRIPS=${BENCH_TRIPS:-200000}
CPU=${BENCH_CPU:-1}
PP_SRC=$ROOT/tests/bench/pingpong.c

trap cleanup EXIT
trap 'exit 130' INT TERM
# ---------------------------------------------------------------------------------------------
# prerequisites

check_prereqs
if [[ $CPU != none ]]; then command -v taskset >/dev/null || die "no taskset (apt-get install util-linux)"; fi

find_bpftrace

WORK=$(mktemp -d /tmp/offcpu_vs_peers.XXXXXX)
SOCK=$WORK/scorchd.sock

# tracepoints (bpftrace) need tracefs; BCC looks for kprobes under debugfs
mount_if_absent tracefs /sys/kernel/tracing
mount_if_absent debugfs /sys/kernel/debug

cc -O2 -o "$WORK/pingpong" "$PP_SRC" || die "cc -O2 -o $WORK/pingpong $PP_SRC failed"
PIN=()
[[ $CPU != none ]] && PIN=(taskset -c "$CPU")

# The bpftrace script: $1 is the pid (tgid) to trace, 0 for every non-idle thread. The timestamp is
# taken after the stacks, as scorch does, so that the stack walk is not counted as blocked time.
cat >"$WORK/offcpu.bt" <<'EOF'
tracepoint:sched:sched_switch
{
  if (($1 != 0 && pid == $1) || ($1 == 0 && tid != 0)) {
    @kst[tid] = kstack;
    @ust[tid] = ustack;
    @start[tid] = nsecs;
  }
  $s = @start[args->next_pid];
  if ($s) {
    $us = (nsecs - $s) / 1000;
    @us[@kst[args->next_pid], @ust[args->next_pid]] = sum($us);
    @blocks = count();
    @total_us = sum($us);
    delete(@start[args->next_pid]);
  }
}
END { clear(@start); clear(@kst); clear(@ust); }
EOF
# The same with user stacks only (offcputime -U), against scorch offcpu -U.
cat >"$WORK/offcpu_u.bt" <<'EOF'
tracepoint:sched:sched_switch
{
  if (($1 != 0 && pid == $1) || ($1 == 0 && tid != 0)) {
    @ust[tid] = ustack;
    @start[tid] = nsecs;
  }
  $s = @start[args->next_pid];
  if ($s) {
    $us = (nsecs - $s) / 1000;
    @us[@ust[args->next_pid]] = sum($us);
    @blocks = count();
    @total_us = sum($us);
    delete(@start[args->next_pid]);
  }
}
END { clear(@start); clear(@ust); }
EOF

# ---------------------------------------------------------------------------------------------
# the machine, before

say "work directory $WORK; $RUNS runs per mode of $TRIPS round trips, pinned to CPU $CPU"
machine_before
FOREIGN_LINKS=""
if command -v bpftool >/dev/null; then
  FOREIGN_LINKS=$(bpftool link show 2>/dev/null | grep -c "sched_switch" || true)
fi

# ---------------------------------------------------------------------------------------------
# scorchd, private to this run

start_scorchd

# ---------------------------------------------------------------------------------------------
# perf --off-cpu: supported?

PERF_MSG=""
PERF_OK=0
if command -v perf >/dev/null; then
  PERF_MSG=$(perf record --off-cpu -o "$WORK/perf-probe.data" -- true 2>&1 || true)
  if ! grep -qiE "ignored|unknown option|not supported|error" <<<"$PERF_MSG"; then PERF_OK=1; fi
  PERF_MSG=$(grep -oiE "[^[]*(off-cpu|error|unknown)[^[]*" <<<"$PERF_MSG" | head -1 | sed 's/^ *//; s/ *$//' || true)
  PERF_VERSION=$(perf version 2>/dev/null || true)
else
  PERF_MSG="perf is not installed"
  PERF_VERSION="none"
fi

MODES=(bare scorch_pid scorch_all scorch_pid_u)
[[ -z $BPFTRACE_SKIP ]] && MODES+=(bpftrace_pid bpftrace_all bpftrace_pid_u)
((PERF_OK)) && MODES+=(perf_pid)

declare -A ELAPSED NOTE_RUN CMD LABEL
LABEL[bare]="bare"
LABEL[scorch_pid]="scorch offcpu -p parent"
LABEL[scorch_all]="scorch offcpu (whole system)"
LABEL[scorch_pid_u]="scorch offcpu -U -p parent (user stacks only)"
LABEL[bpftrace_pid_u]="bpftrace sched_switch, ustack only, pid == parent"
LABEL[bpftrace_pid]="bpftrace sched_switch, pid == parent"
LABEL[bpftrace_all]="bpftrace sched_switch, all threads"
LABEL[perf_pid]="perf record --off-cpu -p parent"

# run_one MODE OUTPUT_TAG: one pingpong run under MODE; appends the elapsed time to ELAPSED[MODE]
# and what the tracer recorded to NOTE_RUN[MODE]
run_one() {
  local mode=$1 tag=$2 parent tracer="" t_out t_err
  start_load pingpong "$WORK/go.$tag" "$WORK/pp.$tag.out" "${PIN[@]}" "$WORK/pingpong" "$TRIPS" stdin
  parent=$READY_PID
  t_out=$WORK/$tag.out
  t_err=$WORK/$tag.err
  case $mode in
    bare) ;;
    scorch_pid | scorch_all | scorch_pid_u)
      local pidarg=()
      [[ $mode == scorch_pid ]] && pidarg=(-p "$parent")
      [[ $mode == scorch_pid_u ]] && pidarg=(-U -p "$parent")
      t_out=$WORK/$tag.folded
      CMD[$mode]="$SCORCH --socket $SOCK offcpu $([[ $mode == scorch_pid ]] && echo "-p PARENT_PID " || true)$([[ $mode == scorch_pid_u ]] && echo "-U -p PARENT_PID " || true)-o OUT.folded   (SIGINT after the loop)"
      start_scorch "$t_err" offcpu "${pidarg[@]}" -o "$t_out"
      tracer=$TRACER_PID
      ;;
    bpftrace_pid | bpftrace_all | bpftrace_pid_u)
      local arg=0 script=$WORK/offcpu.bt
      [[ $mode != bpftrace_all ]] && arg=$parent
      [[ $mode == bpftrace_pid_u ]] && script=$WORK/offcpu_u.bt
      CMD[$mode]="bpftrace $script $([[ $mode != bpftrace_all ]] && echo PARENT_PID || echo 0)   (script below; SIGINT after the loop)"
      start_bpftrace "$t_out" "$t_err" "$script" "$arg"
      tracer=$TRACER_PID
      ;;
    perf_pid)
      CMD[$mode]="perf record --off-cpu -p PARENT_PID -o OUT.data   (SIGINT after the loop)"
      start_perf "$t_out" "$t_err" record --off-cpu -p "$parent" -o "$WORK/$tag.data"
      tracer=$TRACER_PID
      ;;
  esac
  release_load pingpong "$mode"
  load_elapsed pingpong "$mode"
  local e=$LOAD_ELAPSED
  ELAPSED[$mode]+="$e "

  local note=""
  stop_tracer "$tracer"
  case $mode in
    scorch_pid | scorch_all | scorch_pid_u)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      local blocks lines sum
      blocks=$(grep -o '([0-9]* blocks)' "$t_err" | tr -dc '0-9' || true)
      lines=$(wc -l <"$t_out" 2>/dev/null || echo 0)
      sum=$(awk '{ s += $NF } END { printf "%.0f", s }' "$t_out" 2>/dev/null || echo 0)
      note="blocks=${blocks:-?} stacks=$lines blocked_us=$sum"
      ;;
    bpftrace_pid | bpftrace_all | bpftrace_pid_u)
      local blocks sum stacks
      blocks=$(awk '/^@blocks:/{ print $2 }' "$t_out")
      sum=$(awk '/^@total_us:/{ print $2 }' "$t_out")
      stacks=$(grep -c '^@us\[' "$t_out" || true)
      note="blocks=${blocks:-?} stacks=$stacks blocked_us=${sum:-?}"
      ;;
    perf_pid)
      note="perf.data $(stat -c %s "$WORK/$tag.data" 2>/dev/null || echo 0) bytes"
      ;;
  esac
  if [[ -n $note ]]; then NOTE_RUN[$mode]+="$note; "; fi
  say "$(printf '%-13s run %-7s %ss  %s' "$mode" "$tag" "$e" "$note")"
}

# ---------------------------------------------------------------------------------------------
# the runs, interleaved

T0=$(now_us)
run_one bare warmup >/dev/null
ELAPSED[bare]="" # the warm-up is not counted
NOTE_RUN[bare]=""
run_rounds run_one "${MODES[@]}"
T1=$(now_us)

# ---------------------------------------------------------------------------------------------
# the peers that cannot run here

BCC_MSG=""
BCC_CMD="offcputime-bpfcc -p <pid> 1"
if command -v offcputime-bpfcc >/dev/null; then
  if [[ -z ${BCC_KERNEL_SOURCE:-} && ! -d /lib/modules/$(uname -r)/build/include ]]; then
    tree=$(ls -d /var/cache/scorch-bench/linux-headers-*-merged 2>/dev/null | sort -V | tail -1 || true)
    if [[ -n $tree && -e $tree/.complete ]]; then
      export BCC_KERNEL_SOURCE=$tree
      BCC_CMD="BCC_KERNEL_SOURCE=$tree $BCC_CMD"
    fi
  fi
  sleep 5 &
  victim=$!
  STARTED+=("$victim")
  set +e
  timeout 120 offcputime-bpfcc -p "$victim" 1 >"$WORK/bcc.out" 2>"$WORK/bcc.err"
  BCC_RC=$?
  set -e
  kill "$victim" 2>/dev/null || true
  wait "$victim" 2>/dev/null || true
  # The last lines of a Python traceback carry the reason; compiler warnings come before them.
  if grep -q Traceback "$WORK/bcc.err"; then
    BCC_MSG=$(sed -n '/^Traceback/,$p' "$WORK/bcc.err" | grep -vE '^\s+(\^|~)' | tail -6)
  else
    BCC_MSG=$(grep -iE 'error|unable|fail|cannot' "$WORK/bcc.err" | grep -v warning | head -4)
  fi
  [[ -n $BCC_MSG ]] || BCC_MSG=$(tail -4 "$WORK/bcc.err")
  BCC_MSG="exit status $BCC_RC
$BCC_MSG"
else
  BCC_MSG="offcputime-bpfcc is not installed (apt-get install bpfcc-tools)"
fi
if [[ -d /sys/bus/event_source/devices/kprobe ]]; then KPROBE_PMU=yes; else KPROBE_PMU="no (no /sys/bus/event_source/devices/kprobe)"; fi
if [[ -e /sys/kernel/debug/kprobes/blacklist ]]; then KPROBE_DEBUGFS=yes; else KPROBE_DEBUGFS="no (no /sys/kernel/debug/kprobes/)"; fi

# ---------------------------------------------------------------------------------------------
# report

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
BARE=$(median ${ELAPSED[bare]})
echo
echo "## Off-CPU tracing overhead: pingpong, $TRIPS round trips ($((2 * TRIPS)) context switches), pinned to CPU $CPU"
echo
echo "$(uname -r), $(nproc) CPUs; medians of $RUNS runs per mode, interleaved; $(awk -v t=$((T1 - T0)) 'BEGIN { printf "%.0f", t / 1e6 }') s in all."
echo "loadavg before: $LOAD_BEFORE, after: $LOAD_AFTER; processes using >= 5% CPU before: ${BUSY_BEFORE:-none}"
[[ -n $FOREIGN_LINKS ]] && echo "BPF links on sched_switch owned by others before the runs: $FOREIGN_LINKS"
echo
echo "| mode | median elapsed (s) | slowdown | note |"
echo "|---|---|---|---|"
for m in bare scorch_pid scorch_all scorch_pid_u bpftrace_pid bpftrace_all bpftrace_pid_u perf_pid; do
  [[ -n ${ELAPSED[$m]:-} ]] || continue
  med=$(median ${ELAPSED[$m]})
  case $m in
    bare) note="no tracer (idle scorchd: nothing attached)" ;;
    scorch_pid) note="parent process only (the child is another process); user stacks from .eh_frame; $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    scorch_all) note="every process (FP user stacks); $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    bpftrace_pid) note="parent process only; FP user stacks; $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    bpftrace_all) note="every thread; FP user stacks; $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    scorch_pid_u) note="parent only, no kernel stacks; user stacks from .eh_frame; $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    bpftrace_pid_u) note="parent only, ustack (FP) only; $(awk -F'; ' '{ print $1 }' <<<"${NOTE_RUN[$m]}") in run 1" ;;
    perf_pid) note="parent process only" ;;
  esac
  echo "| ${LABEL[$m]} | $med | $(ratio "$med" "$BARE")x | $note |"
done
[[ -z $BPFTRACE_SKIP ]] || echo "| bpftrace | - | - | $BPFTRACE_SKIP |"
echo "| offcputime-bpfcc | - | - | fails: $(tail -1 <<<"$BCC_MSG" | cut -c1-160) |"
((PERF_OK)) || echo "| perf record --off-cpu | - | - | not available: $(cut -c1-160 <<<"$PERF_MSG") |"

echo
echo "### raw runs (elapsed s, in run order; what the tracer recorded)"
for m in "${MODES[@]}"; do
  echo "- ${LABEL[$m]}: ${ELAPSED[$m]}"
  if [[ -n ${NOTE_RUN[$m]:-} ]]; then echo "  - ${NOTE_RUN[$m]%; }"; fi
done

echo
echo "### commands"
echo "- load: ${PIN[*]} $WORK/pingpong $TRIPS stdin   (built with cc -O2 -o pingpong tests/bench/pingpong.c); timed: its loop only"
echo "- scorchd: $SCORCHD --socket $SOCK"
for m in "${MODES[@]}"; do if [[ -n ${CMD[$m]:-} ]]; then echo "- ${LABEL[$m]}: ${CMD[$m]}"; fi; done
echo "- tracer attached (scorch: session listed by scorch status; bpftrace: printed Attaching), then ${SETTLE_MS} ms, then the loop starts"
if [[ -z $BPFTRACE_SKIP ]]; then
  echo
  echo '```'
  cat "$WORK/offcpu.bt"
  echo '```'
fi
echo
echo "### peers that do not run here"
echo "- $BCC_CMD:"
echo '```'
echo "$BCC_MSG"
echo '```'
echo "  kprobe PMU: $KPROBE_PMU; debugfs kprobes: $KPROBE_DEBUGFS"
echo "- perf record --off-cpu ($PERF_VERSION): $([[ $PERF_OK == 1 ]] && echo "supported, measured above" || echo "not usable: $PERF_MSG")"
