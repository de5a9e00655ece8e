#pragma once
/// OffCpuProbe: the sched_switch program that measures blocked time by stack, its filter and maps.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <string_view>

#include "common/result.h"

struct offcpu_bpf;
struct bpf_link;

namespace scorch {

class UnwindMaps;

/// One drained bucket: blocked time of one process at one pair of stacks (leaf first).
struct RawBlock {
  uint32_t tgid = 0;
  uint32_t state = 0;         // scorch_offcpu_state
  bool whole_system = false;  // counted for the whole-system filter, not the process's own
  std::string_view comm;
  uint64_t total_ns = 0;
  uint64_t count = 0;
  std::span<const uint64_t> user_ips;
  std::span<const uint64_t> kernel_ips;
};

class OffCpuProbe {
 public:
  /// How the program hooks sched_switch: tp_btf (task storage, user stacks from unwind tables), or
  /// the raw tracepoint fallback for kernels without tp_btf (a hash by tid, frame-pointer user stacks).
  enum class Attach { kTpBtf, kRawTp };
  /// Opens and loads the BPF object, sharing unwind's maps; nothing is traced until add_filter().
  static Result<std::unique_ptr<OffCpuProbe>> load(const UnwindMaps& unwind, Attach attach);
  Attach attach_mode() const { return attach_; }
  ~OffCpuProbe();
  OffCpuProbe(const OffCpuProbe&) = delete;
  OffCpuProbe& operator=(const OffCpuProbe&) = delete;

  static constexpr uint32_t kPidAny = 0xffffffffu;
  static constexpr uint32_t kAllStates = 0xf;

  /// Which blocks of a target are kept: min_ns <= duration <= max_ns, state in the mask.
  struct Filter {
    uint64_t min_ns = 0;
    uint64_t max_ns = UINT64_MAX;
    uint32_t states = kAllStates;
    uint32_t stacks = 3;  // 1: user, 2: kernel
    bool operator==(const Filter&) const = default;
  };
  /// Traces tgid (kPidAny: every process) with this filter; shared by reference count. A target
  /// already traced with a different filter is refused. The program is attached while any filter exists.
  Result<void> add_filter(uint32_t tgid, const Filter& filter);
  void remove_filter(uint32_t tgid);

  /// Switches to the other map generation, then reads and clears the old one.
  Result<void> drain(const std::function<void(const RawBlock&)>& fn);

  /// A block of thread tid still in progress (its switch-out recorded, no switch-in yet), for the
  /// process's own filter: state, start (CLOCK_MONOTONIC ns) and stacks. Empty when there is none
  /// or the kernel cannot look task storage up by pidfd (pidfd_open of a thread needs Linux 6.9).
  struct Pending {
    uint32_t tgid = 0;
    uint32_t state = 0;
    uint64_t start_ns = 0;
    uint64_t min_ns = 0, max_ns = 0;
    std::string comm;
    std::vector<uint64_t> user_ips, kernel_ips;  // leaf first
  };
  std::optional<Pending> pending(uint32_t tid) const;

  struct Counters {
    uint64_t switch_outs = 0, blocks = 0, filtered = 0, no_storage = 0, map_full = 0, stack_errors = 0;
    uint64_t lost_stacks = 0;                    // stacks gone before the daemon read them
    uint64_t kstack_walks = 0, kstack_kept = 0;  // kernel stacks walked / found unchanged (tp_btf)
  };
  Counters counters() const;
  uint32_t program_id() const;
  bool attached() const { return link_ != nullptr; }

 private:
  OffCpuProbe() = default;
  void sync_fast_filter();
  struct SkelDeleter {
    void operator()(offcpu_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  std::unique_ptr<offcpu_bpf, SkelDeleter> skel_;
  std::unique_ptr<bpf_link, LinkDeleter> link_;
  struct Entry {
    Filter filter;
    int refs = 0;
  };
  std::map<uint32_t, Entry> filters_;
  Attach attach_ = Attach::kTpBtf;
  uint64_t lost_stacks_ = 0;
};

}  // namespace scorch
