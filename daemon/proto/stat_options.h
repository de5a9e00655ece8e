#pragma once
/// Options of the counting measure (scorch stat, scorch llc): which perf events to count.

#include <string>
#include <vector>

#include "proto/measure_options.h"

namespace scorch::proto {

inline constexpr uint32_t kMaxStatEvents = 16;

struct StatOptions {
  std::vector<std::string> events;  // perf's names (proto/perf_events.h); at least one
  /// What the counting is for, in errors ("count LLC misses"); empty: "count <events>".
  std::string purpose;
  /// Counts per thread (scorch stat -T), not per process.
  bool per_thread = false;
};

std::vector<uint8_t> encode(const StatOptions& o);
/// Refuses unknown or repeated event names, and more than kMaxStatEvents.
Result<StatOptions> decode_stat_options(std::span<const uint8_t> bytes);

}  // namespace scorch::proto
