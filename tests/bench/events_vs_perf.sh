#!/usr/bin/env bash
# events_vs_perf.sh: what counting and sampling perf events costs a program, scorch side by side
# with perf (issue 14, acceptance 4).
#
#   bash tests/bench/events_vs_perf.sh [BUILD_DIR]        (from the repo root, as root)
#
# Two loads, each printing "ready <pid> ..." and waiting for a byte on stdin before its loop; the
# script attaches the tool to that pid, waits until it is attached, lets it settle, and only then
# lets the loop start. Each load times only its loop (elapsed_s=), so no tool's start-up or
# write-out is counted.
#   pingpong    tests/bench/pingpong.c: two processes bounce one byte over two pipes (default
#               200000 round trips), both pinned to one CPU (as offcpu_vs_peers.sh does), so the
#               parent is switched out once per round trip: a context-switch-heavy program
#   faultloop   tests/bench/faultloop.c: mmap a fresh anonymous region of 64 pages
#               (MADV_NOHUGEPAGE), write to every page, munmap, 6000 times: 384,000 minor page
#               faults, pinned to the same CPU; it prints its own count (faults= and the kernel's
#               getrusage count, rusage_faults=)
#
# Modes (interleaved: each round runs every load x mode once, in an order rotated per round,
# because this VM's speed drifts by up to 2x over minutes):
#   pingpong:
#     bare           no tool (an idle private scorchd runs: it opens nothing while no session runs)
#     scorch stat    scorch stat -e context-switches -p <parent> -o X.txt (a counting perf event on
#                    each thread of the parent, inherited; SIGINT after the loop)
#     perf stat      perf stat -e context-switches -p <parent> (SIGINT after the loop)
#     scorch stat (all)  scorch stat -e context-switches -o X.txt, no -p: per process over the
#                    whole machine (a counter per CPU, read by a sched_switch BPF program at every
#                    context switch and charged to the task that ran); the parent's row is its count
#     perf stat -a   perf stat -a -e context-switches: the machine's total, per CPU (what perf
#                    counts without -p; Debian's perf has no --bpf-counters to split it by process)
#   faultloop:
#     bare           as above
#     scorch profile scorch profile -e page-faults -c 1 -p <pid> -o X.folded (a sample, kernel and
#                    user stack, on every fault; user stacks unwound in BPF from .eh_frame)
#     perf record    perf record -e page-faults -c 1 -g -p <pid> -o X.data (every fault with its
#                    frame-pointer call chain, written to perf.data; ends with the process)
#
# Output: a markdown table per load (median elapsed, spread min-max, slowdown = median under the
# tool / median bare, added time = the difference of the medians, the same per event, the median
# of the per-round ratios tool / bare of the same round, and the tool's CPU time from attach to the
# end of the loop: scorchd + the scorch CLI, or perf), then what each tool counted against each
# other and the program's own count (scorch stat's and perf stat's context switches; the sum of
# the folded file's weights; perf record's sample count and perf report's "Event count", read
# after the run, untimed; faultloop's faults= and rusage_faults=), the raw per-run numbers, the
# exact commands, and the load average before and after.
#
# Environment knobs:
#   BENCH_RUNS=5           timed runs per mode (plus one untimed warm-up run of each load, bare)
#   BENCH_LOADS="pingpong faultloop"   which loads to run
#   BENCH_TRIPS=200000     pingpong round trips
#   BENCH_PAGES=64         faultloop pages per region
#   BENCH_ROUNDS=6000      faultloop mmap + touch + munmap rounds (meant as ~1 s bare: check the
#                          bare median and adjust)
#   BENCH_CPU=1            CPU both loads are pinned to; "none" to leave them unpinned
#   BENCH_SETTLE_MS=300    pause between "tool attached" and the start of the loop
#   BENCH_KEEP=1           keep the work directory (counts, folded files, logs, perf.data)
#
# Everything the script starts (scorchd, scorch, perf, pingpong, faultloop) is ended on exit;
# /tmp/bench-running exists while the timed runs are under way.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=events_vs_perf
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_settings "${1:-}"
TRIPS=${BENCH_TRIPS:-200000}
PAGES=${BENCH_PAGES:-64}
ROUNDS=${BENCH_ROUNDS:-6000}
CPU=${BENCH_CPU:-1}
read -r -a LOADS <<<"${BENCH_LOADS:-pingpong faultloop}"

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
command -v perf >/dev/null || die "no perf (apt-get install linux-perf): it is the other side of this benchmark"
if [[ $CPU != none ]]; then command -v taskset >/dev/null || die "no taskset (apt-get install util-linux)"; fi
PIN=()
[[ $CPU != none ]] && PIN=(taskset -c "$CPU")

