#pragma once
/// The threads of a process, from /proc/PID/task.

#include <cstdint>
#include <vector>

namespace scorch {

/// The thread ids of pid now, ascending; empty when the process is gone.
std::vector<uint32_t> thread_ids(uint32_t pid);

}  // namespace scorch
