// The registry: every measure scorchd knows, in load order. Adding a measure adds a line here.
#include "proto/measure_options.h"
#include "session/cpu_session.h"
#include "session/locks_session.h"
#include "session/malloc_session.h"
#include "session/measure.h"
#include "session/offcpu_session.h"
#include "session/stat_session.h"
#include "session/wall_session.h"

namespace scorch {

std::span<const MeasureDef> registry() {
  static const MeasureDef kMeasures[] = {
      {proto::kCpuMeasure, "cpu", "samples", false, true, "profile", CpuMeasure::load},
      {proto::kOffCpuMeasure, "offcpu", "blocks", false, false, "profile", OffCpuMeasure::load},
      {proto::kWallMeasure, "wall", "samples and blocks", false, false, "profile", WallMeasure::load},
      {proto::kMallocMeasure, "malloc", "allocator calls", true, false, "trace allocations of", MallocMeasure::load},
      {proto::kLocksMeasure, "locks", "waits", false, false, "trace locks of", LocksMeasure::load},
      {proto::kStatMeasure, "stat", "events", false, false, "count events of", StatMeasure::load},
  };
  return kMeasures;
}

}  // namespace scorch
