#pragma once
/// Folded-stacks exporter/importer: the "comm;root;...;leaf COUNT" text that flamegraph.pl and inferno read.

#include <string>
#include <string_view>

#include "common/result.h"
#include "model/profile.h"

namespace scorch {

/// Suffix marking kernel frames in folded text ("schedule_[k]").
inline constexpr std::string_view kKernelSuffix = "_[k]";

/// One line per distinct (comm, frames): "comm;outermost;...;leaf COUNT\n", "comm COUNT\n" for a stack
/// without frames. Kernel frames get the "_[k]" suffix. Stacks that render the same (e.g. one comm, many
/// pids) are summed; lines are sorted by their stack text; lines whose count sums to 0 are left out.
/// In names, ';' becomes ':' and '\n'/'\r' become ' ' so they cannot break the format.
std::string render_folded(const Profile& profile);

/// Reads folded text back: first field is the comm, frames ending in "_[k]" are kernel frames (suffix
/// removed), pid is 0, one StackCount per line (no merging). Empty lines are skipped, "\r\n" accepted.
/// A line without a decimal count after its last space/tab is an error naming the line (1-based).
Result<Profile> parse_folded(std::string_view text);

}  // namespace scorch