WORK=$(mktemp -d /tmp/events_vs_perf.XXXXXX)
SOCK=$WORK/scorchd.sock
PERF_VERSION=$(perf version 2>/dev/null || echo "?")

# perf must be able to count and sample the two software events here
perf stat -e context-switches -- true >"$WORK/perf-probe.log" 2>&1 ||
  die "perf stat -e context-switches fails: $(tail -2 "$WORK/perf-probe.log")"
perf record -e page-faults -c 1 -g -o "$WORK/perf-probe.data" -- true >"$WORK/perf-probe.log" 2>&1 ||
  die "perf record -e page-faults fails: $(tail -2 "$WORK/perf-probe.log")"
rm -f "$WORK/perf-probe.data"

cc -O2 -o "$WORK/pingpong" "$ROOT/tests/bench/pingpong.c" || die "cc -O2 pingpong.c failed"
cc -O2 -o "$WORK/faultloop" "$ROOT/tests/bench/faultloop.c" || die "cc -O2 faultloop.c failed"

# ---------------------------------------------------------------------------------------------
# the machine, before

say "work directory $WORK; $RUNS runs per mode; loads: ${LOADS[*]}; pinned to CPU $CPU"
machine_before

# ---------------------------------------------------------------------------------------------
# scorchd, private to this run

start_scorchd

declare -A MODES_OF ELAPSED COUNTS CPU_MS NOTE_RUN CMD LABEL EXTRA OWN
MODES_OF[pingpong]="bare scorch_stat perf_stat scorch_all perf_all"
MODES_OF[faultloop]="bare scorch_prof perf_rec"
LABEL[bare]="bare"
LABEL[scorch_stat]="scorch stat -e context-switches -p"
LABEL[perf_stat]="perf stat -e context-switches -p"
LABEL[scorch_all]="scorch stat -e context-switches (every process)"
LABEL[perf_all]="perf stat -a -e context-switches (the machine's total)"
LABEL[scorch_prof]="scorch profile -e page-faults -c 1 -p"
LABEL[perf_rec]="perf record -e page-faults -c 1 -g -p"

# cpu_ns PID...: CPU time (ns) the processes' threads have used so far, from their schedstat;
# a process that is gone counts 0
cpu_ns() {
  local p total=0 v
  for p in "$@"; do
    v=$(cat /proc/"$p"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }') || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# start_load_of LOAD TAG: start_load of pingpong or faultloop, pinned
start_load_of() {
  case $1 in
    pingpong) start_load pingpong "$WORK/go.$2" "$WORK/load.$2.out" "${PIN[@]}" "$WORK/pingpong" "$TRIPS" stdin ;;
    faultloop) start_load faultloop "$WORK/go.$2" "$WORK/load.$2.out" "${PIN[@]}" "$WORK/faultloop" "$PAGES" "$ROUNDS" stdin ;;
    *) die "unknown load $1 (pingpong, faultloop)" ;;
  esac
}

