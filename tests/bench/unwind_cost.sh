#!/usr/bin/env bash
# Cost per on-CPU sample of the BPF program (bpf_stats run_time_ns / run_cnt): user stacks unwound
# from .eh_frame tables (-p) against frame pointers (whole system), on the same busy program.
#   bash tests/bench/unwind_cost.sh [BUILD_DIR]      (root; takes about 20 s)
set -euo pipefail
build=${1:-build}
dir=$(mktemp -d /tmp/scorch-unwind-cost.XXXXXX)
sock=$dir/s.sock
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
pids=()
cleanup() {
  echo "$old_stats" > /proc/sys/kernel/bpf_stats_enabled
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$build/bin/scorchd" --socket "$sock" 2>"$dir/scorchd.log" &
pids+=($!)
until grep -q listening "$dir/scorchd.log"; do sleep 0.05; done
prog_id=$(sed -n 's/.*on-CPU program id \([0-9]*\).*/\1/p' "$dir/scorchd.log")

run_stats() {  # prints "run_cnt run_time_ns"
  bpftool prog show id "$prog_id" -j | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p.get("run_cnt",0), p.get("run_time_ns",0))'
}

measure() {  # $1 label, $2 program, rest: profile args
  local label=$1 prog=$2; shift 2
  taskset -c 1 "$build/testprogs/$prog" 8 >/dev/null &
  local target=$!
  pids+=($target)
  sleep 0.3
  echo 1 > /proc/sys/kernel/bpf_stats_enabled
  read -r c0 t0 < <(run_stats)
  local args=("$@")
  [ "${args[0]:-}" = "PID" ] && args=(-p "$target" "${args[@]:1}")
  "$build/bin/scorch" --socket "$sock" profile "${args[@]}" -d 5 -F 999 -o "$dir/$label.folded" 2>/dev/null
  read -r c1 t1 < <(run_stats)
  echo 0 > /proc/sys/kernel/bpf_stats_enabled
  kill "$target" 2>/dev/null || true
  wait "$target" 2>/dev/null || true
  local frames
  frames=$(awk '{n=$NF; $NF=""; k=split($0, a, ";"); s+=n; f+=n*(k-1)} END{ if (s) printf "%.1f", f/s; else print 0 }' "$dir/$label.folded")
  printf '| %s | %s | %d | %.0f ns | %s |\n' "$label" "$prog" $((c1 - c0)) "$(echo "($t1 - $t0) / ($c1 - $c0)" | bc -l)" "$frames"
}

echo "| mode | program | samples (all CPUs) | BPF time per sample | mean frames per stack |"
echo "|---|---|---|---|---|"
measure tables-deep deep_chain PID
measure fp-deep deep_chain
measure tables-nofp nofp_chain PID
measure fp-nofp nofp_chain
measure tables-cpu_split cpu_split PID
measure fp-cpu_split cpu_split
