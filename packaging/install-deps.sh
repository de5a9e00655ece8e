#!/usr/bin/env bash
# Installs everything scorch needs to build, run and test, from Debian 12 (bookworm) packages only.
#   packaging/install-deps.sh          build + run dependencies
#   packaging/install-deps.sh --test   also what the test suite and benchmarks use
set -euo pipefail

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "scorch: failed to install dependencies: must run as root" >&2
  echo "HINT: sudo $0 $*" >&2
  exit 1
fi

build_pkgs=(
  cmake ninja-build g++ pkg-config make
  clang llvm                      # BPF target (clang 14 on bookworm)
  bpftool libbpf-dev              # skeletons, libbpf 1.1
  libelf-dev zlib1g-dev           # ELF symbol tables
  libdw-dev                       # CFI reader for unwind tables (elfutils)
  libiberty-dev                   # the GNU demangler (C++, Rust legacy and v0)
  liblzma-dev xz-utils            # MiniDebugInfo (.gnu_debugdata) is xz-compressed
  libdebuginfod-dev               # scorchd --debuginfod (off by default)
  libboost-dev                    # Asio (header-only in 1.74)
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev
  libxml2-utils                   # xmllint: SVG must be well-formed XML
  libclang-rt-14-dev              # libFuzzer + sanitizers for tests/fuzz
  chromium                        # headless: the SVG must open in a browser
  util-linux procps               # setpriv for the non-root tests, ps
  rustc                           # a Rust release binary for the unwinding tests (1.63)
  debuginfod                      # a local debuginfod server for the --debuginfod test
  libjemalloc-dev                 # the malloc tests' program linked against jemalloc
  libgoogle-perftools-dev         # ... and against tcmalloc
  linux-perf                      # the oracle for stacks (tests/stacks/compare.sh)
  lld mold                        # LLD- and mold-linked programs and fixtures (p_vaddr != p_offset): unwinding tests, stacks corpus
  golang-go                       # the stacks corpus: a Go program (built offline)
  cargo librust-hyper-dev librust-tokio-dev   # ... a hyper/tokio server (offline, /usr/share/cargo/registry)
  wrk                             # ... and its load over loopback
)

pkgs=("${build_pkgs[@]}")
if [ "$want_test" -eq 1 ]; then
  pkgs+=("${test_pkgs[@]}")
  # The JIT symbolization test runs the machine's node; Debian's nodejs where there is none.
  command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || pkgs+=(nodejs)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "scorch: dependencies installed (${#missing[@]} new packages)"
