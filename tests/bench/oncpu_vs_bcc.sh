#!/usr/bin/env bash
# oncpu_vs_bcc.sh: scorch's on-CPU profiler side by side with BCC's profile-bpfcc -F 99.
#
#   bash tests/bench/oncpu_vs_bcc.sh [BUILD_DIR]        (from the repo root, as root)
#
# Measures, on the same load and machine:
#   1. time to attach: scorchd's cold start-up to "listening"; then, per profile command, the
#      time from the command's start until the first sample was counted.
#   2. total CPU (daemon + CLI for scorch; the whole process for BCC) of a whole-system profile
#      at 99 Hz, by default 30 s, while cpu_split keeps one CPU busy.
#   3. peak RSS (scorchd's VmHWM, the CLI's and BCC's max RSS from GNU time).
#   4. slowdown of a fixed amount of CPU work (spin_work.c, pinned to one CPU) under each tool,
#      and each tool's BPF program's own run time per sample (kernel.bpf_stats_enabled, on only
#      while measuring; the previous value is restored on exit).
# and prints a markdown table, then the raw numbers. Results and method: tests/bench/RESULTS.md.
#
# It is a benchmark, not a test: the figures depend on what else runs on the machine (it reports
# how busy the CPUs were before and after). It takes two to three minutes.
#
# Environment knobs:
#   BENCH_SECONDS=30        length of the whole-system CPU/RSS profile
#   BENCH_RUNS=5            spin_work runs per case (bare, scorch, BCC); bare runs twice as often
#   BENCH_ITERATIONS=600000000  spin_work iterations (about 1 s on this VM)
#   BENCH_ATTACH_RUNS=5     repetitions of the time-to-first-sample measurement per tool
#   BENCH_NO_BCC=1          measure scorch only
#   BENCH_NO_INSTALL=1      never apt-get anything; report what is missing instead
#   BENCH_KEEP=1            keep the work directory (profiles, logs) instead of deleting it
#   BENCH_CACHE=/var/cache/scorch-bench   where the merged kernel-header tree for BCC is kept
#
# BCC compiles its BPF program at run time against kernel headers. This kernel has none
# installed (and /sys/kernel/kheaders.tar.xz is absent), so unless BCC_KERNEL_SOURCE is set or
# /lib/modules/$(uname -r)/build exists, the script downloads Debian's newest
# linux-headers-<ver>-amd64 and linux-headers-<ver>-common, unpacks and merges them under
# $BENCH_CACHE once, and points BCC_KERNEL_SOURCE at the merged tree.

set -u -o pipefail

# ---------------------------------------------------------------------------------------------
# settings and small helpers

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
SECONDS_PROFILE=${BENCH_SECONDS:-30}
RUNS=${BENCH_RUNS:-5}
ITERATIONS=${BENCH_ITERATIONS:-600000000}
ATTACH_RUNS=${BENCH_ATTACH_RUNS:-5}
CACHE=${BENCH_CACHE:-/var/cache/scorch-bench}
HZ=99
LOAD_CPU=0   # cpu_split (the "same load") runs here
SPIN_CPU=1   # spin_work runs here

SCORCHD=$BUILD/bin/scorchd
SCORCH=$BUILD/bin/scorch
BENCH_NAME=oncpu_vs_bcc
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
CPU_SPLIT=$BUILD/testprogs/cpu_split
SPIN_SRC=$ROOT/tests/bench/spin_work.c


# (Debian's awk is mawk, which prints integers past 2^31 as 1.2e+09: every large number is printf'd.)


# us_to_s 1234567 -> 1.235
us_to_s() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1e6 }'; }

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { printf '%s\n' "$@" | sort -n | head -1; }

# utime+stime of a process (all its threads), in clock ticks
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# on-CPU time of a process in ns (sum of its live threads' schedstat), a finer cross-check
proc_sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

CLK_TCK=$(getconf CLK_TCK)
ticks_to_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz }'; }


# ---------------------------------------------------------------------------------------------
# cleanup: everything this script starts is recorded here and ended on exit

