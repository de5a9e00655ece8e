#pragma once
/// LocksProbe: the loaded lock-contention program (futex syscalls of traced processes; kernel
/// lock:contention_begin/end), its filter and maps.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct locks_bpf;
struct bpf_link;

namespace scorch {

class UnwindMaps;

/// One drained bucket: waits of one process on one lock at one stack pair (leaf first).
struct RawLockWait {
  uint32_t tgid = 0;
  uint32_t kind = 0;   // scorch_lock_kind
  uint32_t flags = 0;  // kernel locks: contention_begin's flags (LCB_F_*)
  uint64_t addr = 0;   // the futex word or kernel lock
  std::string_view comm;
  uint64_t total_ns = 0, count = 0, max_ns = 0;
  std::span<const uint64_t> hist;  // log2 buckets of ns
  std::span<const uint64_t> user_ips, kernel_ips;
};

/// One drained holder bucket: the waits that releases at one stack ended.
struct RawLockHolder {
  uint32_t tgid = 0;
  uint32_t kind = 0;
  uint64_t addr = 0;
  uint32_t tid = 0;       // the releasing thread
  std::string_view comm;  // its name
  uint64_t waited_ns = 0, count = 0;
  std::span<const uint64_t> user_ips;    // where it released the lock
  std::span<const uint64_t> waiter_ips;  // where the waits it ended waited
  uint64_t waiter_hash = 0;              // waiter_ips' hash (one waiter stack ends many releases)
};

/// One drained owner bucket: the waits on one mutex that began while one thread owned it.
struct RawLockOwner {
  uint32_t tgid = 0;
  uint32_t kind = 0;
  uint64_t addr = 0;
  uint32_t owner = 0;  // tid, as read from the lock (the daemon checks it is a thread of tgid)
  uint64_t waited_ns = 0, count = 0;
};

/// Why kernel locks cannot be traced, given which tracepoints the kernel's BTF has; empty when
/// both lock tracepoints are there.
std::string kernel_locks_unavailable(const std::function<bool(const char*)>& has_tracepoint);

class LocksProbe {
 public:
  struct Config {
    uint32_t map_entries = 16384;  // buckets of each generation's waits, holders and owners maps
    std::string kernel_off;        // non-empty: kernel locks are not traced, for this reason
  };
  /// tp_btf for the kernel-lock programs needs lock:contention_begin/end; without them (a kernel
  /// before 5.19), or with config.kernel_off, only user-space locks are traced.
  static Result<std::unique_ptr<LocksProbe>> load(const UnwindMaps& unwind, const Config& config);
  ~LocksProbe();
  LocksProbe(const LocksProbe&) = delete;
  LocksProbe& operator=(const LocksProbe&) = delete;

  static constexpr uint32_t kPidAny = 0xffffffffu;
  struct Filter {
    uint64_t min_wait_ns = 0;
    bool user = true;     // futex waits
    bool kernel = false;  // kernel lock contention
    bool operator==(const Filter&) const = default;
  };
  /// Traces tgid (kPidAny: kernel locks of every process) with this filter; shared by reference
  /// count, refused (EBUSY) when another session traces the target with a different filter.
  /// holders: also record the target's contended releases (while any of its sessions asks).
  Result<void> add_filter(uint32_t tgid, const Filter& filter, bool holders);
  void remove_filter(uint32_t tgid, bool holders);
  /// Why kernel locks cannot be traced here; empty when they can.
  const std::string& kernel_unavailable() const { return kernel_unavailable_; }

  /// Switches to the other generation, then reads and clears the old one.
  Result<void> drain(const std::function<void(const RawLockWait&)>& waits,
                     const std::function<void(const RawLockHolder&)>& holders,
                     const std::function<void(const RawLockOwner&)>& owners);

  struct Counters {
    uint64_t waits = 0, short_waits = 0, map_full = 0, stack_errors = 0, nested = 0, no_storage = 0, wakes = 0,
             no_holder = 0, idle_wakes = 0, lost_stacks = 0;
  };
  Counters counters() const;

 private:
  LocksProbe() = default;
  Result<void> attach_user();
  Result<void> attach_kernel();
  void detach_unused();

  struct SkelDeleter {
    void operator()(locks_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
  std::unique_ptr<locks_bpf, SkelDeleter> skel_;
  std::vector<LinkPtr> user_links_, kernel_links_;
  struct Entry {
    Filter filter;
    int refs = 0;
    int holder_refs = 0;    // sessions that want releases recorded
    uint64_t since_ns = 0;  // when the filter went in (CLOCK_MONOTONIC)
  };
  Result<void> write_filter(uint32_t tgid, const Entry& e);
  std::map<uint32_t, Entry> filters_;
  std::string kernel_unavailable_;
  uint64_t lost_stacks_ = 0;
};

}  // namespace scorch
