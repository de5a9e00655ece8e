# Shared helpers of the benchmark scripts: source after setting BENCH_NAME.
say() { printf '%s\n' "$BENCH_NAME: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}
# Monotonic-enough wall clock in microseconds, without forking.
now_us() {
  local t=$EPOCHREALTIME
  echo $((10#${t/./}))
}
