#pragma once
/// MallocProbe: the loaded allocator-tracing program, its uprobes per traced process, and maps.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alloc/allocator.h"
#include "common/result.h"

struct malloc_bpf;
struct bpf_link;

namespace scorch {

class UnwindMaps;

/// One drained aggregation bucket: allocations of a process at one stack (leaf first).
struct RawAllocs {
  uint32_t tgid = 0;
  uint64_t stack_hash = 0;
  uint64_t calls = 0, bytes = 0;              // recorded (in sampled mode: the sampled ones)
  uint64_t est_calls_q16 = 0, est_bytes = 0;  // sampled mode: the estimates
};

/// Live blocks of one process at one stack (outstanding mode).
struct LiveStack {
  uint64_t stack_hash = 0;
  uint64_t objects = 0, bytes = 0;
  uint64_t oldest_ns = 0;  // bpf_ktime_get_ns of the oldest allocation
};

class MallocProbe {
 public:
  struct Config {
    bool outstanding = false;
    uint64_t sample_bytes = 0;   // 0: every call
    uint32_t duty_permille = 0;  // 0: always attached; else windows of kWindow open this share of the time
    bool operator==(const Config&) const = default;
  };
  static constexpr std::chrono::milliseconds kWindow{20};

  static Result<std::unique_ptr<MallocProbe>> load(const UnwindMaps& unwind);
  ~MallocProbe();
  MallocProbe(const MallocProbe&) = delete;
  MallocProbe& operator=(const MallocProbe&) = delete;

  /// Attaches the allocator's probes in process tgid (or shares them if attached with the same
  /// config; a different config is refused with EBUSY).
  Result<void> attach(uint32_t tgid, const Allocator& allocator, const Config& config);
  void detach(uint32_t tgid);
  bool attached(uint32_t tgid) const;

  /// Duty mode: what the windows of tgid covered so far.
  struct DutyStats {
    uint64_t windows = 0;
    std::chrono::nanoseconds open{0};  // gate up, wall clock
    uint64_t hits = 0;                 // probe hits while open (traps taken)
    uint64_t bpf_ns = 0;               // time the programs ran for them
    uint64_t thread_windows = 0;       // sum over windows of the threads that hit a probe
    /// The time the program would have needed, at its own speed, for what it did while the
    /// windows were open: open time minus the probes' cost, spread over the threads that paid it.
    double effective_ns(double trap_ns) const;
  };
  DutyStats duty(uint32_t tgid) const;
  /// Duty mode: lets a window in progress close and opens no more for tgid, so what the final
  /// drain reads and duty() reports cover the same windows.
  void stop_windows(uint32_t tgid);
  /// What one probe hit costs on this machine besides the program's own run time (the trap and
  /// the uprobe machinery), measured once at load on a function of scorchd's own.
  double trap_ns() const { return trap_ns_; }

  /// Switches the program to the other counts generation, then reads and clears the old one.
  void drain(const std::function<void(const RawAllocs&)>& fn);
  /// The frames of a stack (leaf first); empty when it was lost.
  const std::vector<uint64_t>& stack(uint64_t hash);
  /// Live blocks of tgid allocated at or before born_before_ns (CLOCK_MONOTONIC), by stack.
  std::vector<LiveStack> live(uint32_t tgid, uint64_t born_before_ns = UINT64_MAX) const;
  /// After an exec: the process's new allocator replaces the old one (probes re-attached).
  Result<void> reattach(uint32_t tgid, const Allocator& allocator);

  struct Counters {
    uint64_t calls = 0, frees = 0, nested = 0, sampled = 0, other_process = 0, map_full = 0, live_full = 0,
             stack_lost = 0, no_storage = 0, free_unknown = 0, walks = 0, memo_hits = 0;
  };
  Counters counters() const;

 private:
  MallocProbe() = default;
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
  struct Target {
    int refs = 0;
    uint32_t slot = 0;
    Config config;
    Allocator allocator;
    std::vector<LinkPtr> hot, cold;  // malloc and free; the rest
    // duty mode
    std::chrono::nanoseconds open{0};
    uint64_t windows = 0;
    std::chrono::steady_clock::time_point next_window;
    uint64_t hits_at_attach = 0, ns_at_attach = 0, threads_at_attach = 0;
    bool in_window = false;  // the duty thread has this target's gate up
    bool windows_stopped = false;
  };
  struct SkelDeleter {
    void operator()(malloc_bpf* s) const;
  };

  Result<void> attach_links(uint32_t tgid, Target& t, bool hot_only = false);
  void detach_links(Target& t);
  void duty_loop();
  void clear_live(uint32_t tgid);
  void calibrate();
  double trap_ns_ = 0;

  std::unique_ptr<malloc_bpf, SkelDeleter> skel_;
  mutable std::mutex mu_;  // targets_ (the duty thread opens and closes windows)
  std::condition_variable cv_;
  std::map<uint32_t, Target> targets_;
  uint64_t used_slots_ = 0;
  std::unordered_map<uint64_t, std::vector<uint64_t>> stacks_;  // read from the stacks map
  std::thread duty_;
  bool stopping_ = false;
};

}  // namespace scorch
