#pragma once
/// Profiler: on-CPU sessions of many clients sharing one loaded program, drained and symbolized here.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/uid_limits.h"
#include "export/profile.h"
#include "probes/cred_watch.h"
#include "probes/malloc_probe.h"
#include "probes/offcpu_probe.h"
#include "probes/oncpu_probe.h"
#include "proto/protocol.h"
#include "session/unwind_loader.h"

namespace scorch {

class Symbolizer;

/// What one client asked for.
struct SessionSpec {
  std::vector<uint32_t> pids;  // empty: whole system
  uint32_t frequency_hz = 99;
  std::chrono::milliseconds duration{0};  // 0: until finished by the caller
  uint32_t uid = 0;                       // who asked (for status)
  proto::Measure measure = proto::Measure::kCpu;
  OffCpuProbe::Filter offcpu_filter;      // off-CPU and wall: which blocks count
  bool by_state = false;                  // off-CPU: the thread state as the root frame
  uint8_t stacks = 3;                     // off-CPU: 1 user, 2 kernel, 3 both
  MallocProbe::Config malloc;             // malloc: mode
  uint64_t min_age_ns = 0;                // malloc --outstanding: only blocks at least this old
  bool weight_calls = false;              // malloc: width by calls, not bytes
};

/// A running session as status shows it.
struct SessionView {
  uint64_t id = 0;
  SessionSpec spec;
  std::chrono::milliseconds elapsed{0};
  uint64_t samples = 0;  // samples, or blocks for off-CPU
};

class Profiler {
 public:
  using Clock = std::chrono::steady_clock;

  /// offcpu may be null (the kernel cannot run it): off-CPU and wall profiles are then refused
  /// with offcpu_error.
  Profiler(OnCpuProbe& probe, OffCpuProbe* offcpu, std::string offcpu_error, UnwindMaps& unwind_maps,
           Symbolizer& symbolizer, MallocProbe* malloc = nullptr, std::string malloc_error = "not loaded");
  ~Profiler();

  /// Starts sampling for spec; samples taken before this call never reach the session.
  Result<uint64_t> start(const SessionSpec& spec);
  /// Moves what the kernel aggregated into every matching session (call periodically).
  void drain();
  /// Reloads unwind tables and symbols of targets that exec'd another program (cheap; call often).
  void check_execs();
  /// Ends a session: a last drain, then its profile. The session is gone afterwards.
  Profile finish(uint64_t id);

  /// Duration over, or every target process gone.
  bool done(uint64_t id) const;
  std::vector<SessionView> sessions() const;
  uint64_t samples(uint64_t id) const;
  DropCounters drops() const { return probe_.counters(); }
  const OffCpuProbe* offcpu() const { return offcpu_; }
  const UnwindLoader& unwinder() const { return unwinder_; }
  const MallocProbe* malloc() const { return malloc_; }
  /// Caps what one non-root user's sessions may hold (stacks, names, allocation rows); 0: no cap.
  /// Past it, new stacks are dropped and counted (the profile says so); root is never capped.
  void set_memory_limit_per_user(uint64_t bytes) { memory_.set_caps(bytes, 0); }