STARTED=()
WORK=""
STATS_BEFORE=""
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${STARTED[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  if [[ -n $STATS_BEFORE ]]; then sysctl -q -w kernel.bpf_stats_enabled="$STATS_BEFORE" >/dev/null 2>&1; fi
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# prerequisites

MISSING=()
[[ $(id -u) == 0 ]] || MISSING+=("root (scorchd and BCC load BPF programs): run with sudo")
[[ -x $SCORCHD ]] || MISSING+=("$SCORCHD (build the project: ninja -C $BUILD)")
[[ -x $SCORCH ]] || MISSING+=("$SCORCH (build the project: ninja -C $BUILD)")
[[ -x $CPU_SPLIT ]] || MISSING+=("$CPU_SPLIT (build the project: ninja -C $BUILD)")
[[ -r $SPIN_SRC ]] || MISSING+=("$SPIN_SRC")
command -v cc >/dev/null || MISSING+=("cc (apt-get install gcc)")
command -v taskset >/dev/null || MISSING+=("taskset (apt-get install util-linux)")
[[ -x /usr/bin/time ]] || MISSING+=("/usr/bin/time, GNU time (apt-get install time)")
command -v bpftool >/dev/null || MISSING+=("bpftool (apt-get install bpftool)")
[[ -w /proc/sys/kernel/bpf_stats_enabled ]] || MISSING+=("a writable /proc/sys/kernel/bpf_stats_enabled")
(($(nproc) >= 2)) || MISSING+=("at least 2 CPUs (the load and spin_work are pinned to CPUs $LOAD_CPU and $SPIN_CPU)")
[[ -n ${EPOCHREALTIME:-} ]] || MISSING+=("bash 5 (EPOCHREALTIME)")
if ((${#MISSING[@]})); then
  say "missing prerequisites:"
  printf '  - %s\n' "${MISSING[@]}" >&2
  exit 1
fi

# BCC: the tool itself, then kernel headers for its run-time compile. Sets BCC_SKIP to a reason
# when BCC cannot be measured; the scorch half still runs.
BCC_SKIP=""
BCC_HEADERS="(found by BCC itself)"
setup_bcc() {
  if [[ ${BENCH_NO_BCC:-0} == 1 ]]; then
    BCC_SKIP="BENCH_NO_BCC=1"
    return
  fi
  if ! command -v profile-bpfcc >/dev/null; then
    if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
      BCC_SKIP="profile-bpfcc is not installed (apt-get install bpfcc-tools)"
      return
    fi
    say "installing bpfcc-tools (Debian package) for profile-bpfcc"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y bpfcc-tools >"$WORK/apt-bpfcc.log" 2>&1; then
      apt-get update >>"$WORK/apt-bpfcc.log" 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y bpfcc-tools >>"$WORK/apt-bpfcc.log" 2>&1
    fi
    command -v profile-bpfcc >/dev/null || {
      BCC_SKIP="apt-get install bpfcc-tools failed (see $WORK/apt-bpfcc.log)"
      return
    }
  fi

  bcc_kernel_headers || return 0

  # Smoke test: does it compile, load and attach here? (Also warms the page cache for the runs.)
  local t0
  t0=$(now_us)
  if ! timeout 60 profile-bpfcc -F "$HZ" -f 1 >"$WORK/bcc-smoke.out" 2>"$WORK/bcc-smoke.err"; then
    BCC_SKIP="profile-bpfcc -F $HZ -f 1 fails here: $(grep -m1 -iE 'error|unable|fail' "$WORK/bcc-smoke.err" || tail -1 "$WORK/bcc-smoke.err")"
    return
  fi
  BCC_SMOKE_US=$(($(now_us) - t0))
}
BCC_SMOKE_US=""

WORK=$(mktemp -d /tmp/scorch-bench.XXXXXX)
setup_bcc
if [[ -n $BCC_SKIP ]]; then say "BCC will not be measured: $BCC_SKIP"; fi

# spin_work, built fresh
cc -O2 -Wall -Wextra -o "$WORK/spin_work" "$SPIN_SRC" || die "cannot compile $SPIN_SRC"

# How busy were the CPUs before we started? (other processes add noise to every figure)
cpu_busy_pct() {
  local a b
  local sum='/^cpu / { printf "%.0f %.0f\n", $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }'
  read -ra a < <(awk "$sum" /proc/stat)
  sleep 1
  read -ra b < <(awk "$sum" /proc/stat)
  awk -v bu=$((b[0] - a[0])) -v tot=$((b[1] - a[1])) 'BEGIN { printf "%.0f", tot ? 100 * bu / tot : 0 }'
}
BUSY_BEFORE=$(cpu_busy_pct)
((BUSY_BEFORE > 10)) && say "warning: the CPUs were ${BUSY_BEFORE}% busy before the benchmark started: expect noise"

RAW=$WORK/raw.txt
: >"$RAW"
raw() { printf '%s\n' "$*" >>"$RAW"; }

# ---------------------------------------------------------------------------------------------
# the load: cpu_split busy on one CPU for the attach and CPU measurements

taskset -c "$LOAD_CPU" "$CPU_SPLIT" >"$WORK/cpu_split.out" 2>&1 &
LOAD_PID=$!
STARTED+=("$LOAD_PID")

# ---------------------------------------------------------------------------------------------
# scorchd: cold start-up to "listening"

SOCK=$WORK/scorchd.sock
say "starting scorchd"
t0=$(now_us)
"$SCORCHD" --socket "$SOCK" 2>"$WORK/scorchd.log" &
DAEMON=$!
STARTED+=("$DAEMON")
until grep -q 'listening on' "$WORK/scorchd.log" 2>/dev/null; do
  kill -0 "$DAEMON" 2>/dev/null || die "scorchd exited before listening: $(cat "$WORK/scorchd.log")"
  (($(now_us) - t0 > 20000000)) && die "scorchd did not listen within 20 s"
  sleep 0.002
done
t1=$(now_us)
STARTUP_US=$((t1 - t0))
STARTUP_TICKS=$(proc_ticks "$DAEMON")
STARTUP_HWM=$(proc_kb "$DAEMON" VmHWM)
PROG_ID=$(grep -o 'on-CPU program id [0-9]*' "$WORK/scorchd.log" | grep -o '[0-9]*$')
raw "scorchd start-up to listening: $(us_to_s $STARTUP_US) s; CPU $(ticks_to_s $STARTUP_TICKS) s; VmHWM ${STARTUP_HWM} kB; on-CPU program id $PROG_ID"

# Another process (a test's cleanup with pkill, say) can end our daemon: say so rather than time out.
daemon_alive() {
  kill -0 "$DAEMON" 2>/dev/null && return
  die "scorchd (PID $DAEMON) has gone; its log: $(tail -3 "$WORK/scorchd.log" | tr '\n' ' ')"
}
# (for foreground use only: in the background, $! would be a subshell, not the client)
scorch() { "$SCORCH" --socket "$SOCK" "$@"; }
status_samples() { scorch -j status | grep -o '"drops":{"samples":[0-9]*' | grep -o '[0-9]*$'; }
run_cnt() { bpftool prog show id "$1" 2>/dev/null | grep -o 'run_cnt [0-9]*' | grep -o '[0-9]*$'; }
# "run_time_ns run_cnt" of a BPF program (counted only while kernel.bpf_stats_enabled=1)
prog_stats() { bpftool prog show id "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } } END { printf "%.0f %.0f\n", t, c }'; }

# ---------------------------------------------------------------------------------------------
# time from command to first sample

STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null

# scorch: a whole-system 1 s profile; the daemon's counter of samples (scorch -j status) and the
# kernel's run count of the on-CPU program are polled from the moment the command starts.
say "scorch: command to first sample, $ATTACH_RUNS runs"
SC_STATUS=() SC_RUN=() SC_WALL=() SC_POLL=()
for i in $(seq 1 "$ATTACH_RUNS"); do
  base_s=$(status_samples)
  base_r=$(run_cnt "$PROG_ID")
  t0=$(now_us)
  "$SCORCH" --socket "$SOCK" -j profile -d 1 -F "$HZ" -o "$WORK/attach-$i.folded" >"$WORK/attach-$i.json" 2>"$WORK/attach-$i.err" &
  cli=$!
  STARTED+=("$cli")
  ts="" tr="" polls=0
  while [[ -z $ts || -z $tr ]]; do
    v=$(status_samples)
    [[ -z $ts && ${v:-0} -gt $base_s ]] && ts=$(now_us)
    r=$(run_cnt "$PROG_ID")
    [[ -z $tr && ${r:-0} -gt $base_r ]] && tr=$(now_us)
    polls=$((polls + 1))
    (($(now_us) - t0 > 10000000)) && break
    daemon_alive
  done
  tpoll=$(now_us)
  wait "$cli"
  t1=$(now_us)
  [[ -n $ts && -n $tr ]] || die "scorch run $i: no sample counted within 10 s"
  total=$(grep -o '"total":[0-9]*' "$WORK/attach-$i.json" | grep -o '[0-9]*$')
  SC_STATUS+=($((ts - t0))) SC_RUN+=($((tr - t0))) SC_WALL+=($((t1 - t0 - 1000000)))
  SC_POLL+=($(((tpoll - t0) / polls)))
  raw "scorch attach run $i: status counter >0 after $(us_to_s $((ts - t0))) s, run_cnt >0 after $(us_to_s $((tr - t0))) s (poll period $(us_to_s $(((tpoll - t0) / polls))) s); 1 s profile took $(us_to_s $((t1 - t0))) s, $total samples"
done

# BCC: profile-bpfcc -F 99 -f 1 (1 s, folded). It prints nothing when attached, so the kernel's
# run count of its new do_perf_event program is polled; and the wall time minus the 1 s is the
# brief's fallback method. (The smoke test above was the first run: its wall time is in the raw
# numbers, as the nearest thing to a cold start.)
BCC_RUN=() BCC_WALL=()
bcc_prog_ids() { bpftool prog show 2>/dev/null | awk '/^[0-9]+: perf_event +name do_perf_event/ { sub(":", "", $1); print $1 }'; }
if [[ -z $BCC_SKIP ]]; then
  raw "profile-bpfcc smoke test (first run of this script, -f 1): $(us_to_s "$BCC_SMOKE_US") s"
  say "profile-bpfcc: command to first sample, $ATTACH_RUNS runs"
  for i in $(seq 1 "$ATTACH_RUNS"); do
    before=" $(bcc_prog_ids | tr '\n' ' ') "
    t0=$(now_us)
    profile-bpfcc -F "$HZ" -f 1 >"$WORK/bcc-attach-$i.folded" 2>"$WORK/bcc-attach-$i.err" &
    bcc=$!
    STARTED+=("$bcc")
    tr="" id=""
    while kill -0 "$bcc" 2>/dev/null; do
      if [[ -z $id ]]; then
        for p in $(bcc_prog_ids); do [[ $before == *" $p "* ]] || id=$p; done
      fi
      if [[ -n $id ]]; then
        r=$(run_cnt "$id")
        if [[ ${r:-0} -gt 0 ]]; then
          tr=$(now_us)
          break
        fi
      fi
      sleep 0.005
    done
    wait_or_kill "$bcc" 60
    t1=$(now_us)
    [[ -n $tr ]] || die "profile-bpfcc run $i: its program never ran (see $WORK/bcc-attach-$i.err)"
    samples=$(awk '{ n += $NF } END { print n + 0 }' "$WORK/bcc-attach-$i.folded")
    raw "profile-bpfcc attach run $i: run_cnt >0 after $(us_to_s $((tr - t0))) s; -f 1 took $(us_to_s $((t1 - t0))) s, $samples samples"
    BCC_RUN+=($((tr - t0))) BCC_WALL+=($((t1 - t0 - 1000000)))
  done
fi

sysctl -q -w kernel.bpf_stats_enabled="$STATS_BEFORE" >/dev/null

# ---------------------------------------------------------------------------------------------
# total CPU and peak RSS of a whole-system profile at 99 Hz

say "scorch: ${SECONDS_PROFILE} s whole-system profile at $HZ Hz"
d_ticks0=$(proc_ticks "$DAEMON")
d_ns0=$(proc_sched_ns "$DAEMON")
/usr/bin/time -f "%e %U %S %M" -o "$WORK/scorch-cli.time" \
  "$SCORCH" --socket "$SOCK" -j profile -d "$SECONDS_PROFILE" -F "$HZ" -o "$WORK/scorch-30s.folded" \
  >"$WORK/scorch-30s.json" 2>"$WORK/scorch-30s.err" || {
  daemon_alive
  die "scorch profile failed: $(cat "$WORK/scorch-30s.err")"
}
daemon_alive
d_ticks1=$(proc_ticks "$DAEMON")
d_ns1=$(proc_sched_ns "$DAEMON")
read -r c_wall c_user c_sys c_maxkb <"$WORK/scorch-cli.time"
# schedstat (ns, summed over the daemon's threads) is exact; utime+stime (ticks) is the coarse cross-check.
SC_DAEMON_TICKS_CPU=$(ticks_to_s $((d_ticks1 - d_ticks0)))
SC_DAEMON_NS=$((d_ns1 - d_ns0))
SC_DAEMON_CPU=$(awk -v n="$SC_DAEMON_NS" 'BEGIN { printf "%.3f", n / 1e9 }')
SC_CLI_CPU=$(awk -v u="$c_user" -v s="$c_sys" 'BEGIN { printf "%.3f", u + s }')
SC_TOTAL_CPU=$(awk -v d="$SC_DAEMON_CPU" -v c="$SC_CLI_CPU" 'BEGIN { printf "%.3f", d + c }')
# Upper bound: everything scorchd has spent since it started (start-up, the attach profiles with their
# first, cold symbolization, this profile) plus this CLI.
SC_DAEMON_LIFE=$(awk -v n="$(proc_sched_ns "$DAEMON")" 'BEGIN { printf "%.3f", n / 1e9 }')
SC_TOTAL_WITH_START=$(awk -v d="$SC_DAEMON_LIFE" -v c="$SC_CLI_CPU" 'BEGIN { printf "%.3f", d + c }')
SC_HWM=$(proc_kb "$DAEMON" VmHWM)
SC_RSS_AFTER=$(proc_kb "$DAEMON" VmRSS)
SC_CLI_KB=$c_maxkb
SC_SAMPLES=$(grep -o '"total":[0-9]*' "$WORK/scorch-30s.json" | grep -o '[0-9]*$')
SC_IDLE=$(awk '$1 ~ /^swapper/ { n += $NF } END { print n + 0 }' "$WORK/scorch-30s.folded")
raw "scorch ${SECONDS_PROFILE} s: daemon CPU $SC_DAEMON_CPU s (schedstat; utime+stime $SC_DAEMON_TICKS_CPU s), $SC_DAEMON_LIFE s since its start; CLI wall $c_wall s user $c_user s sys $c_sys s maxrss $c_maxkb kB; daemon VmHWM $SC_HWM kB, VmRSS $SC_RSS_AFTER kB; $SC_SAMPLES samples ($SC_IDLE of them idle/swapper); $(cat "$WORK/scorch-30s.json")"

if [[ -z $BCC_SKIP ]]; then
  say "profile-bpfcc: ${SECONDS_PROFILE} s whole-system profile at $HZ Hz"
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/bcc-30s.time" \
    profile-bpfcc -F "$HZ" -f "$SECONDS_PROFILE" >"$WORK/bcc-30s.folded" 2>"$WORK/bcc-30s.err" ||
    die "profile-bpfcc failed: $(tail -3 "$WORK/bcc-30s.err")"
  read -r b_wall b_user b_sys b_maxkb <"$WORK/bcc-30s.time"
  BCC_CPU=$(awk -v u="$b_user" -v s="$b_sys" 'BEGIN { printf "%.3f", u + s }')
  BCC_KB=$b_maxkb
  BCC_SAMPLES=$(awk '{ n += $NF } END { print n + 0 }' "$WORK/bcc-30s.folded")
  raw "profile-bpfcc ${SECONDS_PROFILE} s: wall $b_wall s user $b_user s sys $b_sys s maxrss $b_maxkb kB; $BCC_SAMPLES samples (idle excluded by default)"
fi

kill -TERM "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
raw "cpu_split load: $(tail -1 "$WORK/cpu_split.out")"

# ---------------------------------------------------------------------------------------------
# slowdown of fixed CPU work pinned to one CPU

spin() { # appends elapsed and CPU ns of N runs to the named arrays
  local n=$1 label=$2 out
  for _ in $(seq 1 "$n"); do
    out=$(taskset -c "$SPIN_CPU" "$WORK/spin_work" "$ITERATIONS") || die "spin_work failed"
    eval "${label}_E+=($(sed 's/.*elapsed_ns=\([0-9]*\).*/\1/' <<<"$out"))"
    eval "${label}_C+=($(sed 's/.*cpu_ns=\([0-9]*\).*/\1/' <<<"$out"))"
  done
}
BARE1_E=() BARE1_C=() BARE2_E=() BARE2_C=() SCO_E=() SCO_C=() BCC_E=() BCC_C=()

say "slowdown: spin_work x$RUNS bare"
spin "$RUNS" BARE1

# BPF run-time statistics stay on from here to the last profiled run, for both tools alike (they
# add two clock reads per program run): they give each program's own cost per sample.
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null

say "slowdown: spin_work x$RUNS under scorch profile (whole system, $HZ Hz)"
base_s=$(status_samples)
"$SCORCH" --socket "$SOCK" -j profile -d 60 -F "$HZ" -o "$WORK/spin-scorch.folded" >"$WORK/spin-scorch.json" 2>"$WORK/spin-scorch.err" &
cli=$!
STARTED+=("$cli")
t0=$(now_us)
until [[ $(status_samples) -gt $base_s ]]; do
  (($(now_us) - t0 > 10000000)) && die "scorch profile did not start sampling within 10 s"
  daemon_alive
  sleep 0.01
done
read -r sc_t0 sc_c0 <<<"$(prog_stats "$PROG_ID")"
sc_d0=$(proc_sched_ns "$DAEMON")
spin "$RUNS" SCO
daemon_alive
sc_d1=$(proc_sched_ns "$DAEMON")
read -r sc_t1 sc_c1 <<<"$(prog_stats "$PROG_ID")"
SPIN_SC_PROG_NS=$(((sc_t1 - sc_t0) / (sc_c1 - sc_c0 > 0 ? sc_c1 - sc_c0 : 1)))
SPIN_SC_OWN_NS=$((sc_d1 - sc_d0))
raw "scorch during spin_work: BPF program ran $((sc_c1 - sc_c0)) times, $((sc_t1 - sc_t0)) ns in all, ${SPIN_SC_PROG_NS} ns per run; scorchd used $(us_to_s $((SPIN_SC_OWN_NS / 1000))) s CPU meanwhile"
kill -INT "$cli"
wait_or_kill "$cli" 20
SPIN_SC_TOTAL=$(grep -o '"total":[0-9]*' "$WORK/spin-scorch.json" | grep -o '[0-9]*$')
SPIN_SC_SPIN=$(awk '$1 ~ /^spin_work/ { n += $NF } END { print n + 0 }' "$WORK/spin-scorch.folded" 2>/dev/null)
raw "scorch during spin_work: ${SPIN_SC_TOTAL:-?} samples, ${SPIN_SC_SPIN:-?} in spin_work; daemon VmHWM now $(proc_kb "$DAEMON" VmHWM) kB, VmRSS $(proc_kb "$DAEMON" VmRSS) kB"

if [[ -z $BCC_SKIP ]]; then
  say "slowdown: spin_work x$RUNS under profile-bpfcc -F $HZ"
  before=" $(bcc_prog_ids | tr '\n' ' ') "
  profile-bpfcc -F "$HZ" -f 60 >"$WORK/spin-bcc.folded" 2>"$WORK/spin-bcc.err" &
  bcc=$!
  STARTED+=("$bcc")
  t0=$(now_us) id="" r=0
  while ((${r:-0} == 0)); do
    kill -0 "$bcc" 2>/dev/null || die "profile-bpfcc exited: $(tail -3 "$WORK/spin-bcc.err")"
    (($(now_us) - t0 > 60000000)) && die "profile-bpfcc did not attach within 60 s"
    if [[ -z $id ]]; then for p in $(bcc_prog_ids); do [[ $before == *" $p "* ]] || id=$p; done; fi
    [[ -n $id ]] && r=$(run_cnt "$id")
    sleep 0.02
  done
  read -r b_t0 b_c0 <<<"$(prog_stats "$id")"
  b_d0=$(proc_sched_ns "$bcc")
  spin "$RUNS" BCC
  b_d1=$(proc_sched_ns "$bcc")
  read -r b_t1 b_c1 <<<"$(prog_stats "$id")"
  SPIN_BCC_PROG_NS=$(((b_t1 - b_t0) / (b_c1 - b_c0 > 0 ? b_c1 - b_c0 : 1)))
  SPIN_BCC_OWN_NS=$((b_d1 - b_d0))
  raw "profile-bpfcc during spin_work: BPF program ran $((b_c1 - b_c0)) times, $((b_t1 - b_t0)) ns in all, ${SPIN_BCC_PROG_NS} ns per run; profile-bpfcc used $(us_to_s $((SPIN_BCC_OWN_NS / 1000))) s CPU meanwhile"

  # The per-sample cost depends on what the samples interrupt (above, one CPU was idle: scorch
  # records idle samples with their kernel stacks, BCC drops them first thing), so the two programs
  # are also timed over the same 5 s, both attached at once, with cpu_split busy on both CPUs.
  say "per-sample cost: scorch and profile-bpfcc attached at once for 5 s, both CPUs busy"
  taskset -c "$LOAD_CPU" "$CPU_SPLIT" 70 7 >/dev/null 2>&1 &
  both_load=$!
  STARTED+=("$both_load")
  taskset -c "$SPIN_CPU" "$CPU_SPLIT" 70 7 >/dev/null 2>&1 &
  both_load2=$!
  STARTED+=("$both_load2")
  sleep 0.2
  read -r b_t0 b_c0 <<<"$(prog_stats "$id")"
  read -r sc_t0 sc_c0 <<<"$(prog_stats "$PROG_ID")"
  scorch profile -d 5 -F "$HZ" -o "$WORK/both.folded" 2>"$WORK/both.err" || {
    daemon_alive
    die "scorch profile failed: $(cat "$WORK/both.err")"
  }
  read -r sc_t1 sc_c1 <<<"$(prog_stats "$PROG_ID")"
  read -r b_t1 b_c1 <<<"$(prog_stats "$id")"
  BOTH_SC_NS=$(((sc_t1 - sc_t0) / (sc_c1 - sc_c0 > 0 ? sc_c1 - sc_c0 : 1)))
  BOTH_BCC_NS=$(((b_t1 - b_t0) / (b_c1 - b_c0 > 0 ? b_c1 - b_c0 : 1)))
  raw "both attached for 5 s: scorch's program ran $((sc_c1 - sc_c0)) times, ${BOTH_SC_NS} ns per run; profile-bpfcc's ran $((b_c1 - b_c0)) times, ${BOTH_BCC_NS} ns per run"
  kill -TERM "$both_load" "$both_load2" 2>/dev/null
  wait "$both_load" "$both_load2" 2>/dev/null
  # A background job of a script ignores SIGINT, and so does Python then: end BCC with TERM.
  kill -TERM "$bcc"
  wait_or_kill "$bcc" 20
fi

sysctl -q -w kernel.bpf_stats_enabled="$STATS_BEFORE" >/dev/null

say "slowdown: spin_work x$RUNS bare again"
spin "$RUNS" BARE2

BARE_E=("${BARE1_E[@]}" "${BARE2_E[@]}")
BARE_C=("${BARE1_C[@]}" "${BARE2_C[@]}")
raw "spin_work $ITERATIONS iterations on CPU $SPIN_CPU, elapsed ns: bare(before) ${BARE1_E[*]}; scorch ${SCO_E[*]}; bcc ${BCC_E[*]:-n/a}; bare(after) ${BARE2_E[*]}"
raw "spin_work thread CPU ns: bare(before) ${BARE1_C[*]}; scorch ${SCO_C[*]}; bcc ${BCC_C[*]:-n/a}; bare(after) ${BARE2_C[*]}"
raw "spin_work medians, elapsed ns: bare $(median "${BARE_E[@]}"), scorch $(median "${SCO_E[@]}"), bcc $( ((${#BCC_E[@]})) && median "${BCC_E[@]}" || echo n/a); thread CPU ns: bare $(median "${BARE_C[@]}"), scorch $(median "${SCO_C[@]}"), bcc $( ((${#BCC_C[@]})) && median "${BCC_C[@]}" || echo n/a)"

SC_DAEMON_FINAL_HWM=$(proc_kb "$DAEMON" VmHWM)
SC_DAEMON_TOTAL_TICKS=$(proc_ticks "$DAEMON")
kill -TERM "$DAEMON"
wait_or_kill "$DAEMON" 10
raw "scorchd at the end: VmHWM $SC_DAEMON_FINAL_HWM kB, CPU since start $(ticks_to_s "$SC_DAEMON_TOTAL_TICKS") s; log: $(grep -c . "$WORK/scorchd.log") lines, warnings: $(grep -ciE 'warn|error' "$WORK/scorchd.log")"

# ---------------------------------------------------------------------------------------------
# report

BUSY_AFTER=$(cpu_busy_pct)
ms() { awk -v u="$1" 'BEGIN { printf "%.0f ms", u / 1000 }'; }
ms_med() { ms "$(median "$@")"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f%%", 100 * (a / b - 1) }'; }
s_med() { awk -v n="$(median "$@")" 'BEGIN { printf "%.3f s", n / 1e9 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "met" : "**not met**") }'; }

M_SC_STATUS=$(median "${SC_STATUS[@]}")
M_SC_RUN=$(median "${SC_RUN[@]}")
M_BARE_E=$(median "${BARE_E[@]}")
M_SCO_E=$(median "${SCO_E[@]}")
M_BARE_C=$(median "${BARE_C[@]}")
M_SCO_C=$(median "${SCO_C[@]}")
# share of one CPU that the program's own run time takes at $HZ samples per second
cpu_share() { awk -v ns="$1" -v hz="$HZ" 'BEGIN { printf "%.0f ns = %.3f%% of a CPU", ns, ns * hz / 1e7 }'; }
SLOW_SC=$(awk -v a="$M_SCO_E" -v b="$M_BARE_E" 'BEGIN { printf "%.2f", 100 * (a / b - 1) }')
NA="n/a"
if [[ -z $BCC_SKIP ]]; then
  M_BCC_E=$(median "${BCC_E[@]}")
  B_ATTACH=$(ms_med "${BCC_RUN[@]}")
  B_WALL=$(ms_med "${BCC_WALL[@]}")
  B_CPU="$BCC_CPU s"
  B_RSS=$(mb "$BCC_KB")
  B_SAMPLES="$BCC_SAMPLES (idle not counted)"
  B_SPIN=$(s_med "${BCC_E[@]}")
  B_SLOW=$(pct "$M_BCC_E" "$M_BARE_E")
  B_MIN=$(awk -v n="$(minimum "${BCC_E[@]}")" 'BEGIN { printf "%.3f s", n / 1e9 }')
  B_SLOW_MIN=$(pct "$(minimum "${BCC_E[@]}")" "$(minimum "${BARE_E[@]}")")
  B_SLOW_C=$(pct "$(median "${BCC_C[@]}")" "$M_BARE_C")
  B_PROG=$(cpu_share "$SPIN_BCC_PROG_NS")
  B_OWN="$(us_to_s $((SPIN_BCC_OWN_NS / 1000))) s"
  S_BOTH=$(cpu_share "$BOTH_SC_NS")
  B_BOTH=$(cpu_share "$BOTH_BCC_NS")
else
  S_BOTH="$NA" B_BOTH="$NA"
  B_ATTACH="$NA" B_WALL="$NA" B_CPU="$NA" B_RSS="$NA" B_SAMPLES="$NA" B_SPIN="$NA" B_SLOW="$NA"
  B_MIN="$NA" B_SLOW_MIN="$NA" B_SLOW_C="$NA" B_PROG="$NA" B_OWN="$NA"
fi
SC_RSS_PEAK=$((SC_DAEMON_FINAL_HWM > SC_CLI_KB ? SC_DAEMON_FINAL_HWM : SC_CLI_KB))

cat <<EOF

## scorch vs profile-bpfcc -F $HZ ($(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs)

| measure | scorch | profile-bpfcc -F $HZ | target (scorch) | scorch |
|---|---|---|---|---|
| scorchd cold start-up to "listening" (once) | $(ms "$STARTUP_US"), $(ticks_to_s "$STARTUP_TICKS") s CPU | — (no daemon) | — | — |
| command to first sample: kernel run count > 0 (median of $ATTACH_RUNS) | $(ms "$M_SC_RUN") | $B_ATTACH | ≤ 100 ms | $(verdict "$M_SC_RUN" 100000) |
| command to first sample: daemon's sample counter > 0 (median of $ATTACH_RUNS) | $(ms "$M_SC_STATUS") | — | ≤ 100 ms | $(verdict "$M_SC_STATUS" 100000) |
| wall time of a 1 s profile minus 1 s (attach + stop + symbolize + write) | $(ms_med "${SC_WALL[@]}") | $B_WALL | — | — |
| CPU for a ${SECONDS_PROFILE} s whole-system profile at $HZ Hz | $SC_TOTAL_CPU s (daemon $SC_DAEMON_CPU + CLI $SC_CLI_CPU) | $B_CPU (compile + load + symbolize) | ≤ 0.2 s | $(verdict "$SC_TOTAL_CPU" 0.2) |
| same, plus all scorchd spent before (start-up, the attach profiles, first symbolization) | $SC_TOTAL_WITH_START s | $B_CPU | — | — |
| peak RSS | daemon $(mb "$SC_DAEMON_FINAL_HWM") (VmHWM), CLI $(mb "$SC_CLI_KB") | $B_RSS | ≤ 30 MB | $(verdict "$SC_RSS_PEAK" 30720) |
| samples in the ${SECONDS_PROFILE} s profile | $SC_SAMPLES ($SC_IDLE idle) | $B_SAMPLES | — | — |
| spin_work median elapsed, bare (${#BARE_E[@]} runs) | $(s_med "${BARE_E[@]}") | $(s_med "${BARE_E[@]}") | — | — |
| spin_work median elapsed under the profiler ($RUNS runs) | $(s_med "${SCO_E[@]}") | $B_SPIN | — | — |
| slowdown of spin_work (medians of elapsed time) | $(pct "$M_SCO_E" "$M_BARE_E") | $B_SLOW | ≤ 1% | $(verdict "$SLOW_SC" 1) |
| spin_work fastest run, bare / under the profiler | $(awk -v n="$(minimum "${BARE_E[@]}")" 'BEGIN { printf "%.3f s", n / 1e9 }') / $(awk -v n="$(minimum "${SCO_E[@]}")" 'BEGIN { printf "%.3f s", n / 1e9 }') | $(awk -v n="$(minimum "${BARE_E[@]}")" 'BEGIN { printf "%.3f s", n / 1e9 }') / $B_MIN | — | — |
| slowdown of spin_work (fastest runs) | $(pct "$(minimum "${SCO_E[@]}")" "$(minimum "${BARE_E[@]}")") | $B_SLOW_MIN | — | — |
| slowdown of spin_work (medians of its thread CPU time, which includes the sampling interrupts) | $(pct "$M_SCO_C" "$M_BARE_C") | $B_SLOW_C | — | — |
| BPF program's own time per sample (bpf_stats), each during its own spins (one CPU busy, one idle) | $(cpu_share "$SPIN_SC_PROG_NS") | $B_PROG | — | — |
| BPF program's own time per sample, both attached at once for 5 s, both CPUs busy (same samples) | $S_BOTH | $B_BOTH | — | — |
| the profiler's user-space CPU during the $RUNS spins | $(us_to_s $((SPIN_SC_OWN_NS / 1000))) s (scorchd's drains) | $B_OWN | — | — |

CPUs busy before the benchmark: ${BUSY_BEFORE}%, after: ${BUSY_AFTER}% (other processes on the machine).
BCC kernel headers: $([[ -z $BCC_SKIP ]] && echo "$BCC_HEADERS" || echo "BCC not measured: $BCC_SKIP").
Load: cpu_split busy on CPU $LOAD_CPU during the attach and CPU measurements; spin_work ($ITERATIONS iterations) pinned to CPU $SPIN_CPU, no other load.

### raw
\`\`\`
$(cat "$RAW")
\`\`\`
EOF
[[ -z $BCC_SKIP ]] || exit 3
