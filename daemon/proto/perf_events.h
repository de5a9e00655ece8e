#pragma once
/// The perf events scorch knows by name, spelled as perf spells them (`perf list`): the CLI checks
/// names with it, the daemon opens them by its type and config.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace scorch::proto {

struct PerfEventDef {
  std::string_view name;  // "cache-misses"
  uint32_t type = 0;      // perf_event_attr.type: PERF_TYPE_HARDWARE, _SOFTWARE, _HW_CACHE
  uint64_t config = 0;
  bool time = false;       // counts nanoseconds (cpu-clock, task-clock): -F gives its period directly
  std::string_view about;  // one line for `scorch list`
};

/// Every event scorch knows, hardware ones first.
std::span<const PerfEventDef> perf_events();
std::optional<PerfEventDef> find_perf_event(std::string_view name);
/// "hardware", "software" or "hardware cache" for a PerfEventDef::type.
std::string_view perf_event_kind(uint32_t type);

}  // namespace scorch::proto
