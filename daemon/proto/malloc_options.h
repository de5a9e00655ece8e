#pragma once
/// Options of the malloc measure (scorch malloc): count, sample or track live blocks.

#include "proto/measure_options.h"

namespace scorch::proto {

inline constexpr uint64_t kMaxSampleBytes = (1ull << 24) - 1;  // the BPF side keeps 24 bits of it
inline constexpr uint32_t kMaxDutyPermille = 1000;

struct MallocOptions {
  bool outstanding = false;    // live blocks at the end, by allocating stack
  uint64_t min_age_ns = 0;     // outstanding: only blocks at least this old
  uint64_t sample_bytes = 0;   // 0: every call; else one sample per this many bytes on average
  uint32_t duty_permille = 0;  // 0: probes always attached; else the share of time they are
  bool weight_calls = false;   // flamegraph width: calls instead of bytes
};

std::vector<uint8_t> encode(const MallocOptions& o);
Result<MallocOptions> decode_malloc_options(std::span<const uint8_t> bytes);

}  // namespace scorch::proto
