#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 20).
#   bash tests/fuzz/run.sh [SECONDS] [WORK_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-20}
work=${2:-$root/build/fuzz}
mkdir -p "$work"
cxx=$(command -v clang++-14 || command -v clang++)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/daemon")

# The protocol and every measure's options codec (daemon/proto/*.cpp).
"$cxx" "${flags[@]}" -o "$work/protocol_fuzz" "$root/tests/fuzz/protocol_fuzz.cpp" "$root"/daemon/proto/*.cpp
"$cxx" "${flags[@]}" -o "$work/text_parsers_fuzz" "$root/tests/fuzz/text_parsers_fuzz.cpp" \
  "$root/daemon/export/folded.cpp" "$root/daemon/export/utf8.cpp" \
  "$root/daemon/symbolize/proc_maps.cpp" "$root/daemon/symbolize/kallsyms.cpp" "$root/daemon/common/safe_file.cpp" \
  "$root/daemon/common/proc_status.cpp"

for target in protocol_fuzz text_parsers_fuzz; do
  corpus="$work/corpus-$target"
  mkdir -p "$corpus"
  echo "fuzzing $target for ${seconds}s"
  "$work/$target" -max_total_time="$seconds" -max_len=65536 -print_final_stats=0 "$corpus" 2>"$work/$target.log" || {
    tail -40 "$work/$target.log"
    echo "fuzz: $target found a crash (see $work/$target.log)" >&2
    exit 1
  }
  grep -E "^#[0-9]+.*DONE" "$work/$target.log" | tail -1 || true
done
echo "fuzz: no crashes"
