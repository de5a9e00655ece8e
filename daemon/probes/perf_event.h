#pragma once
/// perf_event_open(2), which glibc does not wrap; the fd is close-on-exec.

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace scorch {

/// pid -1 with a CPU: that CPU, every task. A tid with cpu -1: that thread wherever it runs.
inline int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu) {
  return static_cast<int>(::syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace scorch
