#pragma once
/// JIT symbol maps in the perf-map format (/tmp/perf-PID.map, written by Node.js
/// --perf-basic-prof, JVM agents, ...): "START SIZE name" per line, hex addresses.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scorch {

struct PerfMapEntry {
  uint64_t start = 0;
  uint64_t size = 0;
  std::string name;
};

/// The entries of a perf map, sorted by start; malformed lines are skipped. A later entry for the
/// same start replaces an earlier one (JITs re-emit code at reused addresses). At most max_entries
/// lines are taken (the first ones), so a huge map cannot take the daemon's memory.
std::vector<PerfMapEntry> parse_perf_map(std::string_view text, size_t max_entries = SIZE_MAX);

/// The entry with start <= ip < start + size, or nullptr.
const PerfMapEntry* find_perf_map_entry(const std::vector<PerfMapEntry>& entries, uint64_t ip);

/// The pid a process sees for itself, innermost namespace first in /proc/PID/status' NStgid line:
/// the PID in the name /tmp/perf-PID.map that process writes. pid itself when there is no line.
uint32_t namespace_pid(uint32_t pid);

}  // namespace scorch
