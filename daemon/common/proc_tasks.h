#pragma once
/// The threads of a process and their names, from /proc/PID/task.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace scorch {

/// The thread ids of pid now, ascending; empty when the process is gone.
std::vector<uint32_t> thread_ids(uint32_t pid);

/// The name of thread tid of process pid (its comm; tid 0: the process's own), nullopt when gone.
std::optional<std::string> task_comm(uint32_t pid, uint32_t tid = 0);

}  // namespace scorch