# run_one LOAD MODE TAG: one run of LOAD under MODE; appends to ELAPSED[LOAD.MODE] the loop's
# time, to COUNTS[LOAD.MODE] what the tool counted, to CPU_MS[LOAD.MODE] the tool's CPU time
# from attach to the end of the loop, and a note of the run to NOTE_RUN[LOAD.MODE]
run_one() {
  local load=$1 mode=$2 tag=$3 key=$1.$2 pid tool="" t_out t_err
  local -a watch=("$SCORCHD_PID")
  start_load_of "$load" "$tag"
  pid=$READY_PID
  t_out=$WORK/$tag.out
  t_err=$WORK/$tag.err
  case $mode in
    bare) ;;
    scorch_stat)
      t_out=$WORK/$tag.txt
      CMD[$mode]="$SCORCH --socket $SOCK stat -e context-switches -p PARENT_PID -o OUT.txt   (SIGINT after the loop)"
      start_scorch "$t_err" stat -e context-switches -p "$pid" -o "$t_out"
      tool=$TRACER_PID
      watch+=("$tool")
      ;;
    perf_stat)
      CMD[$mode]="perf stat -e context-switches -p PARENT_PID   (SIGINT after the loop; counts on stderr)"
      start_perf "$t_out" "$t_err" stat -e context-switches -p "$pid"
      tool=$TRACER_PID
      watch=("$tool")
      ;;
    scorch_all)
      t_out=$WORK/$tag.txt
      CMD[$mode]="$SCORCH --socket $SOCK stat -e context-switches -o OUT.txt   (no -p; SIGINT after the loop)"
      start_scorch "$t_err" stat -e context-switches -o "$t_out"
      tool=$TRACER_PID
      watch+=("$tool")
      ;;
    perf_all)
      CMD[$mode]="perf stat -a -e context-switches   (SIGINT after the loop; counts on stderr)"
      start_perf "$t_out" "$t_err" stat -a -e context-switches
      tool=$TRACER_PID
      watch=("$tool")
      ;;
    scorch_prof)
      t_out=$WORK/$tag.folded
      CMD[$mode]="$SCORCH --socket $SOCK profile -e page-faults -c 1 -p PID -o OUT.folded   (SIGINT after the loop)"
      start_scorch "$t_err" profile -e page-faults -c 1 -p "$pid" -o "$t_out"
      tool=$TRACER_PID
      watch+=("$tool")
      ;;
    perf_rec)
      CMD[$mode]="perf record -e page-faults -c 1 -g -p PID -o OUT.data   (ends with the process; SIGINT otherwise)"
      start_perf "$t_out" "$t_err" record -e page-faults -c 1 -g -p "$pid" -o "$WORK/$tag.data"
      tool=$TRACER_PID
      watch=("$tool")
      ;;
  esac
  local c0 c1
  c0=$(cpu_ns "${watch[@]}")
  release_load "$load" "$key"
  c1=$(cpu_ns "${watch[@]}")
  load_elapsed "$load" "$key"
  local e=$LOAD_ELAPSED cpu_ms
  ELAPSED[$key]+="$e "
  cpu_ms=$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (b >= a) printf "%.1f", (b - a) / 1e6; else print "?" }')
  CPU_MS[$key]+="$cpu_ms "

  stop_tracer "$tool"
  local n="" note=""
  case $mode in
    bare) ;;
    scorch_stat)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      n=$(awk '$2 == "context-switches" { print $1 }' "$t_out" 2>/dev/null | head -1)
      note="context-switches=${n:-?}"
      ;;
    perf_stat | perf_all)
      n=$(awk '$2 == "context-switches" { gsub(/,/, "", $1); print $1 }' "$t_err" | head -1)
      note="context-switches=${n:-?}"
      ;;
    scorch_all)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      n=$(awk -v p="$pid" '$1 == p { print $3; exit }' "$t_out" 2>/dev/null)
      note="context-switches of the parent=${n:-?} (rows: $(grep -cE '^ +[0-9]+ ' "$t_out" 2>/dev/null || echo 0))"
      ;;
    scorch_prof)
      wait_for 10 scorch_idle || say "scorchd still reports a session after scorch ended"
      local stacks
      n=$(awk '{ s += $NF } END { printf "%.0f", s }' "$t_out" 2>/dev/null || echo 0)
      stacks=$(wc -l <"$t_out" 2>/dev/null || echo 0)
      note="page-faults=$n stacks=$stacks"
      # scorch's summary ends with "drops: none" when nothing was lost
      if grep -qiE 'drops: [^n]|error|warn' "$t_err"; then
        EXTRA[$key]+="$tag: $(grep -iE 'drops: [^n]|error|warn' "$t_err" | head -2 | tr '\n' ' ')"$'\n'
      fi
      ;;
    perf_rec)
      # post-processing, not timed: perf's own sample count, and perf report's header
      local samples evcount lost size
      samples=$(grep -oE '\([0-9]+ samples\)' "$t_err" | tr -dc '0-9' || true)
      perf report -i "$WORK/$tag.data" --stdio -g none --sort comm >"$WORK/$tag.report" 2>"$WORK/$tag.report.err" || true
      evcount=$(awk -F: '/^# Event count/ { gsub(/ /, "", $2); print $2; exit }' "$WORK/$tag.report")
      lost=$(awk -F: '/^# Total Lost Samples/ { gsub(/ /, "", $2); print $2; exit }' "$WORK/$tag.report")
      size=$(stat -c %s "$WORK/$tag.data" 2>/dev/null || echo 0)
      n=${evcount:-}
      note="samples=${samples:-?} event_count=${evcount:-?} lost=${lost:-?} perf.data=$((size / 1048576))MB"
      if grep -qiE 'lost|error|warn' "$t_err"; then
        EXTRA[$key]+="$tag: $(grep -iE 'lost|error|warn' "$t_err" | head -2 | tr '\n' ' ')"$'\n'
      fi
      [[ ${BENCH_KEEP:-0} == 1 ]] || rm -f "$WORK/$tag.data"
      ;;
  esac
  [[ -z $n ]] || COUNTS[$key]+="$n "
  if [[ $load == faultloop ]]; then
    local own rus
    own=$(awk -F= '/^faults=/{ print $2 }' "$LOAD_OUT")
    rus=$(awk -F= '/^rusage_faults=/{ print $2 }' "$LOAD_OUT")
    OWN[$key]+="$own/$rus "
    note="${note:+$note }own faults=$own rusage=$rus"
  fi
  if [[ -n $note ]]; then NOTE_RUN[$key]+="$note; "; fi
  say "$(printf '%-9s %-11s run %-20s %ss  cpu %sms  %s' "$load" "$mode" "$tag" "$e" "$cpu_ms" "$note")"
}

