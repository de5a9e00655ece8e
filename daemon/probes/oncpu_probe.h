#pragma once
/// OnCpuProbe: the loaded on-CPU sampling program, its samplers (perf events told apart by their
/// attach cookie), filter and maps.

#include <linux/perf_event.h>

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "model/profile.h"

struct oncpu_bpf;
struct bpf_link;

namespace scorch {

class UnwindMaps;

/// What a sampler counts: a perf event type/config and how many events make one sample.
struct SamplerEvent {
  uint32_t type = PERF_TYPE_SOFTWARE;         // perf_event_attr.type
  uint64_t config = PERF_COUNT_SW_CPU_CLOCK;  // perf_event_attr.config
  uint64_t period = 0;                        // events per sample (ns for cpu-clock); samples/s with freq
  bool freq = false;                          // period is a frequency the kernel keeps by adjusting the period
  auto operator<=>(const SamplerEvent&) const = default;
  static SamplerEvent cpu_clock(uint64_t period_ns);
};

/// One drained aggregation bucket with its stacks read out (leaf first, as the kernel gives them).
struct RawSample {
  uint32_t tgid = 0;
  uint32_t sampler = 0;  // the sampler's id (its attach cookie)
  std::string_view comm;
  uint64_t count = 0;   // samples
  uint64_t weight = 0;  // the events they stand for (their periods summed)
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

  static constexpr uint32_t kPidAny = 0xffffffffu;

  /// Starts (or shares, refcounted) a sampler of this event for target: for kPidAny, one perf
  /// event per online CPU (every process; for cpu-clock, wall-clock sampling); for a process, one
  /// per thread that counts the thread's own events and is inherited by threads it creates later
  /// (as `perf record -p`). Installs the kernel filter entry {target, id} itself, before the events
  /// are attached. Returns the sampler's id: the attach cookie its samples carry. Ids are never
  /// reused while the daemon runs, so samples left from a removed sampler match nobody.
  Result<uint32_t> add_sampler(uint32_t target, const SamplerEvent& event);
  /// Drops one reference; the last one detaches the events, then drops the filter entry.
  void remove_sampler(uint32_t target, const SamplerEvent& event);
  size_t sampler_count() const { return samplers_.size(); }

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
  Result<void> add_filter(uint32_t tgid, uint32_t sampler);
  void remove_filter(uint32_t tgid, uint32_t sampler);

  struct SkelDeleter {
    void operator()(oncpu_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
  struct Sampler {
    uint32_t id = 0;
    int refs = 0;
    std::vector<LinkPtr> links;
    std::set<uint32_t> tids;  // per-task samplers: threads that have an event
  };

  std::unique_ptr<oncpu_bpf, SkelDeleter> skel_;
  Result<void> attach_cpus(Sampler& sampler, const SamplerEvent& event);
  Result<void> attach_threads(Sampler& sampler, uint32_t tgid, const SamplerEvent& event);
  Result<void> attach(Sampler& sampler, int perf_fd, const std::string& where);

  std::map<std::pair<uint32_t, SamplerEvent>, Sampler> samplers_;  // {target, event}
  std::set<std::pair<uint32_t, uint32_t>> filter_keys_;            // {tgid or kPidAny, sampler id}: the kernel filter
  uint32_t next_id_ = 1;                                           // 0 would be no cookie at all
  uint64_t lost_stacks_ = 0;
};

}  // namespace scorch
