#pragma once
/// Options of the off-CPU measure (scorch offcpu): which blocks count and which stacks are taken.

#include <string_view>

#include "proto/measure_options.h"

namespace scorch::proto {

inline constexpr uint32_t kAllStates = 0xf;
inline constexpr uint8_t kUserStack = 1, kKernelStack = 2, kBothStacks = 3;

struct OffCpuOptions {
  // Blocks kept: min <= duration <= max, their state's bit in the mask.
  uint64_t min_block_ns = 0;
  uint64_t max_block_ns = UINT64_MAX;
  uint32_t states = kAllStates;
  bool by_state = false;         // the thread state as the root frame
  uint8_t stacks = kBothStacks;  // which stacks to take
};

void encode_options(wire::Writer& w, const OffCpuOptions& o);
std::vector<uint8_t> encode(const OffCpuOptions& o);
void read_options(wire::Reader& r, OffCpuOptions& o);
Result<OffCpuOptions> decode_offcpu_options(std::span<const uint8_t> bytes);

/// Off-CPU thread states by number (the BPF side's order): "preempted", "sleep", "disk", "other".
const char* offcpu_state_name(uint32_t state);
/// Parses a comma-separated list of state names ("all" too) into a mask; an error names the bad word.
Result<uint32_t> parse_offcpu_states(std::string_view list);

}  // namespace scorch::proto
