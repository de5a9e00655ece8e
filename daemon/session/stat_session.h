#pragma once
/// The counting measure (scorch stat, scorch llc): exact counts of perf events per traced
/// process, or over every CPU (probes/counter_probe). No BPF program: the kernel counts per
/// thread and inherits the counters into threads created later.

#include <memory>
#include <vector>

#include "probes/counter_probe.h"
#include "proto/stat_options.h"
#include "session/measure.h"

namespace scorch {

class StatSession;

class StatMeasure : public Measure {
 public:
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  /// Opens the counters of threads that appeared since (see CounterGroup::add_new_threads).
  void drain() override;

 private:
  friend class StatSession;
  std::vector<StatSession*> sessions_;
};

}  // namespace scorch
