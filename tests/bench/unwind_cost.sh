#!/usr/bin/env bash
# Cost per on-CPU sample of the BPF program (bpf_stats run_time_ns / run_cnt): user stacks unwound
# from .eh_frame tables (-p) against frame pointers (whole system), on the same busy program.
#   bash tests/bench/unwind_cost.sh [BUILD_DIR] [ROUNDS]   (root; about 40 s a round)
# The modes run in interleaved rounds (this VM's speed drifts by up to 2x over minutes), and the
# table ends with each mode's median over the rounds.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
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
  local per=$(( (t1 - t0) / (c1 - c0) ))
  printf '| %s | %s | %s | %d | %d ns | %s |\n' "$round" "$label" "$prog" $((c1 - c0)) "$per" "$frames"
  echo "$label $prog $per $frames" >> "$dir/all.txt"
}

echo "| round | mode | program | samples (all CPUs) | BPF time per sample | mean frames per stack |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  measure tables-deep deep_chain PID
  measure fp-deep deep_chain
  measure tables-nofp nofp_chain PID
  measure fp-nofp nofp_chain
  measure tables-cpu_split cpu_split PID
  measure fp-cpu_split cpu_split
done
echo
echo "| mode | program | median BPF time per sample over $rounds rounds | all rounds |"
echo "|---|---|---|---|"
for key in $(awk '!seen[$1]++ {print $1 ":" $2}' "$dir/all.txt"); do
  label=${key%%:*} prog=${key#*:}
  vals=$(awk -v l="$label" '$1 == l {print $3}' "$dir/all.txt" | sort -n)
  n=$(echo "$vals" | wc -l)
  med=$(echo "$vals" | awk -v n="$n" '{a[NR]=$1} END {if (n % 2) print a[(n+1)/2]; else print int((a[n/2]+a[n/2+1])/2)}')
  printf '| %s | %s | %s ns | %s |\n' "$label" "$prog" "$med" "$(echo $vals | tr ' ' ',')"
done
