#pragma once
/// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns, so daemon and BPF timestamps compare.

#include <time.h>

#include <cstdint>

namespace scorch {

inline uint64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_nsec);
}

}  // namespace scorch
