#pragma once
/// perf_event_open(2), which glibc does not wrap; the fd is close-on-exec.

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace scorch {

/// pid -1 with a CPU: that CPU, every task. A tid with cpu -1: that thread wherever it runs.
inline int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu) {
  return static_cast<int>(::syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

inline bool is_hardware_event(uint32_t type) {
  return type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE || type == PERF_TYPE_RAW;
}

/// What to do when perf_event_open of an event of this type failed with err, for counting and
/// sampling alike ("" when nothing is known to help).
inline std::string perf_open_hint(uint32_t type, int err, bool sampling) {
  if (err == EACCES || err == EPERM) return "scorchd needs root (CAP_PERFMON)";
  if (is_hardware_event(type) && (err == ENOENT || err == ENODEV || err == EOPNOTSUPP))
    return "this machine has no PMU for hardware events, usual in a VM without a virtual PMU (QEMU/KVM: -cpu "
           "host; clouds: an instance type with PMU access); software events still work: scorch list";
  if (sampling && err == EOPNOTSUPP) return "this event cannot sample (the kernel counts it but raises no overflow)";
  if (err == ENOENT || err == EINVAL) return "the kernel does not know this event: scorch list shows what works";
  return "";
}

}  // namespace scorch
