#pragma once
/// Profile: a symbolized, aggregated set of stacks as the daemon sends it and every exporter reads it.

#include <cstdint>
#include <string>
#include <vector>

namespace scorch {

/// One frame of a stack, already symbolized ("main", "libc.so.6+0x2a1c0", "schedule").
struct Frame {
  std::string name;
  bool kernel = false;  // kernel frames are suffixed "_[k]" in folded output
};

/// One distinct stack of one process and how often (or how much) it was seen.
struct StackCount {
  uint32_t pid = 0;
  std::string comm;           // process/thread name at sample time
  std::vector<Frame> frames;  // outermost (root) first, leaf last
  uint64_t count = 0;         // samples (on-CPU); other measures say their unit in Profile::unit
  std::vector<uint64_t> values;  // one per Profile::value_names (malloc: calls, bytes, ...); may be empty
};

/// Counters of what was lost, from the kernel and the daemon, over the profile's lifetime.
struct DropCounters {
  uint64_t samples = 0;           // samples the BPF program saw for the profiled processes
  uint64_t stack_collisions = 0;  // stack-map bucket held another stack (-EEXIST)
  uint64_t stack_errors = 0;      // other stack walk failures (-EFAULT, ...)
  uint64_t map_full = 0;          // counts map full: sample not recorded
  uint64_t lost_stacks = 0;       // stack id gone before the daemon could read it
};

/// A finished profile: what was measured, over which processes, and the stacks.
struct Profile {
  std::string measure = "cpu";    // "cpu" for sampled on-CPU stacks
  std::string unit = "samples";   // unit of StackCount::count
  uint64_t period_ns = 0;         // time one sample stands for (0 when not sampled)
  uint64_t duration_ns = 0;       // how long the profile ran
  std::vector<uint32_t> pids;     // empty: whole system
  std::vector<StackCount> stacks;
  DropCounters drops;
  std::vector<std::string> notes;  // things the user should know (process exited, ...)
  std::vector<std::string> value_names;  // what StackCount::values hold ("calls", "bytes", ...)

  uint64_t total() const {
    uint64_t t = 0;
    for (const auto& s : stacks) t += s.count;
    return t;
  }
};

}  // namespace scorch