# ---------------------------------------------------------------------------------------------
# the runs, interleaved

# forget_warmup LOAD: the warm-up run is not counted
forget_warmup() {
  ELAPSED[$1.bare]=""
  CPU_MS[$1.bare]=""
  NOTE_RUN[$1.bare]=""
  OWN[$1.bare]=""
}
interleaved_runs forget_warmup "${LOADS[@]}"

# ---------------------------------------------------------------------------------------------
# report

machine_after

intspread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%d-%d", lo, hi; else print "-" }'; }
median_int() { median "$@" | awk '{ printf "%.0f", $1 }'; }

echo
echo "## Counting and sampling perf events: scorch against perf"
echo
echo "$(uname -r), $(nproc) CPUs; medians of $RUNS runs per mode, interleaved; $(awk -v t=$((T1 - T0)) 'BEGIN { printf "%.0f", t / 1e6 }') s in all; $PERF_VERSION."
echo "loadavg before: $LOAD_BEFORE, after: $LOAD_AFTER; CPUs busy during the runs (this benchmark included): ${BUSY_PCT}%"
echo "processes using >= 5% CPU before: ${BUSY_BEFORE:-none}; after: ${BUSY_AFTER:-none}"
for l in "${LOADS[@]}"; do
  echo
  if [[ $l == pingpong ]]; then
    echo "### pingpong: $TRIPS round trips, pinned to CPU $CPU; counting context switches of the parent"
    per="round trip"
    events=$TRIPS
  else
    echo "### faultloop: $PAGES pages x $ROUNDS rounds = $((PAGES * ROUNDS)) page faults, pinned to CPU $CPU; a sample on every fault"
    per="fault"
    events=$((PAGES * ROUNDS))
  fi
  echo
  echo "| mode | median elapsed (s) | spread (s) | slowdown | added (s) | added per $per (ns) | per-round ratio (median) | tool CPU, attach to loop end (ms, median) | counted (median; min-max) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  # shellcheck disable=SC2086 # the runs are space-separated lists
  bare=$(median ${ELAPSED[$l.bare]})
  for m in ${MODES_OF[$l]}; do
    k=$l.$m
    # shellcheck disable=SC2086
    med=$(median ${ELAPSED[$k]})
    added=$(awk -v a="$med" -v b="$bare" 'BEGIN { printf "%+.3f", a - b }')
    if [[ $m == bare ]]; then
      pr="-"
      pe="-"
      cnt="-"
    else
      pr="$(paired "${ELAPSED[$k]}" "${ELAPSED[$l.bare]}")x"
      pe=$(awk -v a="$med" -v b="$bare" -v n="$events" 'BEGIN { printf "%+.0f", (a - b) * 1e9 / n }')
      # shellcheck disable=SC2086
      if [[ -n ${COUNTS[$k]:-} ]]; then cnt="$(median_int ${COUNTS[$k]}); $(intspread ${COUNTS[$k]})"; else cnt="?"; fi
    fi
    # shellcheck disable=SC2086
    echo "| ${LABEL[$m]} | $med | $(spread ${ELAPSED[$k]}) | $(ratio "$med" "$bare")x | $added | $pe | $pr | $(median ${CPU_MS[$k]} | awk '{ printf "%.1f", $1 }') | $cnt |"
  done
  if [[ $l == pingpong ]]; then
    echo
    echo "Expected count: about $TRIPS (the parent blocks in read() once per round trip; the child, forked before the tool attached, is another process and not counted by either tool); perf stat -a counts every switch on the machine, the child's and the idle task's too: about twice that and more."
  else
    echo
    # shellcheck disable=SC2086
    echo "The program's own count, all runs (faults= / getrusage minor+major during the loop): $(printf '%s\n' ${OWN[$l.bare]} ${OWN[$l.scorch_prof]:-} ${OWN[$l.perf_rec]:-} | sort -u | tr '\n' ' ')"
    echo "The tools count from attach to exit: the settle pause and the program's exit add a few faults to the loop's."
  fi
