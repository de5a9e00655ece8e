#pragma once
/// Session: what every profiling session has, whatever it measures: its targets and who asked,
/// the processes let go, notes, its stacks under the user's memory cap, and its times.

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/uid_limits.h"
#include "model/profile.h"
#include "probes/unwind_maps.h"

namespace scorch {

/// The common part of what a client asked for; the measure's own options travel apart.
struct SessionSpec {
  std::vector<uint32_t> pids;             // empty: whole system
  std::chrono::milliseconds duration{0};  // 0: until finished by the caller
  uint32_t uid = 0;                       // who asked
  uint8_t measure = 0;                    // a measure id (proto/measure_options.h)
};

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  Session(uint64_t id, SessionSpec spec, UidLimits& memory);

  const uint64_t id;
  const SessionSpec spec;
  std::set<uint32_t> pids;
  std::set<uint32_t> lost;        // pids no longer traced: their credentials changed (see CredWatch)
  std::vector<uint32_t> watched;  // pids whose credentials are checked for this session (not root's)
  std::vector<uint32_t> unwound;  // pids whose user stacks come from unwind tables
  std::vector<UnwindMaps::FileFrames> unwind_at_start;  // per-file frame counts when it started
  std::vector<std::string> notes;
  Clock::time_point started;
  uint64_t started_mono_ns = 0;  // CLOCK_MONOTONIC, the clock of the BPF timestamps
  uint64_t events = 0;           // samples, blocks or calls: what progress shows
  /// How the profile says what the memory cap cost (the measure may say it its own way).
  std::string dropped_means = "counted under [dropped]";
  /// "profile" or "trace": how notes name the session.
  std::string noun = "profile";

  /// pid is one of the session's and still traced for it.
  bool traces(uint32_t pid) const { return pids.count(pid) > 0 && lost.count(pid) == 0; }
  bool whole_system() const { return pids.empty(); }
  /// The pids still traced, or {kPidAny} for the whole system.
  std::vector<uint32_t> targets() const;

  /// Adds count to a stack (samples, ns, bytes: the measure's unit); events feed progress. A new
  /// stack past the user's memory cap is counted under one "[dropped]" stack, so totals stay whole.
  void add(uint32_t pid, std::string_view comm, const std::vector<Frame>& frames, uint64_t count, uint64_t events);
  /// Charges bytes to the session's user; false (and counted in dropped_stacks) past the cap.
  bool charge(uint64_t bytes);
  /// Gives back everything charged (at the end).
  void release_memory();
  uint64_t dropped_stacks() const { return dropped_stacks_; }

  std::vector<StackCount>& stacks() { return stacks_; }

 private:
  UidLimits& memory_;
  uint64_t held_bytes_ = 0;
  uint64_t dropped_stacks_ = 0;
  std::unordered_map<std::string, size_t> index_;  // stack identity -> stacks_ position
  std::vector<StackCount> stacks_;
};

inline constexpr uint32_t kPidAny = 0xffffffffu;

}  // namespace scorch
