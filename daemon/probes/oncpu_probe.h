#pragma once
/// OnCpuProbe: the loaded on-CPU sampling program, its per-CPU perf events, filter and maps.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "export/profile.h"

struct oncpu_bpf;
struct bpf_link;

namespace scorch {

class UnwindMaps;

/// One drained aggregation bucket with its stacks read out (leaf first, as the kernel gives them).
struct RawSample {
  uint32_t tgid = 0;
  uint64_t period_ns = 0;
  std::string_view comm;
  uint64_t count = 0;
  std::span<const uint64_t> user_ips;
  std::span<const uint64_t> kernel_ips;
};

class OnCpuProbe {
 public:
  /// Opens and loads the BPF object, sharing unwind's maps; nothing samples until add_sampler().
  static Result<std::unique_ptr<OnCpuProbe>> load(const UnwindMaps& unwind);
  ~OnCpuProbe();
  OnCpuProbe(const OnCpuProbe&) = delete;
  OnCpuProbe& operator=(const OnCpuProbe&) = delete;

  /// Starts (or shares) cpu-clock sampling with this period: for kPidAny, one perf event per
  /// online CPU (wall-clock, every process); for a process, one per thread that follows the
  /// thread's own CPU time and is inherited by threads it creates later (as `perf record -p`).
  /// Both kinds stamp their samples with a period of their own parity (see sampling_period), so
  /// a process sampled by both is never counted twice.
  Result<void> add_sampler(uint32_t target, uint64_t period_ns);
  void remove_sampler(uint32_t target, uint64_t period_ns);
  size_t sampler_count() const { return samplers_.size(); }

  /// The period a sampler of this target really uses: even for per-CPU events, odd for per-task.
  static uint64_t sampling_period(uint32_t target, uint64_t period_ns) {
    return target == kPidAny ? (period_ns & ~1ull) : (period_ns | 1ull);
  }

  /// Lets samples of tgid (kPidAny: every process) at this period through the kernel filter.
  Result<void> add_filter(uint32_t tgid, uint64_t period_ns);
  void remove_filter(uint32_t tgid, uint64_t period_ns);
  static constexpr uint32_t kPidAny = 0xffffffffu;

  /// Switches the program to the other map generation, then reads and clears the old one.
  Result<void> drain(const std::function<void(const RawSample&)>& fn);

  /// Kernel counters summed over CPUs plus stacks the daemon found gone.
  DropCounters counters() const;
  /// Program ids, so tests and status can check what is loaded.
  uint32_t program_id() const;

 private:
  OnCpuProbe() = default;
  std::array<uint64_t, 8> read_counters() const;
  void sync_fast_filter();

  struct SkelDeleter {
    void operator()(oncpu_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
  struct Sampler {
    int refs = 0;
    std::vector<LinkPtr> links;
    std::set<uint32_t> tids;  // per-task samplers: threads that have an event
  };

  std::unique_ptr<oncpu_bpf, SkelDeleter> skel_;
  Result<void> attach_cpus(Sampler& sampler, uint64_t period);
  Result<void> attach_threads(Sampler& sampler, uint32_t tgid, uint64_t period);

  std::map<std::pair<uint32_t, uint64_t>, Sampler> samplers_;  // {target, sampling period}
  std::map<std::pair<uint32_t, uint64_t>, int> filter_refs_;
  uint64_t lost_stacks_ = 0;
};

}  // namespace scorch
