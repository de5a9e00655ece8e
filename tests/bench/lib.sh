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

# ---------------------------------------------------------------------------------------------
# set-up shared by the *_vs_peers scripts

# bench_settings [BUILD_DIR]: the settings every such script has. Needs ROOT (the repository).
# Sets BUILD (BUILD_DIR, default $ROOT/build; absolute when it exists), SCORCHD and SCORCH (the
# daemon and the CLI in it), RUNS (BENCH_RUNS, default 5) and SETTLE_MS (BENCH_SETTLE_MS, default
# 300).
bench_settings() {
  BUILD=${1:-$ROOT/build}
  BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
  RUNS=${BENCH_RUNS:-5}
  SETTLE_MS=${BENCH_SETTLE_MS:-300}
  SCORCHD=$BUILD/bin/scorchd
  SCORCH=$BUILD/bin/scorch
}

# check_prereqs: dies unless the script runs as root and finds SCORCHD, SCORCH and a C compiler.
check_prereqs() {
  [[ $(id -u) == 0 ]] || die "run as root (the tracers load BPF programs)"
  [[ -x $SCORCHD && -x $SCORCH ]] || die "no $SCORCHD / $SCORCH: build them (ninja -C $BUILD scorchd scorch)"
  command -v cc >/dev/null || die "no C compiler (apt-get install gcc)"
}

# mount_if_absent TYPE DIR: mounts a TYPE file system (tracefs, debugfs) on DIR unless something
# is mounted there; what it mounts is added to MOUNTED (undone by cleanup). A failed mount is
# silent.
mount_if_absent() {
  if ! mountpoint -q "$2"; then
    mount -t "$1" nodev "$2" 2>/dev/null && MOUNTED+=("$2")
  fi
  return 0
}

# start_scorchd: starts SCORCHD on the socket SOCK, its stderr in $WORK/scorchd.log, and waits
# up to 30 s until it is listening (dies if not). Sets SCORCHD_PID (also added to STARTED).
start_scorchd() {
  "$SCORCHD" --socket "$SOCK" 2>"$WORK/scorchd.log" &
  SCORCHD_PID=$!
  STARTED+=("$SCORCHD_PID")
  wait_for 30 has listening "$WORK/scorchd.log" || die "scorchd did not start: $(tail -3 "$WORK/scorchd.log")"
}

# scorch_sessions: prints how many sessions the scorchd on SOCK runs; scorch_attached and
# scorch_idle: it runs at least one / none
scorch_sessions() { "$SCORCH" --socket "$SOCK" -j status 2>/dev/null | grep -o '"sessions":\[[^]]*\]' | grep -c '"id"' || true; }
scorch_attached() { [[ $(scorch_sessions) -ge 1 ]]; }
scorch_idle() { [[ $(scorch_sessions) -eq 0 ]]; }

# ---------------------------------------------------------------------------------------------
# a load that waits for "go" on its stdin, and the tracers attached to it

# settle: sleeps SETTLE_MS milliseconds (between "tracer attached" and the start of the loop)
settle() { sleep "$(awk -v m="$SETTLE_MS" 'BEGIN { printf "%.3f", m / 1000 }')"; }

# start_load NAME FIFO OUT COMMAND...: makes the FIFO and starts COMMAND in the background with
# its stdin on FIFO and its stdout in OUT; opens FIFO for writing as GO_FD and waits up to 10 s
# for a line "ready <pid> ..." in OUT (dies with "NAME did not get ready" if none comes). Sets
# LOAD_PID (COMMAND's pid, also added to STARTED), LOAD_FIFO, LOAD_OUT and READY_PID (the pid on
# the ready line).
start_load() {
  local name=$1
  LOAD_FIFO=$2
  LOAD_OUT=$3
  shift 3
  mkfifo "$LOAD_FIFO"
  "$@" <"$LOAD_FIFO" >"$LOAD_OUT" &
  LOAD_PID=$!
  STARTED+=("$LOAD_PID")
  exec {GO_FD}>"$LOAD_FIFO"
  wait_for 10 has '^ready ' "$LOAD_OUT" || die "$name did not get ready"
  READY_PID=$(awk '/^ready /{ print $2 }' "$LOAD_OUT")
}

# release_load NAME WHAT: lets the load of start_load run: settles, writes "go" to GO_FD, closes
# it (GO_FD becomes "") and waits for LOAD_PID (dies with "NAME failed (WHAT): <its output>" if it
# fails); then removes LOAD_FIFO.
release_load() {
  settle
  echo go >&"$GO_FD"
  exec {GO_FD}>&-
  GO_FD=""
  wait "$LOAD_PID" || die "$1 failed ($2): $(cat "$LOAD_OUT")"
  rm -f "$LOAD_FIFO"
}

# load_elapsed NAME WHAT: sets LOAD_ELAPSED to the value of the line elapsed_s=... in LOAD_OUT;
# dies with "no elapsed_s from NAME (WHAT)" if there is none.
load_elapsed() {
  LOAD_ELAPSED=$(awk -F= '/^elapsed_s=/{ print $2 }' "$LOAD_OUT")
  [[ -n $LOAD_ELAPSED ]] || die "no elapsed_s from $1 ($2)"
}

# start_tracer OUT ERR COMMAND...: starts COMMAND in the background, its stdout in OUT and its
# stderr in ERR. Sets TRACER_PID (also added to STARTED).
start_tracer() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" &
  TRACER_PID=$!
  STARTED+=("$TRACER_PID")
}

