#pragma once
/// The counting measure (scorch stat, scorch llc): exact counts of perf events per traced process
/// from inherited per-thread counters (probes/counter_probe), or per process over the whole
/// system and per thread from per-CPU counters charged at each context switch by a BPF program
/// (probes/switch_counters, bpf/stat.bpf.c).

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
  /// Updates each session's progress (its events counted so far).
  void drain() override;

 private:
  friend class StatSession;
  std::vector<StatSession*> sessions_;
};

}  // namespace scorch
