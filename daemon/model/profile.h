#pragma once
/// The profile model every layer shares (probes, sessions, the protocol, exporters, the CLI): a
/// symbolized, aggregated set of stacks with values in units, the log2 histograms and tables a
/// measure adds, and what was lost, by name.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
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
  std::string comm;              // process/thread name at sample time
  std::vector<Frame> frames;     // outermost (root) first, leaf last
  uint64_t count = 0;            // samples (on-CPU); other measures say their unit in Profile::unit
  std::vector<uint64_t> values;  // one per Profile::value_names (malloc: calls, bytes, ...); may be empty
};

/// One counter of what was lost, by name ("stack_collisions", "map_full", ...): each measure
/// reports its own.
struct Drop {
  std::string name;  // snake_case; shown with spaces ("map full")
  uint64_t count = 0;
};

/// A counter's name as people read it: "map_full" -> "map full".
inline std::string drop_label(std::string_view name) {
  std::string s(name);
  for (char& c : s)
    if (c == '_') c = ' ';
  return s;
}

/// What a profile lost, from the kernel and the daemon, over its lifetime, by name.
struct DropCounters {
  uint64_t samples = 0;      // events the measure saw for the profiled processes (not a drop)
  std::vector<Drop> counts;  // in the order the measure added them

  /// Adds n to the counter of this name (creating it, even at 0, so a profile lists what it counts).
  void add(std::string_view name, uint64_t n) {
    for (auto& d : counts)
      if (d.name == name) {
        d.count += n;
        return;
      }
    counts.push_back(Drop{std::string(name), n});
  }
  uint64_t get(std::string_view name) const {
    for (const auto& d : counts)
      if (d.name == name) return d.count;
    return 0;
  }
  /// Everything lost, over every counter.
  uint64_t lost() const {
    uint64_t t = 0;
    for (const auto& d : counts) t += d.count;
    return t;
  }
  /// Adds every counter of other (and its samples) to these.
  void merge(const DropCounters& other) {
    samples += other.samples;
    for (const auto& d : other.counts) add(d.name, d.count);
  }
  /// These minus what was counted at an earlier point (counters only grow).
  DropCounters since(const DropCounters& earlier) const {
    DropCounters d;
    d.samples = samples - earlier.samples;
    for (const auto& c : counts) d.counts.push_back(Drop{c.name, c.count - earlier.get(c.name)});
    return d;
  }
};

/// A log2 histogram of some value the measure saw (a lock's wait times, ...): counts[i] is how many
/// values fell in [2^i, 2^(i+1)), and counts[0] also holds the zeros, so bucket 0 is [0, 2).
struct Histogram {
  static constexpr size_t kMaxBuckets = 64;  // enough for any uint64_t value

  std::string label;             // what it is of, e.g. "lock mutex_a (0x55..)"
  std::string unit;              // of the bucket bounds, e.g. "ns"
  std::vector<uint64_t> counts;  // at most kMaxBuckets; trailing empty buckets may be left out

  /// The bucket a value falls in: floor(log2(value)), 0 for 0 and 1.
  static size_t bucket_of(uint64_t value) {
    size_t b = 0;
    while (value > 1) {
      value >>= 1;
      ++b;
    }
    return b;
  }
  /// Counts n values of this size (growing counts as far as its bucket).
  void add(uint64_t value, uint64_t n = 1) {
    const size_t b = bucket_of(value);
    if (counts.size() <= b) counts.resize(b + 1, 0);
    counts[b] += n;
  }
  uint64_t total() const {
    uint64_t t = 0;
    for (uint64_t c : counts) t += c;
    return t;
  }
};

/// A table a measure adds beside its stacks (the threads that held the locks others waited on,
/// counts per process, ...): named columns and rows of cells. A numeric column's cells are
/// decimal numbers written as text ("1234", "12.5"), so counts keep every digit.
struct Table {
  struct Column {
    std::string name;  // snake_case, as value_names ("waited_us", "holder")
    bool numeric = false;
    bool operator==(const Column&) const = default;
  };
  std::string title;  // what the rows are ("top holders: ...")
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;  // each with one cell per column

  /// What a numeric cell must be: an optional '-', digits without a leading zero, and at most one
  /// '.' between digits (a JSON number without exponent).
  static bool is_number(std::string_view cell) {
    if (!cell.empty() && cell.front() == '-') cell.remove_prefix(1);
    if (cell.empty() || cell.front() == '.' || cell.back() == '.') return false;
    if (cell.size() > 1 && cell[0] == '0' && cell[1] != '.') return false;
    bool dot = false;
    for (char c : cell) {
      if (c == '.' && !dot)
        dot = true;
      else if (c < '0' || c > '9')
        return false;
    }
    return true;
  }
};

/// A finished profile: what was measured, over which processes, and the stacks.
struct Profile {
  std::string measure = "cpu";   // "cpu" for sampled on-CPU stacks
  std::string unit = "samples";  // unit of StackCount::count
  uint64_t period_ns = 0;        // time one sample stands for (0 when not sampled)
  uint64_t duration_ns = 0;      // how long the profile ran
  std::vector<uint32_t> pids;    // empty: whole system
  std::vector<StackCount> stacks;
  DropCounters drops;
  std::vector<std::string> notes;        // things the user should know (process exited, ...)
  std::vector<std::string> value_names;  // what StackCount::values hold ("calls", "bytes", ...)
  std::vector<Histogram> histograms;     // the measure's own distributions, if any (lock waits, ...)
  std::vector<Table> tables;             // the measure's own tables, if any (lock holders, ...)

  uint64_t total() const {
    uint64_t t = 0;
    for (const auto& s : stacks) t += s.count;
    return t;
  }
};

}  // namespace scorch
