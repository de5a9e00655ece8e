#pragma once
/// Counting perf events (scorch stat, scorch llc): exact counts per process from per-thread
/// counters the kernel inherits into threads created later (as `perf stat -p`); and whether an
/// event can be opened on this machine at all. Counts per task over the whole system (or per
/// thread) are probes/switch_counters.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "proto/perf_events.h"

namespace scorch {

/// Opens ev as a counter (pid/cpu as perf_event_open(2); value, time enabled and time running
/// on read); -1 with errno on failure.
int open_counting_event(const proto::PerfEventDef& ev, int pid, int cpu, bool inherit);
/// Why opening ev failed with err, as the user should read it (what: "count page-faults"), and
/// what to do.
Error counter_open_error(const proto::PerfEventDef& ev, const std::string& what, int err);

/// Whether this machine can count ev: opens it on the calling thread. The error names the event
/// (what: "count <name>") and says why: no hardware PMU, not permitted, not supported.
Result<void> check_perf_event(const proto::PerfEventDef& ev, const std::string& what);

/// One event's count so far, with the time it was enabled and running (they differ when the
/// kernel multiplexes more hardware events than the PMU has counters).
struct CounterReading {
  uint64_t value = 0, enabled_ns = 0, running_ns = 0;
  /// value scaled to the whole enabled time (as perf stat does); value when never multiplexed.
  uint64_t scaled() const;
};

class CounterGroup {
 public:
  /// Starts counting events for tgid: every thread now, and every thread created later (by
  /// inheritance). what names the action in errors ("count page-faults").
  static Result<CounterGroup> open(uint32_t tgid, std::vector<proto::PerfEventDef> events, const std::string& what);
  /// Per event (in the order given to open), summed over threads.
  std::vector<CounterReading> read() const;
  uint32_t target() const { return tgid_; }

 private:
  uint32_t tgid_ = 0;
  std::vector<proto::PerfEventDef> events_;
  struct Fd {
    size_t event = 0;
    UniqueFd fd;
  };
  std::vector<Fd> fds_;  // one per event and thread
  /// Opens every event on thread tid; a thread that exited meanwhile is skipped.
  Result<void> open_thread(uint32_t tid);
};

}  // namespace scorch
