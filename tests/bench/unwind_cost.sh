#!/usr/bin/env bash
# Cost per on-CPU sample of the BPF program (bpf_stats run_time_ns / run_cnt): user stacks unwound
# from .eh_frame tables (-p) against frame pointers (whole system), on the same busy program; and
# tables alone on the corpus's hyper/tokio server (hello_svc_lld, hello_svc_bfd) under wrk.
#   bash tests/bench/unwind_cost.sh [BUILD_DIR] [ROUNDS]   (root, wrk; about 55 s a round)
# The modes run in interleaved rounds (this VM's speed drifts by up to 2x over minutes), and the
# table ends with each mode's median over the rounds.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
secs=5  # each profile, at 999 Hz
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

measure() {  # $1 label, $2 program (a test program, or hello_svc_* of the corpus), rest: profile args
  local label=$1 prog=$2; shift 2
  local load=
  if [[ $prog == hello_svc* ]]; then
    # The server prints "ready PID PORT"; wrk keeps it busy from the other CPU for the whole profile.
    : >"$dir/$label.out"
    taskset -c 1 "$build/corpus/$prog" >>"$dir/$label.out" &
    local target=$!
    pids+=($target)
    until grep -q '^ready' "$dir/$label.out"; do
      kill -0 "$target" 2>/dev/null || { echo "$prog exited before it was ready" >&2; exit 1; }
      sleep 0.05
    done
    local port
    read -r _ _ port <"$dir/$label.out"
    taskset -c 0 wrk -t1 -c8 -d$((secs + 2))s "http://127.0.0.1:$port/" >/dev/null &
    load=$!
    pids+=($load)
  else
    taskset -c 1 "$build/testprogs/$prog" 8 >/dev/null &
    local target=$!
    pids+=($target)
  fi
  sleep 0.3
  echo 1 > /proc/sys/kernel/bpf_stats_enabled
  read -r c0 t0 < <(run_stats)
  local args=("$@")
  [ "${args[0]:-}" = "PID" ] && args=(-p "$target" "${args[@]:1}")
  "$build/bin/scorch" --socket "$sock" profile "${args[@]}" -d "$secs" -F 999 -o "$dir/$label.folded" 2>/dev/null
  read -r c1 t1 < <(run_stats)
  echo 0 > /proc/sys/kernel/bpf_stats_enabled
  kill $load "$target" 2>/dev/null || true
  wait $load "$target" 2>/dev/null || true
  local frames
  frames=$(awk '{n=$NF; $NF=""; k=split($0, a, ";"); s+=n; f+=n*(k-1)} END{ if (s) printf "%.1f", f/s; else print 0 }' "$dir/$label.folded")
  local per=$(( (t1 - t0) / (c1 - c0) ))
  printf '| %s | %s | %s | %d | %d ns | %s |\n' "$round" "$label" "$prog" $((c1 - c0)) "$per" "$frames"
  echo "$label $prog $per $frames $((c1 - c0))" >> "$dir/all.txt"
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
  measure tables-svc_lld hello_svc_lld PID
  measure tables-svc_bfd hello_svc_bfd PID
done
median() {  # $1 label, $2 column of all.txt, $3 printf format: the median over the rounds
  awk -v l="$1" -v c="$2" '$1 == l {print $c}' "$dir/all.txt" | sort -g |
    awk -v f="$3" '{a[NR]=$1} END {printf f, (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
echo
echo "| mode | program | median BPF time per sample over $rounds rounds | all rounds | median samples | median frames per stack |"
echo "|---|---|---|---|---|---|"
for key in $(awk '!seen[$1]++ {print $1 ":" $2}' "$dir/all.txt"); do
  label=${key%%:*} prog=${key#*:}
  vals=$(awk -v l="$label" '$1 == l {print $3}' "$dir/all.txt" | sort -n)
  printf '| %s | %s | %s ns | %s | %s | %s |\n' "$label" "$prog" "$(median "$label" 3 %d)" "$(echo $vals | tr ' ' ',')" \
    "$(median "$label" 5 %d)" "$(median "$label" 4 %.1f)"
done
