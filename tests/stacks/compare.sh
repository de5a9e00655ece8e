#!/usr/bin/env bash
# Profiles one running process with scorch and with `perf record --call-graph dwarf` at the same
# time, and reports how far scorch's user stacks agree with perf's (the oracle).
#   tests/stacks/compare.sh PID [SECONDS] [--measure cpu|offcpu|malloc] [--socket PATH] [-F HZ]
#                           [--out DIR] [--call-graph dwarf|fp] [--dump-size BYTES] [--keep-data]
# --dump-size: the user stack perf copies per sample (default 65528, its maximum: a tokio worker's
# chain spans more than 8 KiB). --keep-data keeps the perf.data files (deleted after reading: they
# grow by ~30 MB a second). At high malloc rates perf loses many samples; what it keeps is still a
# fair sample of the calls, which the comparison of shares needs.
# perf unwinds with DWARF; --call-graph fp is for Go, whose .debug_frame perf's unwinder does not
# read (one frame per sample) but which keeps frame pointers: the comparer then allows for a
# frameless leaf's caller missing from perf's chains.
# A running scorchd is needed (--socket, else $SCORCH_SOCKET, else the default socket). Root, or
# kernel.perf_event_paranoid <= 1. Exit 0 when both tools ran (the report says how well they agree),
# 1 when one failed, 2 on bad usage.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
scorch="${SCORCH_BIN:-$root/build/bin/scorch}"
comparer="${STACKS_COMPARE:-$root/build/bin/stacks_compare}"
perf="${PERF:-perf}"

usage() {
  echo "scorch: failed to parse arguments: $1" >&2
  echo "usage: $0 PID [SECONDS] [--measure cpu|offcpu|malloc] [--socket PATH] [-F HZ] [--out DIR]" >&2
  echo "          [--call-graph dwarf|fp] [--dump-size BYTES] [--keep-data]" >&2
  exit 2
}
fail() {
  echo "scorch: failed to $1" >&2
  [ -n "${2:-}" ] && echo "HINT: $2" >&2
  exit 1
}

pid="" seconds=10 measure=cpu socket="${SCORCH_SOCKET:-}" freq=99 out="" call_graph=dwarf keep=0 dump_size=65528
while [ $# -gt 0 ]; do
  case "$1" in
    --measure) [ $# -ge 2 ] || usage "--measure needs a value"; measure="$2"; shift 2 ;;
    --socket) [ $# -ge 2 ] || usage "--socket needs a value"; socket="$2"; shift 2 ;;
    -F) [ $# -ge 2 ] || usage "-F needs a value"; freq="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage "--out needs a value"; out="$2"; shift 2 ;;
    --keep-data) keep=1; shift ;;
    --dump-size) [ $# -ge 2 ] || usage "--dump-size needs a value"; dump_size="$2"; shift 2 ;;
    --call-graph) [ $# -ge 2 ] || usage "--call-graph needs a value"; call_graph="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    -*) usage "unknown option $1" ;;
    *)
      if [ -z "$pid" ]; then pid="$1"; else seconds="$1"; fi
      shift ;;
  esac
done
[[ "$pid" =~ ^[0-9]+$ ]] || usage "a PID is required"
[[ "$seconds" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage "SECONDS must be a number, not '$seconds'"
[[ "$freq" =~ ^[0-9]+$ ]] || usage "-F takes a number"
case "$measure" in cpu|offcpu|malloc) ;; *) usage "--measure takes cpu, offcpu or malloc" ;; esac
case "$call_graph" in dwarf|fp) ;; *) usage "--call-graph takes dwarf or fp" ;; esac
[ -d "/proc/$pid" ] || fail "find process $pid: no such process" "is the PID right? (ps -p $pid)"
command -v "$perf" >/dev/null || fail "find perf: not installed" "apt-get install linux-perf (or: packaging/install-deps.sh --test)"
[ -x "$scorch" ] || fail "find scorch: $scorch is not built" "bash packaging/build.sh"
[ -x "$comparer" ] || fail "find stacks_compare: $comparer is not built" "bash packaging/build.sh"
if [ "$(id -u)" -ne 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 1 ]; then
  fail "use perf: kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid)" \
    "run as root, or: sysctl kernel.perf_event_paranoid=1"
fi
socket_args=()
[ -n "$socket" ] && socket_args=(--socket "$socket")
if [ -z "$out" ]; then out="$(mktemp -d /tmp/scorch-compare.XXXXXX)"; else mkdir -p "$out"; fi

# The largest user stack perf copies per sample: async Rust keeps its futures on the stack, and a
# tokio worker's chain spans more than perf's default 8 KiB.
[[ "$dump_size" =~ ^[0-9]+$ ]] || usage "--dump-size takes a number of bytes"
dwarf="dwarf,$dump_size"
[ "$call_graph" = fp ] && dwarf=fp
comm="$(cat "/proc/$pid/comm" 2>/dev/null)"
perf_pids=()