 private:
  struct Session {
    uint64_t id = 0;
    SessionSpec spec;
    uint64_t period_ns = 0;
    bool on_cpu = true;   // samples on-CPU stacks
    bool off_cpu = false; // traces blocked time
    bool malloc = false;  // traces allocator calls
    struct Allocs {
      uint64_t calls = 0, bytes = 0, est_calls_q16 = 0, est_bytes = 0;
    };
    std::map<std::pair<uint32_t, uint64_t>, Allocs> allocs;  // {pid, stack hash}
    std::vector<uint32_t> malloc_attached;
    MallocProbe::Counters malloc_at_start;
    std::set<uint32_t> pids;
    std::set<uint32_t> lost;        // pids no longer traced: their credentials changed (see CredWatch)
    std::vector<uint32_t> watched;  // pids whose credentials are checked for this session (not root's)
    std::map<uint32_t, std::string> comms;  // malloc: each pid's comm at the start
    std::map<uint32_t, std::vector<LiveStack>> live_at_loss;  // malloc --outstanding: blocks live when tracing stopped
    std::map<std::pair<uint32_t, uint64_t>, std::vector<Frame>> frames_at_loss;  // malloc: named while the program ran
    std::vector<uint32_t> targets;  // the pids, or kPidAny for the whole system
    std::map<uint32_t, uint32_t> sampler_of;  // on-CPU: target -> the id its samples carry
    std::vector<uint32_t> unwound;  // pids whose user stacks come from unwind tables
    std::vector<UnwindMaps::FileFrames> unwind_at_start;  // per-file frame counts when it started
    std::vector<std::string> notes;
    Clock::time_point started;
    DropCounters drops_at_start;
    OffCpuProbe::Counters off_at_start;
    uint64_t started_mono_ns = 0;  // CLOCK_MONOTONIC, the clock of the BPF timestamps
    uint64_t samples = 0;
    uint64_t held_bytes = 0;      // estimate of what stacks and rows hold (memory_)
    uint64_t dropped_stacks = 0;  // new stacks refused at the user's memory cap
    std::unordered_map<std::string, size_t> index;  // stack identity -> stacks position
    std::vector<StackCount> stacks;
    /// pid is one of the session's and still traced for it.
    bool traces(uint32_t pid) const { return pids.count(pid) > 0 && lost.count(pid) == 0; }
  };
  /// Adds count (samples, or ns for off-CPU and wall) to a stack; events (samples or blocks) feed progress.
  void add(Session& s, uint32_t pid, std::string_view comm, const std::vector<Frame>& frames, uint64_t count,
           uint64_t events);
  void release(const Session& s);
  /// For a session of a user other than root: the check that stops its tracing of a process
  /// whose credentials change (installed before the session's first event).
  Result<void> watch_creds(Session& s);
  /// Stops tracing of processes whose credentials changed, for every session not root's.
  void check_creds();
  void lose(Session& s, uint32_t pid, const std::string& what);
  void release_target(uint32_t target, uint64_t period_ns);
  /// Notes saying, per file of the session's processes, how their frames were unwound meanwhile.
  void add_unwind_notes(const Session& s, Profile& p) const;
  void drain_offcpu();
  void drain_samples();
  void offcpu_frames(uint32_t tgid, std::span<const uint64_t> user_ips, std::span<const uint64_t> kernel_ips,
                     std::vector<Frame>& frames);
  void add_block(Session& s, uint32_t tgid, std::string_view comm, uint32_t state, const std::vector<Frame>& frames,
                 uint64_t ns, uint64_t blocks);
  uint64_t add_pending_blocks(Session& s);
  Result<void> start_malloc(Session& s);
  void drain_malloc();
  void finish_malloc(Session& s, Profile& p);
  std::vector<Frame> malloc_frames(uint32_t pid, uint64_t hash);
  /// Charges bytes to the session's user; false (and counted) past the cap.
  bool charge(Session& s, uint64_t bytes);
  /// Sessions by target pid for one drain (and whole-system sessions), so a drain is linear.
  struct ByPid {
    std::unordered_map<uint32_t, std::vector<Session*>> pid;
    std::vector<Session*> any;
  };
  ByPid sessions_by_pid(bool Session::*measure);

  OnCpuProbe& probe_;
  OffCpuProbe* offcpu_;
  std::string offcpu_error_;
  MallocProbe* malloc_;
  std::string malloc_error_;
  Symbolizer& symbolizer_;
  UnwindLoader unwinder_;
  CredWatch cred_watch_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  uint64_t next_id_ = 1;
  UidLimits memory_{0, 0};
};

/// Sampling period for a frequency, in ns.
uint64_t period_for_hz(uint32_t hz);

/// True while /proc/PID exists and is not a zombie.
bool process_alive(uint32_t pid);

}  // namespace scorch