done

echo
echo "### raw runs (elapsed s, in run order; tool CPU ms; what the tool counted)"
for j in "${JOBS[@]}"; do
  echo "- ${j%%.*}, ${LABEL[${j#*.}]}: ${ELAPSED[$j]}"
  echo "  - tool CPU (ms): ${CPU_MS[$j]}"
  if [[ -n ${NOTE_RUN[$j]:-} ]]; then echo "  - ${NOTE_RUN[$j]%; }"; fi
  if [[ -n ${EXTRA[$j]:-} ]]; then echo "  - tool messages: ${EXTRA[$j]//$'\n'/ }"; fi
done

echo
echo "### commands"
echo "- loads: ${PIN[*]} $WORK/pingpong $TRIPS stdin; ${PIN[*]} $WORK/faultloop $PAGES $ROUNDS stdin   (built with cc -O2 from tests/bench/pingpong.c and faultloop.c); timed: their loops only"
echo "- scorchd: $SCORCHD --socket $SOCK"
for m in scorch_stat perf_stat scorch_all perf_all scorch_prof perf_rec; do if [[ -n ${CMD[$m]:-} ]]; then echo "- ${LABEL[$m]}: ${CMD[$m]}"; fi; done
echo "- perf record's counts, untimed: its \"(N samples)\" line, and perf report -i OUT.data --stdio -g none --sort comm (\"# Event count\", \"# Total Lost Samples\")"
echo "- tool attached (scorch: session listed by scorch status; perf: 1 s), then ${SETTLE_MS} ms, then the loop starts"
echo "- tool CPU: the sum of /proc/PID/task/*/schedstat run time, read before the settle pause and right after the loop: scorchd + the scorch CLI, or the perf process (its write-out and post-processing after the loop are not included); for bare, the idle scorchd"
