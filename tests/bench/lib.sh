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

# bcc_kernel_headers: kernel headers for BCC's run-time compile. Uses BCC_KERNEL_SOURCE or
# /lib/modules/$(uname -r)/build when present; otherwise downloads Debian's newest generic amd64
# headers (linux-headers-<ver>-amd64 and -common), merges them under $CACHE once (default
# /var/cache/scorch-bench) and exports BCC_KERNEL_SOURCE. Needs WORK (a scratch directory).
# Sets BCC_HEADERS to what is used; on failure sets BCC_SKIP to the reason and returns 1.
bcc_kernel_headers() {
  local CACHE=${CACHE:-${BENCH_CACHE:-/var/cache/scorch-bench}}
  if [[ -n ${BCC_KERNEL_SOURCE:-} ]]; then
    [[ -d $BCC_KERNEL_SOURCE/include ]] || {
      BCC_SKIP="BCC_KERNEL_SOURCE=$BCC_KERNEL_SOURCE has no include/ directory"
      return 1
    }
    BCC_HEADERS="$BCC_KERNEL_SOURCE (from the environment)"
  elif [[ -d /lib/modules/$(uname -r)/build/include ]]; then
    BCC_HEADERS="/lib/modules/$(uname -r)/build"
  else
    # Debian's newest generic amd64 headers; the running kernel is not a Debian one.
    local pkg ver tree
    pkg=$(apt-cache search --names-only '^linux-headers-[0-9.]+\+deb[0-9]+-amd64$' 2>/dev/null | awk '{ print $1 }' | sort -V | tail -1)
    if [[ -z $pkg ]]; then
      if [[ ${BENCH_NO_INSTALL:-0} != 1 ]]; then
        apt-get update >"$WORK/apt-update.log" 2>&1
        pkg=$(apt-cache search --names-only '^linux-headers-[0-9.]+\+deb[0-9]+-amd64$' 2>/dev/null | awk '{ print $1 }' | sort -V | tail -1)
      fi
    fi
    ver=${pkg#linux-headers-}
    ver=${ver%-amd64}
    tree=$CACHE/linux-headers-$ver-merged
    if [[ -z $pkg ]]; then
      # No package list: fall back to any tree cached by an earlier run.
      tree=$(ls -d "$CACHE"/linux-headers-*-merged 2>/dev/null | sort -V | tail -1)
      if [[ -z $tree || ! -e $tree/.complete ]]; then
        BCC_SKIP="no kernel headers for BCC: none installed for $(uname -r), no linux-headers-*-amd64 in apt-cache (apt-get update?), none cached in $CACHE"
        return 1
      fi
    elif [[ ! -e $tree/.complete ]]; then
      if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
        BCC_SKIP="no kernel headers for BCC and BENCH_NO_INSTALL=1 (would download $pkg and linux-headers-$ver-common into $tree)"
        return 1
      fi
      say "preparing kernel headers for BCC: $pkg + linux-headers-$ver-common -> $tree"
      local dl=$WORK/headers-dl
      mkdir -p "$dl/x" "$CACHE" || {
        BCC_SKIP="cannot create $CACHE"
        return 1
      }
      if ! (cd "$dl" && apt-get download "$pkg" "linux-headers-$ver-common") >"$WORK/apt-headers.log" 2>&1; then
        BCC_SKIP="apt-get download $pkg linux-headers-$ver-common failed (see $WORK/apt-headers.log)"
        return 1
      fi
      local deb
      for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dl/x" || {
        BCC_SKIP="dpkg-deb -x $deb failed"
        return 1
      }; done
      rm -rf "$tree.tmp" && mkdir -p "$tree.tmp"
      # The -common package has the sources' include/ and arch/*/include; the -amd64 one adds the
      # generated headers and .config of that build. Their scripts/ and tools/ are symlinks into
      # linux-kbuild, which BCC does not need.
      cp -a "$dl/x/usr/src/linux-headers-$ver-common/." "$tree.tmp/" &&
        cp -a "$dl/x/usr/src/linux-headers-$ver-amd64/." "$tree.tmp/" || {
        BCC_SKIP="merging the header trees into $tree.tmp failed"
        return 1
      }
      rm -rf "$tree" && mv "$tree.tmp" "$tree" && echo "$pkg" >"$tree/.complete"
    fi
    export BCC_KERNEL_SOURCE=$tree
    BCC_HEADERS="$tree (Debian $(cat "$tree/.complete"), merged with -common)"
  fi

  return 0
}

# median of the arguments (decimal seconds), printed with 3 decimals
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

# ---------------------------------------------------------------------------------------------
# cleanup: every process started here is recorded in STARTED and ended on exit (a script sets
# `trap cleanup EXIT`); mounts in MOUNTED are undone; WORK is removed unless BENCH_KEEP=1

STARTED=()
WORK=""
MOUNTED=()
GO_FD=""
cleanup() {
  local pid
  [[ -n $GO_FD ]] && { exec {GO_FD}>&- || true; } 2>/dev/null
  for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && kill -INT "$pid" 2>/dev/null; done
  for pid in "${STARTED[@]}"; do
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    sleep 0.1
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null || true
  local m
  for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null || say "could not unmount $m (in use?)"; done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  fi
}

# Waits up to $2 s for PID $1 to end (after it was asked to); then TERM, then KILL.
wait_or_kill() {
  local pid=$1 limit_us=$(($2 * 1000000)) start
  start=$(now_us)
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_us) - start > limit_us)); then
      say "PID $pid still running after $2 s: killing it"
      kill -TERM "$pid" 2>/dev/null || true
      sleep 1
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
}

# has PATTERN FILE...: the files (which may not exist yet) have a line matching PATTERN
has() {
  local pat=$1
  shift
  grep -qE "$pat" "$@" 2>/dev/null
}

# wait_for SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds; fails after SECONDS
wait_for() {
  local limit_us=$(($1 * 1000000)) start
  shift
  start=$(now_us)
  until "$@"; do
    (($(now_us) - start > limit_us)) && return 1
    sleep 0.02
  done
}

# Sets BPFTRACE_SKIP to why bpftrace will not run, or to "" when it will: skipped with
# BENCH_NO_BPFTRACE=1, else installed from Debian unless BENCH_NO_INSTALL=1.
find_bpftrace() {
  BPFTRACE_SKIP=""
  if [[ ${BENCH_NO_BPFTRACE:-0} == 1 ]]; then
    BPFTRACE_SKIP="skipped (BENCH_NO_BPFTRACE=1)"
  elif ! command -v bpftrace >/dev/null; then
    if [[ ${BENCH_NO_INSTALL:-0} == 1 ]]; then
      BPFTRACE_SKIP="bpftrace is not installed (apt-get install bpftrace)"
    else
      say "installing bpftrace"
      DEBIAN_FRONTEND=noninteractive apt-get install -y bpftrace >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y bpftrace >/dev/null 2>&1; } ||
        true
      command -v bpftrace >/dev/null || BPFTRACE_SKIP="bpftrace is not installed and apt-get install bpftrace failed"
    fi
  fi
}