# perf record for the same span as scorch; its output (for a failure) in $out/perf-record*.log.
# 16 MiB of buffer per CPU: with 64 KiB stack copies perf loses less.
run_perf() {  # name args...
  local name="$1"; shift
  "$perf" record -q -m 4096 "$@" -o "$out/$name.data" -- sleep "$seconds" >"$out/$name-record.log" 2>&1 &
  perf_pids+=($!)
}

probe=""
case "$measure" in
  cpu)
    run_perf perf -e cpu-clock -F "$freq" --call-graph "$dwarf" -p "$pid"
    "$scorch" "${socket_args[@]}" profile -p "$pid" -d "$seconds" -F "$freq" -o "$out/scorch.folded" \
      >"$out/scorch.log" 2>&1
    scorch_rc=$?
    ;;
  offcpu)
    # Switch-outs of the process with stacks, and every switch-in on the machine (no stacks) to
    # know how long each block lasted: scorch weighs blocks by time, perf counts switches.
    if [ ! -d /sys/kernel/tracing/events ]; then
      mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
        fail "mount tracefs: perf needs it for sched:sched_switch" "mount -t tracefs nodev /sys/kernel/tracing"
    fi
    run_perf perf -k CLOCK_MONOTONIC -e sched:sched_switch --call-graph "$dwarf" -p "$pid"
    run_perf switch -k CLOCK_MONOTONIC -e sched:sched_switch -a
    "$scorch" "${socket_args[@]}" offcpu -p "$pid" -d "$seconds" -o "$out/scorch.folded" >"$out/scorch.log" 2>&1
    scorch_rc=$?
    ;;
  malloc)
    libc="$(awk '$6 ~ /\/libc\.so\.6$/ {print $6; exit}' "/proc/$pid/maps")"
    [ -n "$libc" ] || fail "find glibc in process $pid: no libc.so.6 mapped" "perf's side probes glibc's malloc only"
    probe="probe_libc:malloc"
    "$perf" probe -q -d "$probe" >/dev/null 2>&1
    "$perf" probe -q -x "/proc/$pid/root$libc" --add malloc >"$out/probe.log" 2>&1 ||
      "$perf" probe -q -x "$libc" --add malloc >>"$out/probe.log" 2>&1 ||
      fail "add perf probe on malloc: $(tail -1 "$out/probe.log")" "is tracefs mounted? mount -t tracefs nodev /sys/kernel/tracing"
    run_perf perf -e "$probe" --call-graph "$dwarf" -p "$pid"
    "$scorch" "${socket_args[@]}" malloc -p "$pid" -d "$seconds" --weight calls -o "$out/scorch.folded" \
      >"$out/scorch.log" 2>&1
    scorch_rc=$?
    ;;
esac
perf_rc=0
for p in "${perf_pids[@]}"; do wait "$p" || perf_rc=$?; done
[ -n "$probe" ] && "$perf" probe -q -d "$probe" >/dev/null 2>&1
[ "$scorch_rc" -eq 0 ] || fail "profile with scorch: $(grep -m1 'failed' "$out/scorch.log" || tail -1 "$out/scorch.log")" \
  "is scorchd running on ${socket:-the default socket}? (see $out/scorch.log)"
[ -d "/proc/$pid" ] || fail "profile process $pid: it exited before the end" "give it work for longer than $seconds s"
[ "$perf_rc" -eq 0 ] || fail "record with perf: $(tail -1 "$out/perf-record.log")" "see $out/perf-record.log"

# Physical frames only (--no-inline) and raw names: the comparer demangles both sides alike.
"$perf" script -i "$out/perf.data" --no-inline --no-demangle -F comm,tid,time,event,ip,sym,dso \
  >"$out/perf.script" 2>"$out/perf-script.log" || fail "read perf.data: $(tail -1 "$out/perf-script.log")"
args=(--scorch "$out/scorch.folded" --perf "$out/perf.script" --dump "$out"
      --title "scorch vs perf, $measure stacks of $pid ($comm), ${seconds} s; files in $out")
if [ "$measure" = offcpu ]; then
  "$perf" script -i "$out/switch.data" -F tid,time,trace >"$out/switch.script" 2>>"$out/perf-script.log" ||
    fail "read switch.data: $(tail -1 "$out/perf-script.log")"
  args+=(--switch-ins "$out/switch.script")
fi
[ "$measure" = malloc ] && args+=(--leaf malloc)
[ "$call_graph" = fp ] && args+=(--fp-oracle)
# perf drops what it cannot write in time ("lost N chunks", "lost 12.3%"): its side is then a
# sample of the calls, still comparable as a distribution.
grep -h -i 'lost' "$out"/perf-record*.log "$out/perf-script.log" 2>/dev/null | sed 's/^/perf: /'
[ "$keep" -eq 1 ] || rm -f "$out"/*.data
"$comparer" "${args[@]}"
