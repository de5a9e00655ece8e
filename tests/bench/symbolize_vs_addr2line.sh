#!/usr/bin/env bash
# Symbolization of a live process mapping >= 40 libraries (headless Chromium): scorch's cold and
# warm figures (scorch_bench_symbolize) against addr2line -f -C and eu-addr2line on the same
# addresses. Root; builds the benchmark into BUILD_DIR with -DSCORCH_BUILD_BENCH=ON first.
#   bash tests/bench/symbolize_vs_addr2line.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$ROOT/build-bench}
BENCH_NAME=symbolize_vs_addr2line
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
dir=$(mktemp -d /tmp/scorch-symb.XXXXXX)
browser=""
cleanup() {
  [ -n "$browser" ] && kill "$browser" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

if [ -z "${BENCH_NO_INSTALL:-}" ] && ! command -v eu-addr2line >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends elfutils >/dev/null
fi
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCORCH_BUILD_BENCH=ON >/dev/null
ninja -C "$BUILD" scorch_bench_symbolize >/dev/null

chromium --headless --no-sandbox --disable-gpu --remote-debugging-port=0 about:blank >/dev/null 2>&1 &
browser=$!
sleep 4
pid=$(pgrep -o -f "chromium.*headless")
say "target: headless Chromium pid $pid, $(grep -c ' r-xp ' /proc/$pid/maps) executable mappings"

for run in 1 2 3; do
  echo "scorch run $run:"
  "$BUILD/bench/scorch_bench_symbolize" "$pid" "$dir" | sed 's/^/  /'
done
echo "scorch run 4, page cache dropped first:"
SCORCH_BENCH_DROP_CACHES=1 "$BUILD/bench/scorch_bench_symbolize" "$pid" "$dir" | sed 's/^/  /'

# addr2line: one process per file, all its addresses at once (its best case).
t0=$(now_us)
awk '{print $1}' "$dir/addrs.txt" | sort -u | while read -r file; do
  awk -v f="$file" '$1 == f {print $2}' "$dir/addrs.txt" | addr2line -f -C -e "/proc/$pid/root$file" >/dev/null
done
t1=$(now_us)
n=$(wc -l <"$dir/addrs.txt")
echo "addr2line -f -C -e FILE (one run per file): $n addresses in $(( (t1 - t0) / 1000 )) ms = $(awk -v n="$n" -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (t / 1e6) }') lookups/s"
if command -v eu-addr2line >/dev/null; then
  t0=$(now_us)
  sed 's/^/0x/' "$dir/ips.txt" | eu-addr2line -f --pid="$pid" >/dev/null 2>&1 || true
  t1=$(now_us)
  echo "eu-addr2line -f --pid (one run, all addresses on stdin): $n addresses in $(( (t1 - t0) / 1000 )) ms = $(awk -v n="$n" -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (t / 1e6) }') lookups/s"
else
  echo "eu-addr2line: not installed (BENCH_NO_INSTALL set)"
fi
