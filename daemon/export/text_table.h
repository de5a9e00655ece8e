#pragma once
/// Text exporter: per-function self/total statistics and a "perf report"-like top table for terminals.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/profile.h"

namespace scorch {

/// How much of the profile one function (name + kernel flag) accounts for.
struct FunctionStat {
  std::string name;
  bool kernel = false;
  uint64_t self = 0;   // counts of stacks whose leaf is this function
  uint64_t total = 0;  // counts of stacks containing it at least once (recursion counted once)
};

/// Statistics for every function that appears in a frame, sorted by self desc, total desc, name, user before kernel.
/// Stacks without frames contribute to no function.
std::vector<FunctionStat> function_stats(const Profile& profile);

/// A header line (total and number of processes), then "SELF%  TOTAL%  SAMPLES  FUNCTION" rows for the
/// first `limit` functions of function_stats (0: all), percentages of the profile total with one decimal,
/// SAMPLES the self count, kernel functions suffixed " [k]". An empty profile prints "No samples recorded."
/// instead. Ends with a "Dropped: ..." line if any DropCounters field other than `samples` is non-zero.
std::string render_top_table(const Profile& profile, size_t limit);

/// Every histogram of the profile as bcc and bpftrace print theirs, each after an empty line: a
/// "<label> (<unit>):" line, then one "[low, high)  count |@@@@   |" line per bucket from the first
/// non-empty one to the last, the bar 40 wide for the largest count; bounds are the raw numbers in
/// the unit. A histogram without values prints "(no values)". Nothing for a profile without any.
/// Both tables above end with these (before their "Dropped: ..." line).
std::string render_histograms(const Profile& profile);

/// Every table of the profile, each after an empty line: a "<title>:" line, a header of the column
/// names in capitals, then its first 20 rows (numbers right-aligned) and "(N more rows)"; a table
/// without rows prints "(no rows)". The tables above print these before their histograms.
std::string render_tables(const Profile& profile);

/// For profiles with per-stack values (malloc): one row per stack, the largest `count` first, a
/// column per value name, then the stack leaf first ("malloc <- alloc_a <- main"), cut at
/// `frames` frames. An empty profile prints "No allocations recorded.".
std::string render_stack_values_table(const Profile& profile, size_t limit, size_t frames = 6);

}  // namespace scorch
