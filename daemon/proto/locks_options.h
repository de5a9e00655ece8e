#pragma once
/// Options of the lock-contention measure (scorch locks): which locks, which waits, which view.

#include "proto/measure_options.h"

namespace scorch::proto {

struct LocksOptions {
  uint64_t min_wait_ns = 0;  // shorter waits are not counted (filtered in the kernel)
  bool kernel = false;       // kernel locks (lock:contention_begin/end) instead of futex waits
  bool holders = false;      // stacks are the releasers', weighted by the waits they ended
};

std::vector<uint8_t> encode(const LocksOptions& o);
Result<LocksOptions> decode_locks_options(std::span<const uint8_t> bytes);

}  // namespace scorch::proto
