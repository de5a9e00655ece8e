#pragma once
/// The .bss copy of a program's filter (see bpf/filter_table.h): an open-addressing table the BPF program
/// reads without a hash-map lookup. Built here, checked by the same probe sequence as the BPF side.

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "filter_table.h"

namespace scorch {

using FastFilterTable = std::array<uint64_t, SCORCH_FAST_SLOTS>;

inline uint64_t fast_filter_key(uint32_t tgid, uint32_t sampler) { return (uint64_t{tgid} << 32) | sampler; }

/// Places every {tgid, sampler id} within SCORCH_FAST_PROBES slots of its home; false when one does
/// not fit (or has a zero half, which no sampler id or pid is): the program must then use the hash map.
inline bool build_fast_filter(const std::vector<std::pair<uint32_t, uint32_t>>& keys, FastFilterTable& table) {
  table.fill(0);
  if (keys.size() > SCORCH_FAST_SLOTS / 2) return false;
  for (const auto& [tgid, sampler] : keys) {
    if (sampler == 0 || tgid == 0) return false;
    uint32_t home = scorch_fast_slot(tgid, sampler);
    bool placed = false;
    for (uint32_t i = 0; i < SCORCH_FAST_PROBES && !placed; ++i) {
      uint64_t& slot = table[(home + i) & (SCORCH_FAST_SLOTS - 1)];
      if (slot == 0) {
        slot = fast_filter_key(tgid, sampler);
        placed = true;
      }
    }
    if (!placed) return false;
  }
  return true;
}

/// The BPF program's lookup, for tests.
inline bool fast_filter_has(const FastFilterTable& table, uint32_t tgid, uint32_t sampler) {
  uint64_t key = fast_filter_key(tgid, sampler);
  uint32_t home = scorch_fast_slot(tgid, sampler);
  for (uint32_t i = 0; i < SCORCH_FAST_PROBES; ++i) {
    uint64_t v = table[(home + i) & (SCORCH_FAST_SLOTS - 1)];
    if (v == key) return true;
    if (v == 0) return false;
  }
  return false;
}

}  // namespace scorch
