#pragma once
/// The measure interface: what the session layer knows of a measure.
///
/// A measure is its BPF program (bpf/<m>.bpf.c + <m>.h), its probe (probes/<m>_probe.*), its
/// options on the wire (proto/<m>_options.*), its session (session/<m>_session.*) and its CLI
/// command (cli/cmd_<m>.cpp). The registry (registry.cpp) lists the definitions; Profiler loads
/// each, runs sessions through this interface and knows no measure by name.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "model/profile.h"
#include "probes/features.h"
#include "session/session.h"

namespace scorch {

class Symbolizer;
class UnwindMaps;

/// One running session as its measure sees it: created by Measure::start (after which the
/// kernel records for it), fed by Measure::drain, destroyed when the session ends (it then lets
/// go of everything it attached).
class MeasureSession {
 public:
  virtual ~MeasureSession() = default;
  /// How it measures, for status: "99 Hz", "count mode".
  virtual std::string detail() const = 0;
  /// pid is no longer traced (its credentials changed; Session::lost has it already): stop
  /// recording it, keeping what was recorded until now.
  virtual void lose(uint32_t /*pid*/) {}
  /// The session ends: called before the last drain (stop what must stop first).
  virtual void stopping() {}
  /// After the last drain: fill in the profile (unit, period, values, drops, notes; the stacks
  /// the session added are moved in by Profiler afterwards, unless the measure filled them).
  virtual void finish(Profile& p) = 0;
};

/// A loaded measure: its probe and the sessions it runs.
class Measure {
 public:
  virtual ~Measure() = default;
  /// Starts a session with its own options (as sent, still encoded: the measure validates
  /// them). core holds the targets and the common state; it outlives the returned session.
  virtual Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) = 0;
  /// Moves what the kernel aggregated into the sessions it belongs to (called periodically,
  /// before a session starts and before one ends). Reads the kernel even with no session, so
  /// nothing left over reaches the next one.
  virtual void drain() = 0;
  /// A traced process exec'd another program (its unwind tables and names are already reloaded).
  virtual void execed(uint32_t /*pid*/) {}
  /// Lines for scorch status: what the program counted since it was loaded.
  virtual std::vector<std::string> status() const { return {}; }
  /// Events seen and what was lost since load (status: "drops since start").
  virtual DropCounters totals() const { return {}; }
};

/// What a measure's load() may use.
struct MeasureEnv {
  const Features& features;
  UnwindMaps* unwind_maps;  // null: no table unwinding (tests)
  Symbolizer& symbolizer;
  /// Daemon settings by name ("offcpu-hook": "auto"), as given on scorchd's command line.
  const std::map<std::string, std::string>& settings;
  /// Measures loaded before this one (registry order), by name; null when missing or unavailable.
  std::function<Measure*(std::string_view name)> loaded;
};

/// A definition in the registry.
struct MeasureDef {
  uint8_t id = 0;                // on the wire (proto/measure_options.h)
  std::string name;              // CLI and profile name: "cpu", "offcpu", "malloc"
  std::string events;            // what its sessions count for progress and status: "samples", "blocks"
  bool needs_pids = false;       // attaches to processes only (no whole-system session)
  bool required = false;         // scorchd does not start without it
  std::string verb = "profile";  // in errors: "failed to <verb> PID 12"
  /// Loads the measure (its BPF program); an error keeps errno and hint.
  std::function<Result<std::unique_ptr<Measure>>(MeasureEnv& env)> load;
};

/// Every measure scorchd knows, in load order (a measure may use those before it).
std::span<const MeasureDef> registry();

}  // namespace scorch