# start_bpftrace OUT ERR ARGS...: start_tracer of bpftrace ARGS..., then waits up to 60 s until
# it prints Attaching (dies if not). Sets TRACER_PID.
start_bpftrace() {
  start_tracer "$1" "$2" bpftrace "${@:3}"
  wait_for 60 has Attaching "$1" "$2" || die "bpftrace did not attach: $(tail -3 "$2")"
}

# start_perf OUT ERR ARGS...: start_tracer of perf ARGS..., then waits 1 s (perf says nothing
# when it is attached). Sets TRACER_PID.
start_perf() {
  start_tracer "$1" "$2" perf "${@:3}"
  sleep 1
}

# start_scorch ERR COMMAND ARGS...: starts scorch --socket SOCK COMMAND ARGS... in the background
# (stdout not redirected, stderr in ERR) and waits up to 15 s until scorchd lists a session (dies
# with "scorch COMMAND did not start" if not). Sets TRACER_PID (also added to STARTED).
start_scorch() {
  local err=$1
  shift
  "$SCORCH" --socket "$SOCK" "$@" 2>"$err" &
  TRACER_PID=$!
  STARTED+=("$TRACER_PID")
  wait_for 15 scorch_attached || die "scorch $1 did not start: $(tail -2 "$err")"
}

# stop_tracer PID: unless PID is empty, sends it SIGINT and waits up to 60 s for it to end
# (wait_or_kill).
stop_tracer() {
  [[ -n $1 ]] || return 0
  kill -INT "$1" 2>/dev/null || true
  wait_or_kill "$1" 60
}

# run_rounds FUNCTION ITEM...: RUNS rounds, each calling FUNCTION ITEM ITEM.ROUND once for every
# ITEM (ROUND counts from 0), in an order rotated by one item from a round to the next (the
# machine's speed drifts: every item gets every place in turn)
run_rounds() {
  local fn=$1 r i item
  shift
  local -a items=("$@")
  local n=${#items[@]}
  for ((r = 0; r < RUNS; r++)); do
    for ((i = 0; i < n; i++)); do
      item=${items[$(((i + r) % n))]}
      "$fn" "$item" "$item.$r"
    done
  done
}

# busy_processes: the processes using 5% of a CPU or more now, as "comm(pid) N%, ..."
busy_processes() { ps -eo pcpu=,pid=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s(%s) %s%%", sep, $3, $2, $1; sep = ", " }'; }
# cpu_ticks: the whole machine's busy and idle jiffies so far, "BUSY IDLE" (/proc/stat)
cpu_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat; }
# machine_before and machine_after: the machine around the timed runs, for the report. before sets
# LOAD_BEFORE (load average), BUSY_BEFORE (busy_processes) and STAT0; after sets LOAD_AFTER,
# BUSY_AFTER and BUSY_PCT, the whole machine's CPU busy in between (the benchmark's own load included)
machine_before() {
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  BUSY_BEFORE=$(busy_processes)
  STAT0=$(cpu_ticks)
}
machine_after() {
  LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
  BUSY_AFTER=$(busy_processes)
  local stat1
  stat1=$(cpu_ticks)
  BUSY_PCT=$(awk -v a="$STAT0" -v b="$stat1" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]; if (busy + idle > 0) printf "%.0f", 100 * busy / (busy + idle); else print "?" }')
}

# spread VALUE...: "min-max" of the values with three decimals; "-" for none
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.3f-%.3f", lo, hi; else print "-" }'; }
# paired "A..." "B...": the median over rounds of a[r] / b[r], two decimals
paired() {
  local -a a b
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  local k out=()
  for ((k = 0; k < ${#a[@]} && k < ${#b[@]}; k++)); do out+=("$(ratio "${a[k]}" "${b[k]}")"); done
  median "${out[@]}" | awk '{ printf "%.2f", $1 }'
}

# interleaved_runs RESET ITEM...: for each ITEM (a load, its modes listed in MODES_OF[ITEM]) one
# untimed bare warm-up, `run_one ITEM bare ITEM.warmup`, after which `RESET ITEM` forgets what that
# recorded; then every ITEM.MODE in rounds (run_rounds, calling run_one ITEM MODE TAG). Holds
# /tmp/bench-running meanwhile (RUNNING_FLAG names it, for the script's cleanup to remove); sets T0
# and T1, the microsecond clock around the timed rounds
interleaved_runs() {
  local reset=$1 item m
  shift
  RUNNING_FLAG=/tmp/bench-running
  touch "$RUNNING_FLAG"
  local -a jobs=()
  for item in "$@"; do
    [[ -n ${MODES_OF[$item]:-} ]] || die "unknown load $item"
    run_one "$item" bare "$item.warmup" >/dev/null
    "$reset" "$item"
    for m in ${MODES_OF[$item]}; do jobs+=("$item.$m"); done
  done
  T0=$(now_us)
  run_rounds interleaved_job "${jobs[@]}"
  T1=$(now_us)
  rm -f "$RUNNING_FLAG"
  RUNNING_FLAG=""
}
# interleaved_job ITEM.MODE TAG: run_one ITEM MODE TAG
interleaved_job() { run_one "${1%%.*}" "${1#*.}" "$2"; }
