#pragma once
/// The wall-clock measure: on-CPU samples weighted by their period plus off-CPU time, in one
/// profile of time. It runs a session of each of those two measures into one stack table.

#include "proto/wall_options.h"
#include "session/cpu_session.h"
#include "session/offcpu_session.h"

namespace scorch {

class WallMeasure : public Measure {
 public:
  WallMeasure(CpuMeasure& cpu, OffCpuMeasure& offcpu) : cpu_(cpu), offcpu_(offcpu) {}
  /// Needs the on-CPU and off-CPU measures loaded before it.
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  void drain() override {}  // its parts are fed by their own measures

 private:
  CpuMeasure& cpu_;
  OffCpuMeasure& offcpu_;
};

}  // namespace scorch
