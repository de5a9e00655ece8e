#pragma once
/// Profiler: the sessions of every client and the measures that run them. It loads what the
/// registry lists, starts sessions through the Measure interface, drains every measure, and
/// turns a finished session into a Profile; it knows no measure by name.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/uid_limits.h"
#include "model/profile.h"
#include "probes/cred_watch.h"
#include "session/measure.h"
#include "session/session.h"
#include "session/unwind_loader.h"

namespace scorch {

class Symbolizer;

/// A running session as status shows it.
struct SessionView {
  uint64_t id = 0;
  SessionSpec spec;
  std::string measure;  // its name
  std::string detail;   // how it measures ("99 Hz")
  std::string events;   // what samples counts ("samples", "blocks")
  std::chrono::milliseconds elapsed{0};
  uint64_t samples = 0;
};

class Profiler {
 public:
  using Clock = std::chrono::steady_clock;

  /// unwind_maps null: user stacks by frame pointers only, credentials never watched (tests).
  Profiler(UnwindMaps* unwind_maps, Symbolizer& symbolizer);
  ~Profiler();

  /// Loads one measure of the registry: available afterwards, or unavailable with the error kept.
  Result<void> load(const MeasureDef& def, const Features& features,
                    const std::map<std::string, std::string>& settings);
  /// Adds a measure already loaded (tests: fake probes behind the interface).
  void add_measure(const MeasureDef& def, std::unique_ptr<Measure> measure);
  /// The loaded measure of this name; null when unavailable.
  Measure* measure(std::string_view name) const;

  /// Starts a session of spec.measure with its options (encoded, as sent); samples taken before
  /// this call never reach it.
  Result<uint64_t> start(const SessionSpec& spec, std::span<const uint8_t> options);
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
  /// Events and drops since start, over every measure.
  DropCounters drops() const;
  /// Each measure's status lines, and for each unavailable one why.
  std::vector<std::string> measure_status() const;
  /// The definition of a measure id; null when unknown.
  const MeasureDef* definition(uint8_t id) const;
  /// Null without unwind maps.
  const UnwindLoader* unwinder() const { return unwinder_ ? &*unwinder_ : nullptr; }
  /// Caps what one non-root user's sessions may hold (stacks, names, allocation rows); 0: no cap.
  /// Past it, new stacks are dropped and counted (the profile says so); root is never capped.
  void set_memory_limit_per_user(uint64_t bytes) { memory_.set_caps(bytes, 0); }

 private:
  struct Loaded {
    MeasureDef def;
    std::unique_ptr<Measure> measure;  // null: unavailable
    std::optional<Error> error;        // why unavailable
  };
  struct Running {
    std::unique_ptr<Session> core;
    const Loaded* loaded = nullptr;
    std::unique_ptr<MeasureSession> session;
  };
  const Loaded* find(uint8_t id) const;
  /// For a session of a user other than root: the check that stops its tracing of a process
  /// whose credentials change (installed before the session's first event).
  Result<void> watch_creds(Session& s);
  /// Stops tracing of processes whose credentials changed, for every session not root's.
  void check_creds();
  void lose(Running& r, uint32_t pid, const std::string& what);
  /// Unwind tables for the named processes (notes say where frame pointers remain).
  void attach_unwinder(Session& s);
  void release(Session& s);
  /// Notes saying, per file of the session's processes, how their frames were unwound meanwhile.
  void add_unwind_notes(const Session& s, Profile& p) const;
  void drain_measures();

  Symbolizer& symbolizer_;
  std::optional<UnwindLoader> unwinder_;
  CredWatch cred_watch_;
  std::vector<std::unique_ptr<Loaded>> measures_;  // registry order
  std::map<uint64_t, Running> sessions_;
  uint64_t next_id_ = 1;
  UidLimits memory_{0, 0};
};

/// True while /proc/PID exists and is not a zombie.
bool process_alive(uint32_t pid);

}  // namespace scorch
