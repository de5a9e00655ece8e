#pragma once
/// Options of the on-CPU measure (scorch profile): how often stacks are sampled.

#include <string>

#include "proto/measure_options.h"

namespace scorch::proto {

inline constexpr uint32_t kMaxFrequencyHz = 10000;
inline constexpr uint32_t kDefaultFrequencyHz = 99;

struct CpuOptions {
  uint32_t frequency_hz = kDefaultFrequencyHz;
  std::string event;    // the perf event sampled (proto/perf_events.h); empty: cpu-clock
  uint64_t period = 0;  // events per sample (-c); 0: frequency_hz samples per second
};

void encode_options(wire::Writer& w, const CpuOptions& o);
std::vector<uint8_t> encode(const CpuOptions& o);
/// Reads and checks what encode_options wrote (as part of a larger message too).
void read_options(wire::Reader& r, CpuOptions& o);
Result<CpuOptions> decode_cpu_options(std::span<const uint8_t> bytes);

}  // namespace scorch::proto
