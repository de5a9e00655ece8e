#pragma once
/// Options of the wall-clock measure (scorch profile --wall): on-CPU sampling plus off-CPU time.

#include "proto/cpu_options.h"
#include "proto/offcpu_options.h"

namespace scorch::proto {

struct WallOptions {
  CpuOptions cpu;
  OffCpuOptions offcpu;
};

std::vector<uint8_t> encode(const WallOptions& o);
Result<WallOptions> decode_wall_options(std::span<const uint8_t> bytes);

}  // namespace scorch::proto
